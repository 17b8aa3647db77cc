"""Guest memory access: reads from /proc/PID/mem, writes with process_vm_writev.

A ptracer may read and write /proc/PID/mem regardless of page protections
(proc(5), "/proc/pid/mem"); reads use it always (one pread per read, the
file kept open per task), writes only where process_vm_writev, which
honours protections, cannot.  Strings are read page by page so a C string
that ends just before an unmapped page is still read.
"""

from __future__ import annotations

import errno
import os

from umlpy.tracer import _ffi

PAGE = 4096


def read(tid: int, addr: int, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise OSError(EFAULT).

    One pread on the task's /proc/TID/mem, kept open: what
    process_vm_readv can read, it reads too (and pages the guest
    protected), in one call that costs no ctypes marshalling.  A cached
    file may name an address space the task no longer has (it exec'd, or
    the tid was reused): a failed read is retried once on a fresh open.
    """
    if size == 0:
        return b""
    fd = _read_fds.get(tid)
    if fd is not None:
        try:
            data = os.pread(fd, size, addr)
            if len(data) == size:
                return data
        except OverflowError as e:
            raise OSError(errno.EFAULT, "bad guest address") from e
        except OSError:
            pass
        _forget_read(tid)
    try:
        fd = _read_fds[tid] = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return _vm_read(tid, addr, size)
    try:
        data = os.pread(fd, size, addr)
    except (OSError, OverflowError) as e:
        raise OSError(errno.EFAULT, "bad guest address") from e
    if len(data) != size:
        raise OSError(errno.EFAULT, "bad guest address")
    return data


_read_fds: dict[int, int] = {}


def _forget_read(tid: int) -> None:
    fd = _read_fds.pop(tid, None)
    if fd is not None:
        os.close(fd)


def _vm_read(tid: int, addr: int, size: int) -> bytes:
    """/proc/TID/mem cannot be opened (fd limit): process_vm_readv."""
    try:
        data = _ffi.process_vm_readv(tid, addr, size)
    except OverflowError as e:
        raise OSError(errno.EFAULT, "bad guest address") from e
    except OSError as e:
        if e.errno not in (errno.EFAULT, errno.ENOSYS, errno.EPERM):
            raise
        raise OSError(errno.EFAULT, "guest memory unreadable") from e
    if len(data) != size:
        raise OSError(errno.EFAULT, "bad guest address")
    return data


def read_cstring(tid: int, addr: int, limit: int = 4096) -> bytes:
    """Read a NUL-terminated string (without the NUL); ENAMETOOLONG past ``limit``."""
    if addr == 0:
        raise OSError(errno.EFAULT, "NULL string")
    out = bytearray()
    first = True
    while len(out) <= limit:
        chunk_len = PAGE - (addr % PAGE)
        if first:
            chunk_len = min(chunk_len, 256)  # most paths are short: copy less
            first = False
        try:
            chunk = read(tid, addr, chunk_len)
        except OverflowError as e:
            raise OSError(errno.EFAULT, "bad guest address") from e
        nul = chunk.find(b"\0")
        if nul >= 0:
            out += chunk[:nul]
            if len(out) > limit:
                break
            return bytes(out)
        out += chunk
        addr += chunk_len
    raise OSError(errno.ENAMETOOLONG, "guest string too long")


def write(tid: int, addr: int, data: bytes) -> None:
    try:
        n = _ffi.process_vm_writev(tid, addr, data)
        if n == len(data):
            return
    except OSError as e:
        if e.errno not in (errno.EFAULT, errno.ENOSYS, errno.EPERM):
            raise
    poke(tid, addr, data)


_mem_fds: dict[int, int] = {}


def poke(tid: int, addr: int, data: bytes) -> None:
    """Write through /proc/TID/mem only: for pages that are read-only to the guest.

    process_vm_writev honours page protections and mseal(2), so it cannot
    write the scratch pages at all; a ptracer's /proc/PID/mem write
    (FOLL_FORCE) can, even into a sealed read-only mapping.  The file stays
    open per task (it names the address space of the moment it was opened):
    :func:`forget` it when the task execs or dies.
    """
    fd = _mem_fds.get(tid)
    if fd is None:
        fd = _mem_fds[tid] = os.open(f"/proc/{tid}/mem", os.O_WRONLY | os.O_CLOEXEC)
    try:
        n = os.pwrite(fd, data, addr)
    except OSError:
        forget(tid)
        raise
    if n != len(data):
        raise OSError(errno.EFAULT, "short write to guest memory")


def forget(tid: int) -> None:
    """The task exec'd or is gone: close its cached /proc/TID/mem files."""
    fd = _mem_fds.pop(tid, None)
    if fd is not None:
        os.close(fd)
    _forget_read(tid)
