"""Decoders found missing by the wide strace differential (tests/guests/trace_zoo.c):
fd-creating calls' own flag names, prctl options, poll/pselect6 results,
socket options, mknod modes, priorities, personality."""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import DIRFD, FD, INT, Arg, Env, Ret, Spec, hexc, ptr_str, s32, sc, show_fd
from umlpy.vkernel.decode.net import DOMAIN, LEVEL, _type
from umlpy.vkernel.decode.strings import PATH, cstring
from umlpy.vkernel.decode.structs import timespec_str


class EFD(IntFlag):
    EFD_SEMAPHORE = 1
    EFD_NONBLOCK = 0o4000
    EFD_CLOEXEC = 0o2000000


class EPOLL(IntFlag):
    EPOLL_CLOEXEC = 0o2000000


class INF(IntFlag):
    IN_NONBLOCK = 0o4000
    IN_CLOEXEC = 0o2000000


class TFD(IntFlag):
    TFD_NONBLOCK = 0o4000
    TFD_CLOEXEC = 0o2000000


class Clock(IntEnum):
    CLOCK_REALTIME = 0
    CLOCK_MONOTONIC = 1
    CLOCK_PROCESS_CPUTIME_ID = 2
    CLOCK_THREAD_CPUTIME_ID = 3
    CLOCK_MONOTONIC_RAW = 4
    CLOCK_REALTIME_COARSE = 5
    CLOCK_MONOTONIC_COARSE = 6
    CLOCK_BOOTTIME = 7
    CLOCK_REALTIME_ALARM = 8
    CLOCK_BOOTTIME_ALARM = 9
    CLOCK_TAI = 11


class Which(IntEnum):
    PRIO_PROCESS = 0
    PRIO_PGRP = 1
    PRIO_USER = 2


class SO(IntEnum):
    SO_DEBUG = 1
    SO_REUSEADDR = 2
    SO_TYPE = 3
    SO_ERROR = 4
    SO_DONTROUTE = 5
    SO_BROADCAST = 6
    SO_SNDBUF = 7
    SO_RCVBUF = 8
    SO_KEEPALIVE = 9
    SO_OOBINLINE = 10
    SO_NO_CHECK = 11
    SO_PRIORITY = 12
    SO_LINGER = 13
    SO_BSDCOMPAT = 14
    SO_REUSEPORT = 15
    SO_PASSCRED = 16
    SO_PEERCRED = 17
    SO_RCVLOWAT = 18
    SO_SNDLOWAT = 19
    SO_BINDTODEVICE = 25
    SO_ACCEPTCONN = 30
    SO_SNDBUFFORCE = 32
    SO_RCVBUFFORCE = 33
    SO_PASSSEC = 34
    SO_MARK = 36
    SO_PROTOCOL = 38
    SO_DOMAIN = 39
    SO_COOKIE = 57


class TCP(IntEnum):
    TCP_NODELAY = 1
    TCP_MAXSEG = 2
    TCP_CORK = 3
    TCP_KEEPIDLE = 4
    TCP_KEEPINTVL = 5
    TCP_KEEPCNT = 6
    TCP_INFO = 11
    TCP_QUICKACK = 12
    TCP_CONGESTION = 13


def _flagarg(cls: type[IntFlag]) -> Arg:
    return Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, cls))


def _optname(e: Env, i: int) -> str:
    level, name = s32(e.args[i - 1]), s32(e.args[i])
    table: type[IntEnum] | None = SO if level == 1 else TCP if level == 6 else None
    return F.xval(name, table) if table is not None else str(name)


def _optval_in(e: Env, i: int) -> str:
    """setsockopt's value: an int as [N], else the pointer."""
    if s32(e.args[i + 1]) == 4:
        data = e.read(e.args[i], 4)
        if data is not None:
            return f"[{struct.unpack('<i', data)[0]}]"
    return ptr_str(e.args[i])


def _optval_out(e: Env, i: int) -> str:
    data = e.read(e.args[i + 1], 4)
    n = struct.unpack("<i", data)[0] if data is not None else 0
    if n == 4:
        val = e.read(e.args[i], 4)
        if val is not None:
            return f"[{struct.unpack('<i', val)[0]}]"
    return ptr_str(e.args[i])


def _optlen_out(e: Env, i: int) -> str:
    data = e.read(e.args[i], 4)
    return ptr_str(e.args[i]) if data is None else f"[{struct.unpack('<i', data)[0]}]"


def _fd_pair_out(e: Env, i: int) -> str:
    data = e.read(e.args[i], 8)
    if data is None:
        return ptr_str(e.args[i])
    a, b = struct.unpack("<ii", data)
    return f"[{show_fd(e, a)}, {show_fd(e, b)}]"


_S_IFMT = {0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o60000: "S_IFBLK",
           0o40000: "S_IFDIR", 0o20000: "S_IFCHR", 0o10000: "S_IFIFO"}


def _node_mode(e: Env, i: int) -> str:
    v = e.args[i] & 0xFFFFFFFF
    kind = _S_IFMT.get(v & 0o170000)
    perm = f"0{v & 0o7777:o}" if v & 0o7777 else "000"
    return f"{kind}|{perm}" if kind else perm


def _node_dev(mode_arg: int) -> Arg:
    """mknod's dev, printed only for device nodes (as strace)."""

    def fmt(e: Env, i: int) -> str | None:
        if e.args[mode_arg] & 0o170000 not in (0o20000, 0o60000):
            return None
        dev = e.args[i]
        major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
        minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
        return f"makedev({hexc(major)}, {hexc(minor)})"

    return Arg(fmt)


def _poll_ret(e: Env, ret: int) -> str:
    if ret == 0:
        return "0 (Timeout)"
    n = e.args[1] & 0xFFFFFFFF
    data = e.read(e.args[0], 8 * min(n, 64))
    if data is None or n > 64:
        return str(ret)
    from umlpy.vkernel.decode.fs import POLL

    items = []
    for k in range(n):
        fd, _ev, rev = struct.unpack_from("<ihh", data, 8 * k)
        if rev:
            items.append(f"{{fd={show_fd(e, fd)}, revents={F.flags(rev & 0xFFFF, POLL)}}}")
    return f"{ret} ([{', '.join(items)}])"


def _fdset(e: Env, addr: int, nfds: int) -> str:
    if addr == 0:
        return "NULL"
    nbytes = ((nfds + 63) // 64) * 8
    data = e.read(addr, nbytes) if 0 < nfds <= 1024 else None
    if data is None:
        return ptr_str(addr)
    bits = int.from_bytes(data, "little")
    return "[" + " ".join(str(fd) for fd in range(nfds) if bits >> fd & 1) + "]"


def _fdset_arg(e: Env, i: int) -> str:
    return _fdset(e, e.args[i], s32(e.args[0]))


def _select_ret(e: Env, ret: int) -> str:
    if ret == 0:
        return "0 (Timeout)"
    nfds = s32(e.args[0])
    parts = []
    for label, i in (("in", 1), ("out", 2), ("except", 3)):
        if e.args[i]:
            s = _fdset(e, e.args[i], nfds)
            if s not in ("[]",) and s.startswith("["):
                parts.append(f"{label} {s}")
    if e.args[4]:
        parts.append(f"left {timespec_str(e, e.args[4])}")
    return f"{ret} ({', '.join(parts)})"


def _sigmask6(e: Env, i: int) -> str:
    """pselect6's last argument: {sigset, size} or NULL."""
    return "NULL" if e.args[i] == 0 else ptr_str(e.args[i])


_PR = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
       15: "PR_SET_NAME", 16: "PR_GET_NAME", 38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS",
       22: "PR_SET_SECCOMP", 21: "PR_GET_SECCOMP", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER"}
_DUMPABLE = {0: "SUID_DUMP_DISABLE", 1: "SUID_DUMP_USER", 2: "SUID_DUMP_ROOT"}


def _prctl_args(e: Env, i: int) -> str:
    op = s32(e.args[0])
    name = _PR.get(op, str(op))
    a = e.args
    if op in (3, 39, 37, 21):  # getters without arguments
        return name
    if op == 4:
        return f"{name}, {_DUMPABLE.get(a[1] & 0xFFFFFFFF, str(a[1]))}"
    if op == 1:
        return f"{name}, {F.signame(s32(a[1])) if a[1] else '0'}"
    if op == 15:
        return f"{name}, {cstring(e, a[1], limit=16)}"
    if op == 16:
        return f"{name}, {ptr_str(a[1])}"
    if op in (38, 36):
        return f"{name}, {a[1]}, {a[2]}, {a[3]}, {a[4]}" if op == 38 else f"{name}, {a[1]}"
    return ", ".join([name] + [hexc(x) for x in a[1:5]])


def _prctl_ret(e: Env, ret: int) -> str:
    if s32(e.args[0]) == 3:
        return f"{ret} ({_DUMPABLE.get(ret, '?')})"
    return str(ret)


_PER = {0: "PER_LINUX", 0x0008: "PER_LINUX32", 0x0040000: "PER_LINUX|ADDR_NO_RANDOMIZE"}


def _personality_ret(e: Env, ret: int) -> str:
    name = _PER.get(ret)
    return f"{ret:#x} ({name})" if name and ret else f"{ret} ({name})" if name else hexc(ret)


SPECS: dict[str, Spec] = {
    "eventfd2": sc(Arg(lambda e, i: str(e.args[i] & 0xFFFFFFFF)), _flagarg(EFD), ret=Ret.FD),
    "epoll_create1": sc(_flagarg(EPOLL), ret=Ret.FD),
    "inotify_init1": sc(_flagarg(INF), ret=Ret.FD),
    "timerfd_create": sc(Arg(lambda e, i: F.xval(s32(e.args[i]), Clock)), _flagarg(TFD), ret=Ret.FD),
    "getpriority": sc(Arg(lambda e, i: F.xval(s32(e.args[i]), Which)), INT),
    "setpriority": sc(Arg(lambda e, i: F.xval(s32(e.args[i]), Which)), INT, INT),
    "mknod": sc(PATH, Arg(_node_mode), _node_dev(1)),
    "mknodat": sc(DIRFD, PATH, Arg(_node_mode), _node_dev(2)),
    "personality": sc(Arg(lambda e, i: hexc(e.args[i] & 0xFFFFFFFF)), ret_fmt=_personality_ret),
    "prctl": Spec((Arg(_prctl_args),), Ret.DEC, _prctl_ret),
    "setsockopt": sc(FD, LEVEL, Arg(_optname), Arg(_optval_in), INT),
    "getsockopt": sc(FD, LEVEL, Arg(_optname), Arg(_optval_out, out=True), Arg(_optlen_out, out=True)),
    "socketpair": sc(DOMAIN, Arg(_type), INT, Arg(_fd_pair_out, out=True)),
    "pselect6": sc(INT, Arg(_fdset_arg), Arg(_fdset_arg), Arg(_fdset_arg),
                   Arg(lambda e, i: "NULL" if e.args[i] == 0 else timespec_str(e, e.args[i])), Arg(_sigmask6),
                   ret_fmt=_select_ret),
}
"""Merged after the family modules: these win."""


def poll_spec(base: Spec) -> Spec:
    """poll with strace's result annotation ``= 1 ([{fd=3, revents=POLLIN}])``."""
    return Spec(base.args, base.ret, _poll_ret)
