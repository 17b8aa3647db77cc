"""Decoders for the process family (execve, clone, wait4, exit) and per-task setup calls."""

from __future__ import annotations

import struct

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import (
    DIRFD,
    HEX,
    INT,
    PTR,
    UINT,
    ULONG,
    Arg,
    Env,
    Ret,
    Spec,
    hexc,
    no_reads,
    ptr_str,
    s32,
    s64,
    sc,
)
from umlpy.vkernel.decode.strings import PATH, counted, cstring
from umlpy.vkernel.decode.structs import RLIMIT_IN, RLIMIT_OUT, TIMESPEC_IN, TIMESPEC_OUT, wait_status

_MAX_ARGV = 4096


def _ptr_array(e: Env, addr: int) -> list[int] | None:
    out: list[int] = []
    while len(out) < _MAX_ARGV:
        data = e.read(addr + 8 * len(out), 8)
        if data is None:
            return None
        (p,) = struct.unpack("<Q", data)
        if p == 0:
            return out
        out.append(p)
    return out


def _argv(e: Env, i: int) -> str:
    a = e.args[i]
    if a == 0:
        return "NULL"
    ptrs = _ptr_array(e, a)
    if ptrs is None:
        return ptr_str(a)
    return "[" + ", ".join(cstring(e, p) for p in ptrs) + "]"


def _envp(e: Env, i: int) -> str:
    a = e.args[i]
    if a == 0:
        return "NULL"
    ptrs = _ptr_array(e, a)
    if ptrs is None:
        return ptr_str(a)
    if e.opts.verbose:
        return "[" + ", ".join(cstring(e, p) for p in ptrs) + "]"
    n = len(ptrs)
    return f"{a:#x} /* {n} var{'s' if n != 1 else ''} */"


def clone_flags(v: int) -> str:
    v &= 0xFFFFFFFFFFFFFFFF
    sig = v & 0xFF
    rest = v & ~0xFF
    parts = [F.flags(rest, F.CLONE)] if rest else []
    if sig:
        parts.append(F.signame(sig))
    return "|".join(parts) if parts else "0"


def _clone_head(e: Env, i: int) -> str:
    fl, stack = e.args[0], e.args[1]
    return f"child_stack={ptr_str(stack)}, flags={clone_flags(fl)}"


def _clone_tail(e: Env, *, out: bool) -> str | None:
    """parent_tid is written by the kernel: with CLONE_PARENT_SETTID the tail waits for exit."""
    fl, _stack, ptid, ctid, tls = e.args[:5]
    if bool(fl & F.CLONE.CLONE_PARENT_SETTID) != out:
        return None
    parts = []
    if fl & F.CLONE.CLONE_PARENT_SETTID:
        data = e.read(ptid, 4) if e.ret is not None and s64(e.ret) > 0 else None
        parts.append(f"parent_tid=[{struct.unpack('<i', data)[0]}]" if data else f"parent_tid={ptr_str(ptid)}")
    if fl & F.CLONE.CLONE_SETTLS:
        parts.append(f"tls={ptr_str(tls)}")
    if fl & (F.CLONE.CLONE_CHILD_SETTID | F.CLONE.CLONE_CHILD_CLEARTID):
        parts.append(f"child_tidptr={ptr_str(ctid)}")
    return ", ".join(parts) if parts else None


def _wait_status_out(e: Env, i: int) -> str:
    a = e.args[i]
    if a == 0:
        return "NULL"
    if e.ret is not None and s64(e.ret) <= 0:
        return ptr_str(a)
    data = e.read(a, 4)
    return ptr_str(a) if data is None else wait_status(struct.unpack("<i", data)[0])


WAIT_OPTIONS = Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.WAIT))
_WAITID_TYPES = {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}


def _arch_prctl_addr(e: Env, i: int) -> str:
    if e.args[0] in (F.ArchPrctl.ARCH_GET_FS, F.ArchPrctl.ARCH_GET_GS):
        data = e.read(e.args[i], 8) if e.ret == 0 else None
        return f"[{struct.unpack('<Q', data)[0]:#x}]" if data else ptr_str(e.args[i])
    return hexc(e.args[i])


def _getrandom_out(e: Env, i: int) -> str:
    return counted(e, e.args[i], s64(e.ret or 0), force_hex=True)


def _futex_args(e: Env, i: int) -> str | None:
    """futex's tail depends on the operation (strace's futex.c)."""
    cmd = e.args[1] & 0x7F
    val = str(s32(e.args[2]))
    timeout = "NULL" if e.args[3] == 0 else TIMESPEC_IN.fmt(e, 3)
    match cmd:
        case 0:  # WAIT
            return f"{val}, {timeout}"
        case 9:  # WAIT_BITSET
            bits = e.args[5] & 0xFFFFFFFF
            b = "FUTEX_BITSET_MATCH_ANY" if bits == 0xFFFFFFFF else f"{bits:#x}"
            return f"{val}, {timeout}, {b}"
        case 10:  # WAKE_BITSET
            bits = e.args[5] & 0xFFFFFFFF
            b = "FUTEX_BITSET_MATCH_ANY" if bits == 0xFFFFFFFF else f"{bits:#x}"
            return f"{val}, {b}"
        case 3 | 4:  # REQUEUE, CMP_REQUEUE
            tail = f", {s32(e.args[5])}" if cmd == 4 else ""
            return f"{val}, {e.args[3] & 0xFFFFFFFF}, {ptr_str(e.args[4])}{tail}"
        case 6 | 7 | 8 | 13:  # LOCK_PI, UNLOCK_PI, TRYLOCK_PI, LOCK_PI2
            return timeout if cmd in (6, 13) else None
        case _:
            return val


def _uname_out(e: Env, i: int) -> str:
    data = e.read(e.args[i], 65 * 6)
    if data is None:
        return ptr_str(e.args[i])
    f = [data[65 * k: 65 * (k + 1)].split(b"\0")[0].decode("latin-1") for k in range(6)]
    if e.opts.verbose:
        names = ("sysname", "nodename", "release", "version", "machine", "domainname")
        return "{" + ", ".join(f'{n}="{v}"' for n, v in zip(names, f, strict=True)) + "}"
    return f'{{sysname="{f[0]}", nodename="{f[1]}", ...}}'


_CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID", 3: "CLOCK_THREAD_CPUTIME_ID",
           4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME"}
CLOCKID = Arg(lambda e, i: _CLOCKS.get(s32(e.args[i]), str(s32(e.args[i]))))
RESOURCE = Arg(lambda e, i: F.xval(s32(e.args[i]), F.RLIMIT), reads=no_reads)

SPECS: dict[str, Spec] = {
    "execve": sc(PATH, Arg(_argv), Arg(_envp)),
    "execveat": sc(DIRFD, PATH, Arg(_argv), Arg(_envp), Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.AT))),
    "clone": sc(Arg(_clone_head), Arg(lambda e, i: _clone_tail(e, out=False)),
                Arg(lambda e, i: _clone_tail(e, out=True), out=True, always=True)),
    "fork": sc(),
    "vfork": sc(),
    "exit": sc(INT, ret=Ret.NONE),
    "exit_group": sc(INT, ret=Ret.NONE),
    "wait4": sc(INT, Arg(_wait_status_out, out=True, always=True), WAIT_OPTIONS, PTR),
    "waitid": sc(Arg(lambda e, i: _WAITID_TYPES.get(s32(e.args[i]), str(s32(e.args[i])))), INT, PTR,
                 WAIT_OPTIONS, PTR),
    "arch_prctl": sc(Arg(lambda e, i: F.xval(s32(e.args[i]), F.ArchPrctl, hexc(e.args[i]))),
                     Arg(_arch_prctl_addr, out=True, always=True)),
    "set_tid_address": sc(PTR),
    "set_robust_list": sc(PTR, ULONG),
    "rseq": sc(PTR, HEX, INT, HEX),
    "prlimit64": sc(INT, RESOURCE, RLIMIT_IN, RLIMIT_OUT),
    "getrlimit": sc(RESOURCE, RLIMIT_OUT),
    "setrlimit": sc(RESOURCE, RLIMIT_IN),
    "getrandom": sc(Arg(_getrandom_out, out=True), ULONG,
                    Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.GRND))),
    "futex": sc(PTR, Arg(lambda e, i: F.futex_op(e.args[i])), Arg(_futex_args)),
    "uname": sc(Arg(_uname_out, out=True)),
    "clock_gettime": sc(CLOCKID, TIMESPEC_OUT),
    "clock_getres": sc(CLOCKID, TIMESPEC_OUT),
    "nanosleep": sc(TIMESPEC_IN, PTR),
    "clock_nanosleep": sc(CLOCKID, Arg(lambda e, i: "TIMER_ABSTIME" if e.args[i] & 1 else "0"), TIMESPEC_IN, PTR),
    "getpid": sc(), "getppid": sc(), "gettid": sc(), "getuid": sc(), "geteuid": sc(), "getgid": sc(),
    "getegid": sc(), "getpgrp": sc(), "setsid": sc(), "sched_yield": sc(), "sync": sc(), "inotify_init": sc(),
    "setuid": sc(INT), "setgid": sc(INT), "getpgid": sc(INT), "getsid": sc(INT), "setpgid": sc(INT, INT),
    "alarm": sc(UINT),
    "sysinfo": sc(PTR),
}
