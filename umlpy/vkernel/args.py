"""Reading syscall arguments as the kernel does, and small facts about guest tasks."""

from __future__ import annotations

import os

from umlpy.tracer import _ffi

AT_FDCWD = -100


def s32(v: int) -> int:
    """An ``int``/``pid_t`` argument as the kernel sees it: the low 32 bits, signed.

    The kernel ignores the upper half of ``int`` parameters, so a check on
    all 64 bits could be dodged by setting a high bit.
    """
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def pgid_of(pid: int) -> int | None:
    """The process group of ``pid``, or None if it is gone."""
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def open_guest_path(tid: int, tgid: int, dirfd: int, path: bytes, *, nofollow: bool = False) -> int:
    """An O_PATH fd, owned by the tracer, for ``path`` as task ``tid`` names it.

    Relative paths start at the guest's cwd (/proc/TID/cwd) or at the tracer's
    copy of its ``dirfd``.  The path string is the tracer's own copy, resolved
    once here: what a racing guest thread changes afterwards does not matter.
    Raises OSError as the lookup fails.
    """
    if dirfd == AT_FDCWD:
        base = os.open(f"/proc/{tid}/cwd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        base = _ffi.grab_fd(tid, dirfd, tgid)
    try:
        if not path:
            return os.dup(base)
        return os.open(path, os.O_PATH | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0), dir_fd=base)
    finally:
        os.close(base)
