"""Names of the guest's pathname unix sockets, as the guest bound them.

Under the virtual filesystem the tracer binds a guest's pathname socket
itself, through a directory it reached without following symlinks
(:func:`umlpy.vkernel.fs.sys_unix_bind`): the kernel is handed
``/proc/self/fd/DFD/NAME`` and keeps those bytes as the socket's address
(unix(7): the address is stored as given, relative paths too).  Every call
that reports it — getsockname(2) of the socket and of the connections
accept(2) makes from it, getpeername(2) of its clients, accept(2)'s and
recvfrom(2)'s peer address when the *client* bound one — would show the
tracer's path.  So each bind records the address it used and the bytes the
guest asked for (:func:`bind_address`), and those calls answer in guest
terms (:func:`in_guest_terms`).

The address must name only one guest path while any socket may still carry
it: the tracer's directory fd number is reused, so an address already
recorded for another guest path gets extra slashes after ``DFD/`` (same
directory to the kernel, a different string) until it is new.

getsockname(2)/getpeername(2) stop whenever the vfs is on; accept(2) and
accept4(2) only with an address buffer (the filter tests the pointer);
non-unix sockets go on to the network policy.  Not translated yet:
recvfrom(2)/recvmsg(2) source addresses of datagrams.
"""

from __future__ import annotations

import errno
import os
import socket

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, GuestError, Outcome
from umlpy.vkernel.sockfd import family, grab, rewrite_accepted
from umlpy.vkernel.state import Kernel

SUN_PATH_MAX = 108
MAX_NAMES = 100_000
_PREFIX = b"/proc/self/fd/"


def bind_address(k: Kernel, dfd: int, name: bytes, asked: bytes) -> bytes | None:
    """The sun_path the tracer binds ``NAME`` in its directory fd ``dfd``
    with, recorded as the guest's ``asked`` (what it passed to bind(2));
    None when no unique address fits in sun_path."""
    names = k.unix_names
    base = b"%s%d/" % (_PREFIX, dfd)
    for extra in range(SUN_PATH_MAX):
        addr = base + b"/" * extra + name
        if len(addr) >= SUN_PATH_MAX:
            return None
        known = names.get(addr)
        if known is None or known == asked:
            if known is None and len(names) < MAX_NAMES:
                names[addr] = asked
            return addr
    return None


def in_guest_terms(k: Kernel, raw: bytes) -> bytes:
    """A sockaddr the host kernel reported, with a tracer-made unix address
    replaced by the guest's (length as the kernel counts it: the family,
    the path and its NUL)."""
    if len(raw) <= 2 or int.from_bytes(raw[:2], "little") != socket.AF_UNIX or raw[2] == 0:
        return raw  # another family, unnamed, or abstract
    path = raw[2:].split(b"\0", 1)[0]
    if not path.startswith(_PREFIX):
        return raw
    asked = k.unix_names.get(path)
    if asked is None:  # not recorded (the table was full): at least no tracer path
        asked = path.rsplit(b"/", 1)[-1]
    return raw[:2] + asked + b"\0"


def getname(k: Kernel, ctx: SyscallContext, *, peer: bool) -> Outcome | None:
    """getsockname(2)/getpeername(2) of a unix socket, emulated on the tracer's
    duplicate (the host's answer never reaches guest memory); None for other
    families."""
    from umlpy.vkernel import nlroute

    if nlroute.emulated(k, ctx.tid, ctx.args[0]) is not None:
        return None  # an emulated netlink socket (an AF_UNIX one to the host)
    dup = grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        if family(dup) != socket.AF_UNIX:
            return None
        try:
            raw = _ffi.sockname_raw(dup, peer=peer)
        except OSError as e:
            raise GuestError(e.errno or errno.ENOTCONN) from None
    finally:
        os.close(dup)
    return nlroute.put_sockaddr(ctx, ctx.args[1], ctx.args[2], in_guest_terms(k, raw))


def accept(k: Kernel, ctx: SyscallContext) -> Outcome | None:
    """accept(2)/accept4(2) with an address on a unix socket: at the exit, the
    client's address in guest terms (its bound name, if it bound one);
    None for other families."""
    if ctx.args[1] == 0:
        return PASS
    dup = grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        if family(dup) != socket.AF_UNIX:
            return None
    finally:
        os.close(dup)

    def shown(new: int) -> bytes | None:
        try:
            raw = _ffi.sockname_raw(new, peer=True)
        except OSError:
            return None
        view = in_guest_terms(k, raw)
        return None if view == raw else view

    return rewrite_accepted(k, ctx, shown)


def sys_getsockname(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements getsockname(2) under the vfs: unix names in guest terms, the rest to the network policy."""
    from umlpy.vkernel import netcalls

    out = getname(k, ctx, peer=False)
    return netcalls.sys_getsockname(k, ctx) if out is None else out


def sys_getpeername(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements getpeername(2) under the vfs: unix names in guest terms, the rest to the network policy."""
    from umlpy.vkernel import netcalls

    out = getname(k, ctx, peer=True)
    return netcalls.sys_getpeername(k, ctx) if out is None else out


def sys_accept(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements accept(2)/accept4(2) under the vfs: a unix client's name in guest terms."""
    from umlpy.vkernel import netcalls

    out = accept(k, ctx)
    return netcalls.sys_accept(k, ctx) if out is None else out


HANDLERS = {
    "getsockname": sys_getsockname,
    "getpeername": sys_getpeername,
    "accept": sys_accept,
    "accept4": sys_accept,
}
"""Handlers taking precedence over the network policy's when the vfs is on."""
