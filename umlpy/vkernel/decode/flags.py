"""Flag and constant tables (x86-64 values from the kernel's uapi headers).

Bit sets are ``IntFlag`` classes, printed ``A|B|0x40`` in definition order
(strace's xlat order: multi-bit members first where they contain others);
enumerated constants are ``IntEnum`` classes printed by name, or as a number
when unknown.  Signal and errno names follow strace (``SIGRTMIN`` is 32,
``SIGRT_1`` 33, …; errno text is glibc's strerror, plus the kernel-internal
ERESTART* codes a tracer can see).
"""

from __future__ import annotations

import errno as _errno
import os
from enum import IntEnum, IntFlag
from functools import cache


@cache
def _members(cls: type[IntFlag]) -> tuple[tuple[str, int], ...]:
    return tuple((name, int(m)) for name, m in cls.__members__.items() if int(m))


def flags(value: int, cls: type[IntFlag], zero: str = "0") -> str:
    """``value`` as ``NAME|NAME|0xrest``; ``zero`` when it is 0."""
    if value == 0:
        return zero
    parts = []
    rest = value
    for name, bit in _members(cls):
        if rest & bit == bit:
            parts.append(name)
            rest &= ~bit
    if rest:
        parts.append(f"{rest:#x}")
    return "|".join(parts)


def xval(value: int, cls: type[IntEnum], default: str | None = None) -> str:
    try:
        return cls(value).name
    except ValueError:
        return default if default is not None else str(value)


# --- files --------------------------------------------------------------------
class O(IntFlag):  # strace's xlat order (open_mode_flags.in)
    O_CREAT = 0o100
    O_EXCL = 0o200
    O_NOCTTY = 0o400
    O_TRUNC = 0o1000
    O_APPEND = 0o2000
    O_NONBLOCK = 0o4000
    O_SYNC = 0o4010000
    O_DSYNC = 0o10000
    O_DIRECT = 0o40000
    O_LARGEFILE = 0o100000
    O_NOFOLLOW = 0o400000
    O_NOATIME = 0o1000000
    O_CLOEXEC = 0o2000000
    O_PATH = 0o10000000
    O_TMPFILE = 0o20200000
    O_DIRECTORY = 0o200000
    FASYNC = 0o20000


_ACCMODE = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")


def open_flags(v: int) -> str:
    v &= 0xFFFFFFFF
    acc = _ACCMODE[v & 3]
    rest = v & ~3
    return acc if not rest else f"{acc}|{flags(rest, O)}"


class FdFlags(IntFlag):
    """Flags of pipe2, dup3, eventfd2, epoll_create1, inotify_init1, signalfd4, timerfd_create."""

    O_NONBLOCK = 0o4000
    O_CLOEXEC = 0o2000000


class AT(IntFlag):
    AT_SYMLINK_NOFOLLOW = 0x100
    AT_REMOVEDIR = 0x200
    AT_SYMLINK_FOLLOW = 0x400
    AT_NO_AUTOMOUNT = 0x800
    AT_EMPTY_PATH = 0x1000
    AT_STATX_FORCE_SYNC = 0x2000
    AT_STATX_DONT_SYNC = 0x4000
    AT_RECURSIVE = 0x8000


class AccessAT(IntFlag):
    AT_SYMLINK_NOFOLLOW = 0x100
    AT_EACCESS = 0x200
    AT_EMPTY_PATH = 0x1000


def statx_at_flags(v: int) -> str:
    sync = v & 0x6000
    head = {0: "AT_STATX_SYNC_AS_STAT", 0x2000: "AT_STATX_FORCE_SYNC", 0x4000: "AT_STATX_DONT_SYNC"}.get(sync)
    if head is None:
        return flags(v, AT)
    rest = v & ~0x6000
    return head if not rest else f"{head}|{flags(rest, AT)}"


class Access(IntFlag):
    R_OK = 4
    W_OK = 2
    X_OK = 1


class STATX(IntFlag):
    STATX_ALL = 0xFFF
    STATX_BASIC_STATS = 0x7FF
    STATX_TYPE = 0x1
    STATX_MODE = 0x2
    STATX_NLINK = 0x4
    STATX_UID = 0x8
    STATX_GID = 0x10
    STATX_ATIME = 0x20
    STATX_MTIME = 0x40
    STATX_CTIME = 0x80
    STATX_INO = 0x100
    STATX_SIZE = 0x200
    STATX_BLOCKS = 0x400
    STATX_BTIME = 0x800
    STATX_MNT_ID = 0x1000
    STATX_DIOALIGN = 0x2000
    STATX_MNT_ID_UNIQUE = 0x4000
    STATX_SUBVOL = 0x8000
    STATX_WRITE_ATOMIC = 0x10000
    STATX_DIO_READ_ALIGN = 0x20000


class STATX_ATTR(IntFlag):
    STATX_ATTR_COMPRESSED = 0x4
    STATX_ATTR_IMMUTABLE = 0x10
    STATX_ATTR_APPEND = 0x20
    STATX_ATTR_NODUMP = 0x40
    STATX_ATTR_ENCRYPTED = 0x800
    STATX_ATTR_AUTOMOUNT = 0x1000
    STATX_ATTR_MOUNT_ROOT = 0x2000
    STATX_ATTR_VERITY = 0x100000
    STATX_ATTR_DAX = 0x200000
    STATX_ATTR_WRITE_ATOMIC = 0x400000


_S_IFMT = {
    0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o060000: "S_IFBLK",
    0o040000: "S_IFDIR", 0o020000: "S_IFCHR", 0o010000: "S_IFIFO",
}


def file_mode(m: int) -> str:
    """st_mode as strace prints it: ``S_IFDIR|S_ISVTX|0777``."""
    parts = []
    fmt = m & 0o170000
    if fmt:
        parts.append(_S_IFMT.get(fmt, f"{fmt:#o}"))
    for bit, name in ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX")):
        if m & bit:
            parts.append(name)
    parts.append(f"{m & 0o777:#05o}".replace("0o", "0"))
    return "|".join(parts)


class Whence(IntEnum):
    SEEK_SET = 0
    SEEK_CUR = 1
    SEEK_END = 2
    SEEK_DATA = 3
    SEEK_HOLE = 4


class Fadv(IntEnum):
    POSIX_FADV_NORMAL = 0
    POSIX_FADV_RANDOM = 1
    POSIX_FADV_SEQUENTIAL = 2
    POSIX_FADV_WILLNEED = 3
    POSIX_FADV_DONTNEED = 4
    POSIX_FADV_NOREUSE = 5


class Fcntl(IntEnum):
    F_DUPFD = 0
    F_GETFD = 1
    F_SETFD = 2
    F_GETFL = 3
    F_SETFL = 4
    F_GETLK = 5
    F_SETLK = 6
    F_SETLKW = 7
    F_SETOWN = 8
    F_GETOWN = 9
    F_SETSIG = 10
    F_GETSIG = 11
    F_SETLEASE = 1024
    F_GETLEASE = 1025
    F_NOTIFY = 1026
    F_DUPFD_CLOEXEC = 1030
    F_SETPIPE_SZ = 1031
    F_GETPIPE_SZ = 1032
    F_ADD_SEALS = 1033
    F_GET_SEALS = 1034


class Ioctl(IntEnum):
    TCGETS = 0x5401
    TCSETS = 0x5402
    TCSETSW = 0x5403
    TCSETSF = 0x5404
    TIOCSCTTY = 0x540E
    TIOCGPGRP = 0x540F
    TIOCSPGRP = 0x5410
    TIOCGWINSZ = 0x5413
    TIOCSWINSZ = 0x5414
    FIONREAD = 0x541B
    TIOCNOTTY = 0x5422
    FIONBIO = 0x5421
    TIOCGPTN = 0x80045430
    TIOCSPTLCK = 0x40045431
    FIONCLEX = 0x5450
    FIOCLEX = 0x5451
    FIOASYNC = 0x5452


# --- memory -------------------------------------------------------------------
class PROT(IntFlag):
    PROT_READ = 0x1
    PROT_WRITE = 0x2
    PROT_EXEC = 0x4
    PROT_SEM = 0x8
    PROT_GROWSDOWN = 0x01000000
    PROT_GROWSUP = 0x02000000


class MAP(IntFlag):
    MAP_FIXED = 0x10
    MAP_ANONYMOUS = 0x20
    MAP_32BIT = 0x40
    MAP_GROWSDOWN = 0x100
    MAP_DENYWRITE = 0x800
    MAP_EXECUTABLE = 0x1000
    MAP_LOCKED = 0x2000
    MAP_NORESERVE = 0x4000
    MAP_POPULATE = 0x8000
    MAP_NONBLOCK = 0x10000
    MAP_STACK = 0x20000
    MAP_HUGETLB = 0x40000
    MAP_SYNC = 0x80000
    MAP_FIXED_NOREPLACE = 0x100000
    MAP_UNINITIALIZED = 0x4000000


_MAP_TYPE = {0: "0", 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}


def map_flags(v: int) -> str:
    v &= 0xFFFFFFFF
    head = _MAP_TYPE.get(v & 0xF, f"{v & 0xF:#x}")
    rest = v & ~0xF
    return head if not rest else f"{head}|{flags(rest, MAP)}"


class MREMAP(IntFlag):
    MREMAP_MAYMOVE = 1
    MREMAP_FIXED = 2
    MREMAP_DONTUNMAP = 4


class Madv(IntEnum):
    MADV_NORMAL = 0
    MADV_RANDOM = 1
    MADV_SEQUENTIAL = 2
    MADV_WILLNEED = 3
    MADV_DONTNEED = 4
    MADV_FREE = 8
    MADV_REMOVE = 9
    MADV_DONTFORK = 10
    MADV_DOFORK = 11
    MADV_MERGEABLE = 12
    MADV_UNMERGEABLE = 13
    MADV_HUGEPAGE = 14
    MADV_NOHUGEPAGE = 15
    MADV_DONTDUMP = 16
    MADV_DODUMP = 17
    MADV_WIPEONFORK = 18
    MADV_KEEPONFORK = 19
    MADV_COLD = 20
    MADV_PAGEOUT = 21
    MADV_POPULATE_READ = 22
    MADV_POPULATE_WRITE = 23
    MADV_DONTNEED_LOCKED = 24
    MADV_COLLAPSE = 25


# --- processes ----------------------------------------------------------------
class CLONE(IntFlag):
    CLONE_VM = 0x100
    CLONE_FS = 0x200
    CLONE_FILES = 0x400
    CLONE_SIGHAND = 0x800
    CLONE_PIDFD = 0x1000
    CLONE_PTRACE = 0x2000
    CLONE_VFORK = 0x4000
    CLONE_PARENT = 0x8000
    CLONE_THREAD = 0x10000
    CLONE_NEWNS = 0x20000
    CLONE_SYSVSEM = 0x40000
    CLONE_SETTLS = 0x80000
    CLONE_PARENT_SETTID = 0x100000
    CLONE_CHILD_CLEARTID = 0x200000
    CLONE_DETACHED = 0x400000
    CLONE_UNTRACED = 0x800000
    CLONE_CHILD_SETTID = 0x1000000
    CLONE_NEWCGROUP = 0x2000000
    CLONE_NEWUTS = 0x4000000
    CLONE_NEWIPC = 0x8000000
    CLONE_NEWUSER = 0x10000000
    CLONE_NEWPID = 0x20000000
    CLONE_NEWNET = 0x40000000
    CLONE_IO = 0x80000000


# Functional form: names starting with "__" would be mangled in a class body.
WAIT = IntFlag(
    "WAIT",
    [
        ("WNOHANG", 0x1), ("WUNTRACED", 0x2), ("WEXITED", 0x4), ("WCONTINUED", 0x8), ("WNOWAIT", 0x1000000),
        ("__WNOTHREAD", 0x20000000), ("__WALL", 0x40000000), ("__WCLONE", 0x80000000),
    ],
)


class ArchPrctl(IntEnum):
    ARCH_SET_GS = 0x1001
    ARCH_SET_FS = 0x1002
    ARCH_GET_FS = 0x1003
    ARCH_GET_GS = 0x1004
    ARCH_GET_CPUID = 0x1011
    ARCH_SET_CPUID = 0x1012
    ARCH_GET_XCOMP_SUPP = 0x1021
    ARCH_GET_XCOMP_PERM = 0x1022
    ARCH_REQ_XCOMP_PERM = 0x1023


class RLIMIT(IntEnum):
    RLIMIT_CPU = 0
    RLIMIT_FSIZE = 1
    RLIMIT_DATA = 2
    RLIMIT_STACK = 3
    RLIMIT_CORE = 4
    RLIMIT_RSS = 5
    RLIMIT_NPROC = 6
    RLIMIT_NOFILE = 7
    RLIMIT_MEMLOCK = 8
    RLIMIT_AS = 9
    RLIMIT_LOCKS = 10
    RLIMIT_SIGPENDING = 11
    RLIMIT_MSGQUEUE = 12
    RLIMIT_NICE = 13
    RLIMIT_RTPRIO = 14
    RLIMIT_RTTIME = 15


class GRND(IntFlag):
    GRND_NONBLOCK = 1
    GRND_RANDOM = 2
    GRND_INSECURE = 4


_FUTEX_OPS = (
    "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
    "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
    "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
)


def futex_op(v: int) -> str:
    v &= 0xFFFFFFFF
    cmd = v & 0x7F
    name = _FUTEX_OPS[cmd] if cmd < len(_FUTEX_OPS) else f"{cmd:#x}"
    if v & 0x80:
        name += "_PRIVATE"
    if v & 0x100:
        name += "|FUTEX_CLOCK_REALTIME"
    rest = v & ~0x1FF
    return f"{name}|{rest:#x}" if rest else name


# --- signals ------------------------------------------------------------------
_SIGNAMES = ["0", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS", "RTMIN"]


def signame_short(sig: int) -> str:
    """``CHLD``, ``RTMIN``, ``RT_3`` (as in strace's sigset lists)."""
    if 0 < sig < len(_SIGNAMES):
        return _SIGNAMES[sig]
    if 32 < sig <= 64:
        return f"RT_{sig - 32}"
    return str(sig)


def signame(sig: int) -> str:
    if 0 < sig <= 64:
        return "SIG" + signame_short(sig)
    return str(sig)


def sigset(mask: int, nbits: int = 64) -> str:
    """A signal mask as ``[INT TERM]``, or ``~[...]`` when more than half is set."""
    full = (1 << nbits) - 1
    mask &= full
    prefix = ""
    if mask.bit_count() > nbits // 2:
        prefix, mask = "~", ~mask & full
    names = [signame_short(b + 1) for b in range(nbits) if mask >> b & 1]
    return f"{prefix}[{' '.join(names)}]"


class SA(IntFlag):
    SA_RESTORER = 0x04000000
    SA_ONSTACK = 0x08000000
    SA_RESTART = 0x10000000
    SA_NODEFER = 0x40000000
    SA_RESETHAND = 0x80000000
    SA_SIGINFO = 0x4
    SA_NOCLDSTOP = 0x1
    SA_NOCLDWAIT = 0x2


class SigHow(IntEnum):
    SIG_BLOCK = 0
    SIG_UNBLOCK = 1
    SIG_SETMASK = 2


# --- errno --------------------------------------------------------------------
_KERNEL_ERRNO = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    515: ("ENOIOCTLCMD", "Unknown ioctl"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
    517: ("EPROBE_DEFER", "Requested probe deferral"),
    518: ("EOPENSTALE", "Open found a stale dentry"),
    521: ("EBADHANDLE", "Illegal NFS file handle"),
    524: ("ENOTSUPP", "Operation not supported"),
}


def errno_name(err: int) -> str:
    if err in _KERNEL_ERRNO:
        return _KERNEL_ERRNO[err][0]
    return _errno.errorcode.get(err, f"errno{err}")


def errno_text(err: int) -> str:
    if err in _KERNEL_ERRNO:
        return _KERNEL_ERRNO[err][1]
    return os.strerror(err)


def is_restart(err: int) -> bool:
    return 512 <= err <= 516
