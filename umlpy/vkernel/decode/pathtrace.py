"""``-P PATH``: does a call touch one of the selected paths?  (strace's pathtrace.c)

Decided at syscall entry, as strace does: a path argument matches when the
string in guest memory equals a selected path byte for byte (no resolution:
``openat(AT_FDCWD, "hostname")`` run in /etc does not match /etc/hostname);
an fd argument matches when ``/proc/TID/fd/N`` links to a selected path.
Which arguments are paths and which are fds follows strace's table; any
other call of the %file class is judged by its first argument as a path,
of %desc or %network by its first argument as an fd.  Calls that create
fds from nothing (socket, pipe, eventfd …) never match.
"""

from __future__ import annotations

import os
import struct

from umlpy.vkernel import classes
from umlpy.vkernel.decode.base import Env, s32

# name -> (fd argument indexes, path argument indexes)
_ROLES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}


def _roles(names: str, fds: tuple[int, ...], paths: tuple[int, ...]) -> None:
    for n in names.split():
        _ROLES[n] = (fds, paths)


_roles("dup2 dup3 kexec_file_load sendfile tee", (0, 1), ())
_roles("execveat faccessat faccessat2 fchmodat fchmodat2 fchownat fspick futimesat inotify_add_watch mkdirat"
       " mknodat name_to_handle_at newfstatat open_tree openat openat2 readlinkat statx unlinkat utimensat"
       " setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr", (0,), (1,))
_roles("link mount pivot_root", (), (0, 1))
_roles("quotactl symlink", (), (1,))
_roles("linkat move_mount renameat renameat2", (0, 2), (1, 3))
_roles("symlinkat", (1,), (0, 2))
_roles("copy_file_range splice", (0, 2), ())
_roles("epoll_ctl", (2,), ())
_roles("mmap", (4,), ())
_roles("fanotify_mark", (3,), (4,))
_roles("bpf epoll_create epoll_create1 eventfd eventfd2 fanotify_init inotify_init inotify_init1 io_uring_enter"
       " io_uring_register io_uring_setup memfd_create mq_getsetattr mq_notify mq_open mq_timedreceive"
       " mq_timedsend perf_event_open pipe pipe2 signalfd signalfd4 socket socketpair timerfd_create"
       " timerfd_gettime timerfd_settime userfaultfd", (), ())

_MAX_FDS = 1024


def touches(name: str, e: Env, paths: frozenset[bytes]) -> bool:
    """Whether call ``name`` with environment ``e`` names one of ``paths``."""
    if name in ("poll", "ppoll"):
        return any(_fd_is(e, fd, paths) for fd in _pollfds(e))
    if name in ("select", "pselect6"):
        return any(_fd_is(e, fd, paths) for fd in _selectfds(e))
    roles = _ROLES.get(name)
    if roles is None:
        if name in classes.FILE:
            roles = ((), (0,))
        elif name in classes.DESC or name in classes.NETWORK:
            roles = ((0,), ())
        else:
            return False
    fds, path_args = roles
    return any(_fd_is(e, s32(e.args[i]), paths) for i in fds) or any(
        _path_is(e, e.args[i], paths) for i in path_args
    )


def _path_is(e: Env, addr: int, paths: frozenset[bytes]) -> bool:
    if addr == 0:
        return False
    s = e.cstring(addr, 4096)
    return s is not None and s in paths


def _fd_is(e: Env, fd: int, paths: frozenset[bytes]) -> bool:
    if fd < 0:
        return False
    try:
        return os.readlink(f"/proc/{e.tid}/fd/{fd}".encode()) in paths
    except OSError:
        return False


def _pollfds(e: Env) -> list[int]:
    n = e.args[1] & 0xFFFFFFFF
    data = e.read(e.args[0], 8 * min(n, _MAX_FDS)) if n else None
    if data is None:
        return []
    return [struct.unpack_from("<i", data, 8 * k)[0] for k in range(len(data) // 8)]


def _selectfds(e: Env) -> list[int]:
    nfds = min(s32(e.args[0]), _MAX_FDS)
    if nfds <= 0:
        return []
    out: set[int] = set()
    for i in (1, 2, 3):
        data = e.read(e.args[i], (nfds + 63) // 64 * 8)
        if data is None:
            continue
        bits = int.from_bytes(data, "little")
        out.update(fd for fd in range(nfds) if bits >> fd & 1)
    return sorted(out)
