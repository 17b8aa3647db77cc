"""The decoder vocabulary: one call's environment, argument formatters, specs.

A syscall is described by a :class:`Spec`: one :class:`Arg` per argument and
how to print the return value.  An Arg is a formatter ``(env, i) -> str |
None`` (None: omit the argument, as strace omits open's mode without
O_CREAT) marked *in* (printed from the registers and memory at syscall
entry, before the kernel or an exec can change them) or *out* (printed at
exit, only if the call succeeded; a failed call shows the pointer, as strace
does).  Formatters never raise on bad guest memory: an unreadable pointer
prints as its address.

An Arg may also say which guest memory it reads (``reads``): a function
making exactly the formatter's ``env.read`` / ``env.cstring`` calls and no
formatting.  ``umlpy trace -o`` runs these at the stop to copy that memory,
and the formatter itself later, in another process, on the copy
(:mod:`umlpy.vkernel.decode.replay`).  ``reads=None``: not declared; the
call is then decoded at the stop.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Memory(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Options:
    """Formatting options: ``-s`` string size, ``-y``/``-yy`` fds, ``-x``/``-xx``, ``-v``."""

    strsize: int = 32
    decode_fds: int = 0  # 1: fd paths; 2: and socket endpoints, device numbers
    hex_strings: int = 0  # 1: non-printable as \x, 2: everything as \x
    verbose: bool = False  # -v: structures in full, no "..."


class Env:
    """One call as its formatters see it (mutable: ``ret`` is filled at exit)."""

    __slots__ = ("args", "mem", "opts", "ret", "sp", "tid")

    def __init__(self, mem: Memory, tid: int, args: tuple[int, ...], opts: Options, sp: int = 0) -> None:
        self.mem = mem
        self.tid = tid
        self.args = args
        self.ret: int | None = None
        self.opts = opts
        self.sp = sp  # stack pointer at entry, for calls that need it (rt_sigreturn)

    def read(self, addr: int, size: int) -> bytes | None:
        if addr == 0 or size < 0:
            return None
        try:
            return self.mem.read(addr, size)
        except (OSError, OverflowError, ValueError):
            return None

    def cstring(self, addr: int, limit: int) -> bytes | None:
        try:
            return self.mem.read_cstring(addr, limit)
        except OSError as e:
            if e.errno == _errno.ENAMETOOLONG:
                return self.read(addr, limit + 1)
            return None
        except (OverflowError, ValueError):
            return None


Fmt = Callable[[Env, int], "str | None"]
Reads = Callable[[Env, int], object]


def no_reads(e: Env, i: int) -> None:
    """The ``reads`` of a formatter that looks at registers only."""


@dataclass(frozen=True, slots=True)
class Arg:
    """``out``: printed at exit; ``always``: an out arg printed even when the call failed;
    ``reads``: the guest memory ``fmt`` reads (see the module docstring)."""

    fmt: Fmt
    out: bool = False
    always: bool = False
    reads: Reads | None = None


class Ret(Enum):
    DEC = "dec"  # signed decimal
    HEX = "hex"  # addresses (mmap, brk)
    OCT = "oct"  # umask
    FD = "fd"  # decorated with its path under -y
    NONE = "none"  # never returns (exit, exit_group): "= ?"


RetFmt = Callable[[Env, int], str]


@dataclass(frozen=True, slots=True)
class Spec:
    """How to print one syscall; ``ret_fmt`` decorates a successful return (fcntl F_GETFL);
    ``ret_fmt_regs``: it looks at the registers and the return value only, no guest memory."""

    args: tuple[Arg, ...]
    ret: Ret = Ret.DEC
    ret_fmt: RetFmt | None = None
    ret_fmt_regs: bool = False


def sc(*args: Arg, ret: Ret = Ret.DEC, ret_fmt: RetFmt | None = None, ret_fmt_regs: bool = False) -> Spec:
    return Spec(tuple(args), ret, ret_fmt, ret_fmt_regs)


# --- integers ---------------------------------------------------------------
def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v


def ptr_str(v: int) -> str:
    return "NULL" if v == 0 else f"{v:#x}"


def i_int(e: Env, i: int) -> str:
    return str(s32(e.args[i]))


def i_uint(e: Env, i: int) -> str:
    return str(e.args[i] & 0xFFFFFFFF)


def i_long(e: Env, i: int) -> str:
    return str(s64(e.args[i]))


def i_ulong(e: Env, i: int) -> str:
    return str(e.args[i] & 0xFFFFFFFFFFFFFFFF)


def hexc(v: int) -> str:
    """C's ``%#lx``: 0 prints as ``0``."""
    return f"{v:#x}" if v else "0"


def i_hex(e: Env, i: int) -> str:
    return hexc(e.args[i])


def i_ptr(e: Env, i: int) -> str:
    return ptr_str(e.args[i])


def i_oct(e: Env, i: int) -> str:
    v = e.args[i] & 0xFFFFFFFF
    return f"0{v:o}" if v else "000"


def fd_path(tid: int, fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/{tid}/fd/{fd}")
    except OSError:
        return None


def show_fd(e: Env, fd: int) -> str:
    if e.opts.decode_fds and fd >= 0:
        p = fd_path(e.tid, fd)
        if p is not None:
            if e.opts.decode_fds >= 2:
                from umlpy.vkernel.decode.fdinfo import describe  # here: fdinfo -> strings -> base

                p = describe(e.tid, fd, p)
            return f"{fd}<{p}>"
    return str(fd)


def i_fd(e: Env, i: int) -> str:
    return show_fd(e, s32(e.args[i]))


def i_dirfd(e: Env, i: int) -> str:
    v = s32(e.args[i])
    return "AT_FDCWD" if v == -100 else show_fd(e, v)


# Helpers turning a plain formatter into an in/out Arg.
def IN(f: Fmt) -> Arg:
    """A formatter of the registers alone."""
    return Arg(f, reads=no_reads)


def OUT(f: Fmt) -> Arg:
    return Arg(f, out=True)


INT, UINT, LONG, ULONG, HEX, PTR, OCT, FD, DIRFD = (
    IN(i_int), IN(i_uint), IN(i_long), IN(i_ulong), IN(i_hex), IN(i_ptr), IN(i_oct), IN(i_fd), IN(i_dirfd)
)
