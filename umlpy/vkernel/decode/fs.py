"""Decoders for the file and descriptor families (open, read, stat, dirs …)."""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import (
    DIRFD,
    FD,
    HEX,
    INT,
    LONG,
    OCT,
    PTR,
    UINT,
    ULONG,
    Arg,
    Env,
    Ret,
    Spec,
    no_reads,
    ptr_str,
    s32,
    s64,
    sc,
    show_fd,
)
from umlpy.vkernel.decode.strings import BUF_OUT, PATH, buf_in, cstring
from umlpy.vkernel.decode.structs import STAT_OUT, STATX_OUT, iovec_in, iovec_out, timespec_str

OPEN_FLAGS = Arg(lambda e, i: F.open_flags(e.args[i]), reads=no_reads)


def _mode_if_creat(flags_arg: int) -> Arg:
    def fmt(e: Env, i: int) -> str | None:
        fl = e.args[flags_arg]
        if fl & F.O.O_CREAT or fl & F.O.O_TMPFILE == F.O.O_TMPFILE:
            v = e.args[i] & 0o7777
            return f"0{v:o}" if v else "000"
        return None

    return Arg(fmt, reads=no_reads)


def _flagarg(cls: type[IntFlag], zero: str = "0") -> Arg:
    return Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, cls, zero), reads=no_reads)


def _xvalarg(cls: type[IntEnum]) -> Arg:
    return Arg(lambda e, i: F.xval(s32(e.args[i]), cls), reads=no_reads)


AT_FLAGS = _flagarg(F.AT)
FD_FLAGS = _flagarg(F.FdFlags)
ACCESS_MODE = _flagarg(F.Access, "F_OK")


class Rename(IntFlag):
    RENAME_NOREPLACE = 1
    RENAME_EXCHANGE = 2
    RENAME_WHITEOUT = 4


class Lock(IntFlag):
    LOCK_SH = 1
    LOCK_EX = 2
    LOCK_NB = 4
    LOCK_UN = 8


def _getdents_out(e: Env, i: int) -> str:
    n = s64(e.ret or 0)
    data = e.read(e.args[i], n) if n > 0 else b""
    count = 0
    off = 0
    while data is not None and off + 19 <= len(data):
        (reclen,) = struct.unpack_from("<H", data, off + 16)
        if reclen == 0:
            break
        off += reclen
        count += 1
    return f"{ptr_str(e.args[i])} /* {count} entries */"


def _getdents_reads(e: Env, i: int) -> None:
    n = s64(e.ret or 0)
    if n > 0:
        e.read(e.args[i], n)


_GETDENTS_OUT = Arg(_getdents_out, out=True, reads=_getdents_reads)


def _pipe_out(e: Env, i: int) -> str:
    data = e.read(e.args[i], 8)
    if data is None:
        return ptr_str(e.args[i])
    r, w = struct.unpack("<ii", data)
    return f"[{show_fd(e, r)}, {show_fd(e, w)}]"


def _off_ptr(e: Env, i: int) -> str:
    if e.args[i] == 0:
        return "NULL"
    data = e.read(e.args[i], 8)
    return ptr_str(e.args[i]) if data is None else f"[{struct.unpack('<q', data)[0]}]"


def _getcwd_out(e: Env, i: int) -> str:
    return cstring(e, e.args[i], 4096)


def _utimes(e: Env, i: int) -> str:
    a = e.args[i]
    if a == 0:
        return "NULL"
    data = e.read(a, 32)
    if data is None:
        return ptr_str(a)
    parts = []
    for k in range(2):
        _sec, nsec = struct.unpack_from("<qq", data, 16 * k)
        special = {0x3FFFFFFF: "UTIME_NOW", 0x3FFFFFFE: "UTIME_OMIT"}.get(nsec)
        parts.append(special if special else timespec_str(e, a + 16 * k))
    return "[" + ", ".join(parts) + "]"


def _fcntl_arg(e: Env, i: int) -> str | None:
    cmd = s32(e.args[1])
    v = e.args[i]
    match cmd:
        case 1 | 3 | 9 | 11 | 1025 | 1032 | 1034:  # F_GET*: no argument
            return None
        case 2:
            return "FD_CLOEXEC" if v & 1 == 1 and v & 0xFFFFFFFF == 1 else str(s32(v))
        case 4:
            return F.open_flags(v)
        case 5 | 6 | 7:
            return ptr_str(v)
    return str(s32(v))


def _fcntl_ret(e: Env, ret: int) -> str:
    cmd = s32(e.args[1])
    if cmd == 1:
        return f"{ret:#x} (flags FD_CLOEXEC)" if ret == 1 else str(ret)
    if cmd == 3:
        return f"{ret:#x} (flags {F.open_flags(ret)})"
    if cmd in (0, 1030):
        return show_fd(e, ret)
    return str(ret)


def _ioctl_cmd(e: Env, i: int) -> str:
    return F.xval(e.args[i] & 0xFFFFFFFF, F.Ioctl, f"{e.args[i] & 0xFFFFFFFF:#x}")


def _ioctl_arg(e: Env, i: int) -> str | None:
    cmd = e.args[1] & 0xFFFFFFFF
    if cmd in (F.Ioctl.FIOCLEX, F.Ioctl.FIONCLEX, F.Ioctl.TIOCNOTTY):
        return None
    return ptr_str(e.args[i])


POLL = IntFlag(
    "POLL",
    [("POLLIN", 1), ("POLLPRI", 2), ("POLLOUT", 4), ("POLLERR", 8), ("POLLHUP", 0x10), ("POLLNVAL", 0x20),
     ("POLLRDNORM", 0x40), ("POLLRDBAND", 0x80), ("POLLWRNORM", 0x100), ("POLLWRBAND", 0x200),
     ("POLLMSG", 0x400), ("POLLRDHUP", 0x2000)],
)


def _pollfds(e: Env, i: int) -> str:
    n = e.args[i + 1] & 0xFFFFFFFF
    data = e.read(e.args[i], 8 * min(n, 64))
    if data is None or n > 64:
        return ptr_str(e.args[i])
    items = []
    for k in range(n):
        fd, ev, _rev = struct.unpack_from("<ihh", data, 8 * k)
        items.append(f"{{fd={show_fd(e, fd)}, events={F.flags(ev & 0xFFFF, POLL)}}}")
    return "[" + ", ".join(items) + "]"


def _poll_timeout(e: Env, i: int) -> str:
    return str(s32(e.args[i]))


_MODE = OCT
_PATH_MODE = (PATH, _MODE)

SPECS: dict[str, Spec] = {
    "read": sc(FD, BUF_OUT, ULONG),
    "write": sc(FD, buf_in(2), ULONG),
    "pread64": sc(FD, BUF_OUT, ULONG, LONG),
    "pwrite64": sc(FD, buf_in(2), ULONG, LONG),
    "readv": sc(FD, iovec_out(2), INT),
    "writev": sc(FD, iovec_in(2), INT),
    "preadv": sc(FD, iovec_out(2), INT, LONG),
    "pwritev": sc(FD, iovec_in(2), INT, LONG),
    "open": sc(PATH, OPEN_FLAGS, _mode_if_creat(1), ret=Ret.FD),
    "openat": sc(DIRFD, PATH, OPEN_FLAGS, _mode_if_creat(2), ret=Ret.FD),
    "creat": sc(PATH, _MODE, ret=Ret.FD),
    "close": sc(FD),
    "stat": sc(PATH, STAT_OUT),
    "lstat": sc(PATH, STAT_OUT),
    "fstat": sc(FD, STAT_OUT),
    "newfstatat": sc(DIRFD, PATH, STAT_OUT, AT_FLAGS),
    "statx": sc(DIRFD, PATH, Arg(lambda e, i: F.statx_at_flags(e.args[i] & 0xFFFFFFFF), reads=no_reads),
                Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.STATX), reads=no_reads), STATX_OUT),
    "access": sc(PATH, ACCESS_MODE),
    "faccessat": sc(DIRFD, PATH, ACCESS_MODE),
    "faccessat2": sc(DIRFD, PATH, ACCESS_MODE, _flagarg(F.AccessAT)),
    "lseek": sc(FD, LONG, _xvalarg(F.Whence)),
    "getdents64": sc(FD, _GETDENTS_OUT, UINT),
    "getdents": sc(FD, _GETDENTS_OUT, UINT),
    "ioctl": sc(FD, Arg(_ioctl_cmd, reads=no_reads), Arg(_ioctl_arg, reads=no_reads)),
    "fcntl": sc(FD, _xvalarg(F.Fcntl), Arg(_fcntl_arg, reads=no_reads), ret_fmt=_fcntl_ret, ret_fmt_regs=True),
    "dup": sc(FD, ret=Ret.FD),
    "dup2": sc(FD, FD, ret=Ret.FD),
    "dup3": sc(FD, FD, FD_FLAGS, ret=Ret.FD),
    "pipe": sc(Arg(_pipe_out, out=True)),
    "pipe2": sc(Arg(_pipe_out, out=True), FD_FLAGS),
    "chdir": sc(PATH),
    "fchdir": sc(FD),
    "getcwd": sc(Arg(_getcwd_out, out=True), ULONG),
    "mkdir": sc(*_PATH_MODE),
    "mkdirat": sc(DIRFD, *_PATH_MODE),
    "rmdir": sc(PATH),
    "unlink": sc(PATH),
    "unlinkat": sc(DIRFD, PATH, AT_FLAGS),
    "rename": sc(PATH, PATH),
    "renameat": sc(DIRFD, PATH, DIRFD, PATH),
    "renameat2": sc(DIRFD, PATH, DIRFD, PATH, _flagarg(Rename)),
    "link": sc(PATH, PATH),
    "linkat": sc(DIRFD, PATH, DIRFD, PATH, AT_FLAGS),
    "symlink": sc(PATH, PATH),
    "symlinkat": sc(PATH, DIRFD, PATH),
    "readlink": sc(PATH, BUF_OUT, ULONG),
    "readlinkat": sc(DIRFD, PATH, BUF_OUT, ULONG),
    "chmod": sc(*_PATH_MODE),
    "fchmod": sc(FD, _MODE),
    "fchmodat": sc(DIRFD, *_PATH_MODE),
    "chown": sc(PATH, INT, INT),
    "lchown": sc(PATH, INT, INT),
    "fchown": sc(FD, INT, INT),
    "fchownat": sc(DIRFD, PATH, INT, INT, AT_FLAGS),
    "truncate": sc(PATH, LONG),
    "ftruncate": sc(FD, LONG),
    "umask": sc(_MODE, ret=Ret.OCT),
    "utimensat": sc(DIRFD, PATH, Arg(_utimes), AT_FLAGS),
    "statfs": sc(PATH, Arg(lambda e, i: ptr_str(e.args[i]), out=True)),
    "fstatfs": sc(FD, Arg(lambda e, i: ptr_str(e.args[i]), out=True)),
    "fadvise64": sc(FD, LONG, LONG, _xvalarg(F.Fadv)),
    "fallocate": sc(FD, INT, LONG, LONG),
    "fsync": sc(FD),
    "fdatasync": sc(FD),
    "syncfs": sc(FD),
    "flock": sc(FD, _flagarg(Lock)),
    "sendfile": sc(FD, FD, Arg(_off_ptr), ULONG),
    "copy_file_range": sc(FD, Arg(_off_ptr), FD, Arg(_off_ptr), ULONG, UINT),
    "poll": sc(Arg(_pollfds), UINT, Arg(_poll_timeout)),
    "eventfd2": sc(UINT, FD_FLAGS, ret=Ret.FD),
    "epoll_create1": sc(FD_FLAGS, ret=Ret.FD),
    "inotify_init1": sc(FD_FLAGS, ret=Ret.FD),
    "memfd_create": sc(Arg(lambda e, i: cstring(e, e.args[i])), HEX, ret=Ret.FD),
    "close_range": sc(UINT, UINT, UINT),
    "readahead": sc(FD, LONG, ULONG),
    "mknod": sc(PATH, _MODE, HEX),
    "mknodat": sc(DIRFD, PATH, _MODE, HEX),
    "chroot": sc(PATH),
    "getxattr": sc(PATH, Arg(lambda e, i: cstring(e, e.args[i])), PTR, ULONG),
    "lgetxattr": sc(PATH, Arg(lambda e, i: cstring(e, e.args[i])), PTR, ULONG),
    "fgetxattr": sc(FD, Arg(lambda e, i: cstring(e, e.args[i])), PTR, ULONG),
    "fsetxattr": sc(FD, Arg(lambda e, i: cstring(e, e.args[i])), PTR, ULONG, HEX),
}
