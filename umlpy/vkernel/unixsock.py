"""Pathname unix sockets under a checked network policy: only the guest's own.

Host daemons listen on pathname sockets (docker.sock, the D-Bus bus,
ssh-agent, X11's /tmp/.X11-unix/X0); with ``--net none`` or ``loopback`` a
guest may connect only to a listener that a guest process holds.  The
identity is the socket, not the path:

1. the tracer opens the guest's path itself (O_PATH, resolved once, from the
   guest's cwd for relative paths) and fstat()s the socket file;
2. a sock_diag dump (unix_diag(7): UDIAG_SHOW_VFS, built with pyroute2)
   maps that file's device and inode to the listening socket's own inode;
3. the listener must be open in a guest process (/proc/PID/fd/N is
   ``socket:[INODE]``), else the connect fails with ECONNREFUSED, as if
   nothing listened there inside the sandbox;
4. the tracer then connects its own duplicate of the guest's socket through
   ``/proc/self/fd/<its O_PATH fd>``, i.e. to exactly the inode it checked:
   a path or symlink swapped by a racing thread changes nothing.

Datagrams sent with a pathname address (sendto(2), sendmsg(2) on a
SOCK_DGRAM socket) are checked the same way (:func:`check_target`: the bound
socket must be held by a guest process, else ECONNREFUSED, what sending to a
path nobody is bound to returns) and then sent by the tracer itself on its
duplicate, to ``/proc/self/fd/<O_PATH fd>`` (:func:`umlpy.vkernel.net.sys_sendto`).

Abstract sockets are scoped by Landlock instead.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.args import AT_FDCWD, open_guest_path
from umlpy.vkernel.outcome import Deny, Emulate, GuestError, Outcome
from umlpy.vkernel.state import Kernel

AF_UNIX = 1
TCP_ESTABLISHED = 1
TCP_CLOSE = 7
TCP_LISTEN = 10
CONNECT_WAIT_US = 200_000


def connect(k: Kernel, ctx: SyscallContext, dup: int, path: bytes) -> Outcome:
    """connect(2) of the tracer's duplicate ``dup`` of the guest socket to ``path``."""
    target = open_target(k, ctx, path)
    try:
        return connect_fd(k, dup, target, path)
    finally:
        os.close(target)


def connect_fd(k: Kernel, dup: int, target: int, path: bytes, *, bound_in: bool = False) -> Outcome:
    """connect(2) of ``dup`` to the socket file the tracer holds as ``target`` (O_PATH).

    Outside ``--net host`` the listener must be held by a guest process,
    unless the user bound the socket into the guest's view on purpose
    (``bound_in``: ``--bind /run/docker.sock``).
    """
    refused = check_target(k, target, path, listening=True, bound_in=bound_in)
    if refused is not None:
        return refused
    try:
        connect_bounded(dup, target_address(target))
    except OSError as e:
        return Emulate(-(e.errno or errno.ECONNREFUSED))
    return Emulate(0)


def connect_bounded(dup: int, addr: bytes) -> None:
    """connect(2) of the tracer's duplicate of a guest socket, waiting at most
    CONNECT_WAIT_US: a blocking connect waits while the listener's backlog is
    full, and the tracer must never wait on the guest.  SO_SNDTIMEO bounds
    it (unix and TCP connects honour it) and is restored after; a listener
    that stays full makes the connect fail (EAGAIN for unix, EINPROGRESS for
    TCP, which then goes on in the background) instead of stalling the
    sandbox.  Raises OSError."""
    sock = socket.socket(fileno=os.dup(dup))
    try:
        saved = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("qq", 0, CONNECT_WAIT_US))
        try:
            _ffi.connect_raw(dup, addr)
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, saved)
    finally:
        sock.close()


def check_target(k: Kernel, target: int, path: bytes, *, listening: bool, bound_in: bool = False) -> Outcome | None:
    """None if the socket file held as ``target`` may be reached, else the refusal.

    ``listening``: a stream listener (connect); else a bound datagram socket.
    ``bound_in``: the user bound it into the guest's view on purpose.
    """
    st = os.fstat(target)
    if not stat.S_ISSOCK(st.st_mode):
        return Emulate(-errno.ECONNREFUSED)
    if k.net_mode != "host" and not bound_in:
        states = 1 << TCP_LISTEN if listening else 1 << TCP_CLOSE | 1 << TCP_ESTABLISHED
        bound = _socket_inode(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino, states)
        if bound is None or not _held_by_guest(k, bound):
            return Deny(errno.ECONNREFUSED, f"--net {k.net_mode}: unix socket {os.fsdecode(path)} is outside the sandbox")
    return None


def target_address(target: int) -> bytes:
    """The sockaddr_un that names exactly the socket file the tracer holds as ``target``."""
    return sockaddr_un(f"/proc/self/fd/{target}".encode())


def open_target(k: Kernel, ctx: SyscallContext, path: bytes) -> int:
    """An O_PATH fd of the guest's pathname ``path`` (through the vfs when there is one)."""
    if k.vfs is not None:
        from umlpy.vkernel import fs

        return fs.unix_target(k, ctx, path)
    try:
        return open_guest_path(ctx.tid, k.tgid_of(ctx.tid), AT_FDCWD, path)
    except OSError as e:
        raise GuestError(e.errno or errno.ENOENT) from None


def _socket_inode(major: int, minor: int, ino: int, states: int) -> int | None:
    """The socket inode of the unix socket in one of ``states`` bound at (major, minor, ino)."""
    from pyroute2.netlink.diag import UDIAG_SHOW_VFS, DiagSocket

    kdev = (major << 20) | minor  # the kernel's dev_t, as sock_diag reports it
    with DiagSocket() as ds:
        ds.bind()
        for msg in ds.get_sock_stats(family=AF_UNIX, states=states, show=UDIAG_SHOW_VFS):
            vfs = msg.get_attr("UNIX_DIAG_VFS")
            if vfs and vfs["udiag_vfs_ino"] == ino and vfs["udiag_vfs_dev"] == kdev:
                return int(msg["udiag_ino"])
    return None


def _held_by_guest(k: Kernel, sock_ino: int) -> bool:
    want = f"socket:[{sock_ino}]"
    for pid in k.tgids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    return True
            except OSError:
                continue
    return False


def sockaddr_un(path: bytes) -> bytes:
    return AF_UNIX.to_bytes(2, "little") + path + b"\0"
