"""The one FFI choke point: ptrace, seccomp, Landlock and guest-memory calls.

python-ptrace supplies the register structure (``user_regs_struct``) and the
classic request numbers; it predates PTRACE_SEIZE, PTRACE_INTERRUPT,
PTRACE_LISTEN, PTRACE_GET_SYSCALL_INFO, PTRACE_O_EXITKILL and
PTRACE_O_TRACESECCOMP, so those are added here (values from
include/uapi/linux/ptrace.h).  Every call raises ``OSError`` with the C errno;
nothing here knows what a sandbox is.

Only this module imports ctypes.  python-ptrace's structures are imported
on first use: its package import costs ~9 ms, which every short run would
pay at startup although most runs never rewrite a register.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ptrace.binding.linux_struct import siginfo, user_regs_struct

# Not ctypes.util.find_library: it runs ldconfig, ~8 ms on every start.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

# --- ptrace requests (include/uapi/linux/ptrace.h) ---------------------------
PTRACE_PEEKUSER: Final = 3
PTRACE_POKEUSER: Final = 6
PTRACE_CONT: Final = 7
PTRACE_KILL: Final = 8
PTRACE_SYSCALL: Final = 24
PTRACE_DETACH: Final = 17
PTRACE_GETREGS: Final = 12
PTRACE_SETREGS: Final = 13
PTRACE_GETEVENTMSG: Final = 0x4201
PTRACE_GETSIGINFO: Final = 0x4202
PTRACE_SEIZE: Final = 0x4206
PTRACE_INTERRUPT: Final = 0x4207
PTRACE_LISTEN: Final = 0x4208
PTRACE_GET_SYSCALL_INFO: Final = 0x420E

PTRACE_O_TRACESYSGOOD: Final = 0x1
PTRACE_O_TRACEFORK: Final = 0x2
PTRACE_O_TRACEVFORK: Final = 0x4
PTRACE_O_TRACECLONE: Final = 0x8
PTRACE_O_TRACEEXEC: Final = 0x10
PTRACE_O_TRACEVFORKDONE: Final = 0x20
PTRACE_O_TRACEEXIT: Final = 0x40
PTRACE_O_TRACESECCOMP: Final = 0x80
PTRACE_O_EXITKILL: Final = 0x100000

PTRACE_EVENT_FORK: Final = 1
PTRACE_EVENT_VFORK: Final = 2
PTRACE_EVENT_CLONE: Final = 3
PTRACE_EVENT_EXEC: Final = 4
PTRACE_EVENT_VFORK_DONE: Final = 5
PTRACE_EVENT_EXIT: Final = 6
PTRACE_EVENT_SECCOMP: Final = 7
PTRACE_EVENT_STOP: Final = 128

PTRACE_SYSCALL_INFO_NONE: Final = 0
PTRACE_SYSCALL_INFO_ENTRY: Final = 1
PTRACE_SYSCALL_INFO_EXIT: Final = 2
PTRACE_SYSCALL_INFO_SECCOMP: Final = 3

AUDIT_ARCH_X86_64: Final = 0xC000003E
AUDIT_ARCH_I386: Final = 0x40000003

__WALL: Final = 0x40000000
__WNOTHREAD: Final = 0x20000000

# --- prctl / seccomp / landlock ---------------------------------------------
PR_SET_NO_NEW_PRIVS: Final = 38
PR_SET_DUMPABLE: Final = 4
PR_SET_SECCOMP: Final = 22
SECCOMP_MODE_FILTER: Final = 2
SECCOMP_SET_MODE_FILTER: Final = 1

NR_SECCOMP: Final = 317
NR_LANDLOCK_CREATE_RULESET: Final = 444
NR_LANDLOCK_ADD_RULE: Final = 445
NR_LANDLOCK_RESTRICT_SELF: Final = 446
NR_PROCESS_VM_READV: Final = 310
NR_PROCESS_VM_WRITEV: Final = 311


class _SyscallEntry(ctypes.Structure):
    _fields_ = (("nr", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6))


class _SyscallExit(ctypes.Structure):
    _fields_ = (("rval", ctypes.c_int64), ("is_error", ctypes.c_uint8))


class _SyscallSeccomp(ctypes.Structure):
    _fields_ = (
        ("nr", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
        ("ret_data", ctypes.c_uint32),
    )


class _SyscallUnion(ctypes.Union):
    _fields_ = (("entry", _SyscallEntry), ("exit", _SyscallExit), ("seccomp", _SyscallSeccomp))


class ptrace_syscall_info(ctypes.Structure):
    """struct ptrace_syscall_info (include/uapi/linux/ptrace.h)."""

    _fields_ = (
        ("op", ctypes.c_uint8),
        ("pad", ctypes.c_uint8 * 3),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("stack_pointer", ctypes.c_uint64),
        ("u", _SyscallUnion),
    )


class iovec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class sock_filter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class sock_fprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(sock_filter)))


_ptrace = _libc.ptrace
_ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_ptrace.restype = ctypes.c_long

_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


def _raise(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def ptrace(request: int, pid: int, addr: int | None = 0, data: int | object = 0) -> int:
    """Raw ptrace(2); ``data`` may be an int or a ctypes object (passed by reference)."""
    if isinstance(data, int):
        d: object = ctypes.c_void_p(data)
    else:
        d = ctypes.byref(data)  # type: ignore[arg-type]
    ctypes.set_errno(0)
    r = _ptrace(request, pid, addr, d)
    if r == -1 and ctypes.get_errno():
        _raise(f"ptrace({request:#x}, {pid})")
    return int(r)


def seize(pid: int, options: int) -> None:
    ptrace(PTRACE_SEIZE, pid, 0, options)


def cont(pid: int, sig: int = 0) -> None:
    # Called twice per traced syscall: the bare foreign call, no wrapper
    # (ctypes converts ints for c_void_p arguments; -1 is always an error here).
    if _ptrace(PTRACE_CONT, pid, None, sig) == -1:
        _raise(f"ptrace(CONT, {pid})")


def syscall_resume(pid: int, sig: int = 0) -> None:
    if _ptrace(PTRACE_SYSCALL, pid, None, sig) == -1:
        _raise(f"ptrace(SYSCALL, {pid})")


def listen(pid: int) -> None:
    ptrace(PTRACE_LISTEN, pid, 0, 0)


def interrupt(pid: int) -> None:
    ptrace(PTRACE_INTERRUPT, pid, 0, 0)


def detach(pid: int, sig: int = 0) -> None:
    ptrace(PTRACE_DETACH, pid, 0, sig)


def geteventmsg(pid: int) -> int:
    msg = ctypes.c_ulong()
    ptrace(PTRACE_GETEVENTMSG, pid, 0, msg)
    return msg.value


def new_regs() -> user_regs_struct:
    """An empty register structure (python-ptrace's user_regs_struct)."""
    from ptrace.binding.linux_struct import user_regs_struct

    return user_regs_struct()


# Offsets in struct user_regs_struct (arch/x86/include/asm/user_64.h).
REG_RDI: Final = 14 * 8
REG_ORIG_RAX: Final = 15 * 8
REG_RBX: Final = 5 * 8


def peekuser(pid: int, offset: int) -> int:
    """One register, without a whole GETREGS."""
    ctypes.set_errno(0)
    r = _ptrace(PTRACE_PEEKUSER, pid, offset, None)
    if r == -1 and ctypes.get_errno():
        _raise(f"ptrace(PEEKUSER, {pid})")
    return int(r) & 0xFFFFFFFFFFFFFFFF


def pokeuser(pid: int, offset: int, value: int) -> None:
    """Set one register, without a GETREGS/SETREGS pair."""
    ptrace(PTRACE_POKEUSER, pid, offset, value & 0xFFFFFFFFFFFFFFFF)


def getsiginfo(pid: int) -> siginfo:
    from ptrace.binding.linux_struct import siginfo

    info = siginfo()
    ptrace(PTRACE_GETSIGINFO, pid, 0, info)
    return info


def getregs(pid: int, regs: user_regs_struct) -> None:
    ptrace(PTRACE_GETREGS, pid, 0, regs)


def setregs(pid: int, regs: user_regs_struct) -> None:
    ptrace(PTRACE_SETREGS, pid, 0, regs)


def get_syscall_info(pid: int, info: ptrace_syscall_info) -> int:
    """Fill ``info``; returns the op (PTRACE_SYSCALL_INFO_*)."""
    ptrace(PTRACE_GET_SYSCALL_INFO, pid, ctypes.sizeof(info), info)
    return int(info.op)


# struct ptrace_syscall_info as flat tuples: op, arch, ip, sp, then the union
# read as entry/seccomp (nr, args[6]) or as exit (rval).  One unpack is
# several times cheaper than reading the ctypes structure field by field.
_SI_SIZE: Final = ctypes.sizeof(ptrace_syscall_info)
_SI_CALL = struct.Struct("<B3xIQQQ6Q")
_SI_EXIT = struct.Struct("<B3xIQQq")


class SyscallInfoReader:
    """PTRACE_GET_SYSCALL_INFO into a buffer owned by one tracer thread."""

    __slots__ = ("_addr", "_buf")

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(_SI_SIZE)
        self._addr = ctypes.addressof(self._buf)

    def call(self, pid: int) -> tuple[int, ...]:
        """``(op, arch, ip, sp, nr, a0, …, a5)``: an entry or seccomp stop."""
        if _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _SI_SIZE, self._addr) == -1:
            _raise(f"ptrace(GET_SYSCALL_INFO, {pid})")
        return _SI_CALL.unpack_from(self._buf)

    def exit(self, pid: int) -> tuple[int, int]:
        """``(op, rval)``: rval is meaningful when op is PTRACE_SYSCALL_INFO_EXIT."""
        if _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _SI_SIZE, self._addr) == -1:
            _raise(f"ptrace(GET_SYSCALL_INFO, {pid})")
        op, _arch, _ip, _sp, rval = _SI_EXIT.unpack_from(self._buf)
        return op, rval


class _ReadBuffers(threading.local):
    """Per-thread buffer and iovecs for process_vm_readv: allocated once,
    not per call (the tracer reads guest memory at nearly every stop)."""

    def __init__(self) -> None:
        self.buf = ctypes.create_string_buffer(8192)
        self.local = iovec(ctypes.cast(self.buf, ctypes.c_void_p), 0)
        self.remote = iovec(0, 0)


_rb = _ReadBuffers()


def process_vm_readv(pid: int, addr: int, size: int) -> bytes:
    rb = _rb
    if size > len(rb.buf):
        buf = ctypes.create_string_buffer(size)
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), size)
    else:
        buf, local = rb.buf, rb.local
        local.iov_len = size
    remote = rb.remote
    remote.iov_base, remote.iov_len = addr, size
    n = _syscall(
        NR_PROCESS_VM_READV,
        ctypes.c_long(pid),
        ctypes.byref(local),
        ctypes.c_ulong(1),
        ctypes.byref(remote),
        ctypes.c_ulong(1),
        ctypes.c_ulong(0),
    )
    if n < 0:
        _raise("process_vm_readv")
    return ctypes.string_at(buf, n)


def process_vm_writev(pid: int, addr: int, data: bytes) -> int:
    buf = ctypes.create_string_buffer(data, len(data))
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), len(data))
    remote = iovec(addr, len(data))
    n = _syscall(
        NR_PROCESS_VM_WRITEV,
        ctypes.c_long(pid),
        ctypes.byref(local),
        ctypes.c_ulong(1),
        ctypes.byref(remote),
        ctypes.c_ulong(1),
        ctypes.c_ulong(0),
    )
    if n < 0:
        _raise("process_vm_writev")
    return int(n)


def set_no_new_privs() -> None:
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise("prctl(PR_SET_NO_NEW_PRIVS)")


def sched_getcpu() -> int:
    """The CPU this thread runs on now (-1 if the kernel cannot say)."""
    return int(_libc.sched_getcpu())


def set_dumpable(value: bool) -> None:
    if _prctl(PR_SET_DUMPABLE, int(value), 0, 0, 0) != 0:
        _raise("prctl(PR_SET_DUMPABLE)")


def install_seccomp(program: list[tuple[int, int, int, int]]) -> None:
    """Install a classic-BPF seccomp filter given as (code, jt, jf, k) tuples."""
    arr = (sock_filter * len(program))(*(sock_filter(*insn) for insn in program))
    prog = sock_fprog(len(program), arr)
    r = _syscall(
        ctypes.c_long(NR_SECCOMP),
        ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(0),
        ctypes.byref(prog),
    )
    if r != 0:
        _raise("seccomp(SECCOMP_SET_MODE_FILTER)")


def raw_syscall(nr: int, *args: int) -> int:
    """syscall(2) with integer arguments; raises OSError on failure."""
    r = _syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & 0xFFFFFFFFFFFFFFFF) for a in args))
    if r == -1:
        _raise(f"syscall({nr})")
    return int(r)


_EMPTY = ctypes.c_char_p(b"")
AT_EMPTY_PATH_FLAG = 0x1000


def at_empty(nr: int, fd: int, size: int, *extra: int) -> bytes:
    """``nr(fd, "", ..., buf)`` on an fd the tracer holds (AT_EMPTY_PATH
    forms of newfstatat, statx, readlinkat; fstatfs): the result buffer.

    ``extra`` are the integer arguments between the path and the buffer
    (flags, mask); raises OSError."""
    buf = ctypes.create_string_buffer(size)
    if nr == NR_FSTATFS:
        r = _syscall(ctypes.c_long(nr), ctypes.c_long(fd), buf)
    elif nr == NR_READLINKAT:
        r = _syscall(ctypes.c_long(nr), ctypes.c_long(fd), _EMPTY, buf, ctypes.c_ulong(size))
    else:
        conv = [ctypes.c_ulong(a) for a in extra]
        r = _syscall(ctypes.c_long(nr), ctypes.c_long(fd), _EMPTY, *conv, buf) if nr == NR_STATX else \
            _syscall(ctypes.c_long(nr), ctypes.c_long(fd), _EMPTY, buf, *conv)
    if r == -1:
        _raise(f"syscall({nr})")
    return buf.raw[:r] if nr == NR_READLINKAT else buf.raw


NR_NEWFSTATAT, NR_STATX, NR_READLINKAT, NR_FSTATFS, NR_FACCESSAT2 = 262, 332, 267, 138, 439


NR_RENAMEAT2 = 316


def renameat2(olddirfd: int, old: bytes, newdirfd: int, new: bytes, flags: int) -> None:
    """renameat2(2); raises OSError."""
    r = _syscall(ctypes.c_long(NR_RENAMEAT2), ctypes.c_long(olddirfd), ctypes.c_char_p(old),
                 ctypes.c_long(newdirfd), ctypes.c_char_p(new), ctypes.c_uint(flags))
    if r == -1:
        _raise("renameat2")


def inotify_add_watch(fd: int, path: bytes, mask: int) -> int:
    """inotify_add_watch(2) on an inotify fd the tracer holds; raises OSError."""
    r = _libc.inotify_add_watch(ctypes.c_int(fd), ctypes.c_char_p(path), ctypes.c_uint32(mask))
    if r == -1:
        _raise("inotify_add_watch")
    return int(r)


def access_at_empty(fd: int, mode: int, flags: int) -> None:
    """faccessat2(fd, "", mode, AT_EMPTY_PATH | flags); raises OSError."""
    r = _syscall(ctypes.c_long(NR_FACCESSAT2), ctypes.c_long(fd), _EMPTY, ctypes.c_int(mode),
                 ctypes.c_int(AT_EMPTY_PATH_FLAG | flags))
    if r == -1:
        _raise("faccessat2")


def struct_syscall(nr: int, *args: int | ctypes.Structure | None) -> int:
    """syscall(2) where ctypes structures are passed by reference."""
    conv: list[object] = []
    for a in args:
        if a is None:
            conv.append(ctypes.c_void_p(0))
        elif isinstance(a, int):
            conv.append(ctypes.c_ulong(a & 0xFFFFFFFFFFFFFFFF))
        else:
            conv.append(ctypes.byref(a))
    r = _syscall(ctypes.c_long(nr), *conv)
    if r == -1:
        _raise(f"syscall({nr})")
    return int(r)


NR_PIDFD_SEND_SIGNAL: Final = 424
NR_PIDFD_OPEN: Final = 434
NR_PIDFD_GETFD: Final = 438


PIDFD_THREAD: Final = 0o200  # O_EXCL: pidfd_open(2) of any thread (Linux >= 6.9)


def grab_fd(tid: int, fd: int, tgid: int | None = None) -> int:
    """A duplicate, in the tracer, of task ``tid``'s fd (same open file description).

    A thread may have an fd table of its own (CLONE_THREAD without
    CLONE_FILES), so the thread's pidfd is used where the kernel offers one;
    older kernels get the process's (``tgid``).
    """
    try:
        pidfd = raw_syscall(NR_PIDFD_OPEN, tid, PIDFD_THREAD)
    except OSError:
        pidfd = raw_syscall(NR_PIDFD_OPEN, tgid if tgid is not None else tid, 0)
    try:
        return raw_syscall(NR_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)


def pidfd_send_signal(pidfd: int, sig: int, info: bytes | None, flags: int) -> None:
    buf = ctypes.create_string_buffer(info, 128) if info is not None else None
    r = _syscall(
        ctypes.c_long(NR_PIDFD_SEND_SIGNAL),
        ctypes.c_long(pidfd),
        ctypes.c_long(sig),
        buf if buf is not None else ctypes.c_void_p(0),
        ctypes.c_ulong(flags),
    )
    if r == -1:
        _raise("pidfd_send_signal")


NR_FCHOWNAT: Final = 260
NR_UTIMENSAT: Final = 280
_AT_EMPTY_PATH: Final = 0x1000
_EMPTY = ctypes.c_char_p(b"")


def fchownat_empty(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", uid, gid, AT_EMPTY_PATH): works on O_PATH fds, symlinks included."""
    r = _syscall(
        ctypes.c_long(NR_FCHOWNAT), ctypes.c_long(fd), _EMPTY,
        ctypes.c_uint(uid & 0xFFFFFFFF), ctypes.c_uint(gid & 0xFFFFFFFF), ctypes.c_int(_AT_EMPTY_PATH),
    )
    if r == -1:
        _raise("fchownat")


def utimensat_empty(fd: int, times: bytes | None) -> None:
    """utimensat(fd, "", times, AT_EMPTY_PATH); ``times`` is struct timespec[2] or None."""
    buf = ctypes.create_string_buffer(times, 32) if times is not None else None
    r = _syscall(
        ctypes.c_long(NR_UTIMENSAT), ctypes.c_long(fd), _EMPTY,
        buf if buf is not None else ctypes.c_void_p(0), ctypes.c_int(_AT_EMPTY_PATH),
    )
    if r == -1:
        _raise("utimensat")


NR_CONNECT: Final = 42
NR_BIND: Final = 49


def connect_raw(fd: int, addr: bytes) -> None:
    """connect(2) with raw sockaddr bytes; raises OSError."""
    buf = ctypes.create_string_buffer(addr, len(addr))
    r = _syscall(ctypes.c_long(NR_CONNECT), ctypes.c_long(fd), buf, ctypes.c_uint(len(addr)))
    if r == -1:
        _raise("connect")


def bind_raw(fd: int, addr: bytes) -> None:
    """bind(2) with raw sockaddr bytes; raises OSError."""
    buf = ctypes.create_string_buffer(addr, len(addr))
    r = _syscall(ctypes.c_long(NR_BIND), ctypes.c_long(fd), buf, ctypes.c_uint(len(addr)))
    if r == -1:
        _raise("bind")


NR_GETSOCKNAME: Final = 51
NR_GETPEERNAME: Final = 52
NR_GETSOCKOPT: Final = 55


def sockname_raw(fd: int, *, peer: bool = False) -> bytes:
    """getsockname(2) (getpeername(2) with ``peer``) as raw sockaddr bytes; raises OSError."""
    buf = ctypes.create_string_buffer(128)
    size = ctypes.c_uint(128)
    r = _syscall(ctypes.c_long(NR_GETPEERNAME if peer else NR_GETSOCKNAME), ctypes.c_long(fd), buf,
                 ctypes.byref(size))
    if r == -1:
        _raise("getpeername" if peer else "getsockname")
    return buf.raw[: min(size.value, 128)]


def getsockopt_raw(fd: int, level: int, opt: int, size: int) -> bytes:
    """getsockopt(2) into a ``size``-byte buffer; the bytes the kernel filled; raises OSError."""
    buf = ctypes.create_string_buffer(size)
    length = ctypes.c_uint(size)
    r = _syscall(ctypes.c_long(NR_GETSOCKOPT), ctypes.c_long(fd), ctypes.c_long(level), ctypes.c_long(opt), buf,
                 ctypes.byref(length))
    if r == -1:
        _raise("getsockopt")
    return buf.raw[: min(length.value, size)]


# Landlock structures (include/uapi/linux/landlock.h).
class landlock_ruleset_attr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class landlock_path_beneath_attr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))
