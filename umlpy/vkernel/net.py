"""Sockets under the network policy: the vkernel side of :mod:`umlpy.vnet`.

Under ``--net host`` with no ``--allow``/``--deny`` rule nothing here traps
(``Kernel.vnet`` is None and the filter lets the socket calls run natively).
Under any other policy:

* socket(2): AF_UNIX, AF_NETLINK, AF_INET and AF_INET6 are created natively
  (a BPF test on the ``domain`` register); any other family (AF_PACKET,
  AF_VSOCK, AF_BLUETOOTH, ...) stops and fails with EACCES, as an LSM
  refusing the socket would.
* connect(2), bind(2), sendto(2) with ``addrlen != 0`` (BPF test on the
  register), sendmsg(2) always (its address lives in memory): the handler
  reads the sockaddr ONCE from guest memory, asks
  :class:`umlpy.vnet.stack.VirtualNetwork`, and on allow copies the bytes
  the host kernel must see (possibly rewritten, e.g. a bind to 0.0.0.0
  becomes host 127.0.0.1) into the task's sealed, read-only scratch page
  (:func:`umlpy.vkernel.scratch.place`) and points the argument register at
  that copy.  A second guest thread flipping its own buffer after the check
  changes nothing: the kernel never reads it.  For sendmsg the whole
  ``msghdr`` is copied too (with ``msg_name`` pointing at the placed
  address); ``msg_iov`` and ``msg_control`` stay the guest's (data content
  races do not change where a datagram goes).
* listen(2): emulated on the tracer's duplicate of the socket, after
  binding an unbound IP socket to host loopback (listen's autobind would
  otherwise pick the wildcard address, reachable from the network).
* getsockname(2), getpeername(2): emulated on the tracer's duplicate, the
  host's answer shown in the guest's view (:mod:`umlpy.vnet.views`: the
  port and wildcard it bound, the address it connected to).  accept(2) and
  accept4(2) stop only when the address pointer is not NULL (all 64 bits:
  :class:`umlpy.tracer.bpf.IfArgNull`) and rewrite it at exit.
* sendto(2)/sendmsg(2) to a pathname unix address (outside ``--net host``):
  only to a socket a guest process holds, sent by the tracer to the inode it
  checked (:func:`_unix_datagram`).
* Byte counts: each connection's socket cookie is followed until the kernel
  frees it (:mod:`umlpy.vkernel.sockstats`).
* sendmmsg(2): the kernel writes each entry's ``msg_len`` back into the
  array, so the array cannot live in the read-only page, and leaving it in
  guest memory leaves every ``msg_name`` raceable.  So for IP datagram
  sockets the tracer does the call itself (:func:`sys_sendmmsg`); for any
  other socket, or entries with control messages, it fails with EPERM.

Errnos are the vnet's (:mod:`umlpy.vnet.policy`): ENETUNREACH for a
destination the mode has no route to, ECONNREFUSED for a loopback port no
guest socket is bound to under ``none`` and for a stream connect an explicit
``--deny`` matches, EPERM for a datagram send/connect a ``--deny`` matches,
EADDRNOTAVAIL for a bind to an address that is not the sandbox's, EAFNOSUPPORT
for a non-IP, non-unix/netlink destination family.

The socket's type and protocol (they pick the policy's port table and deny
errno) come from the tracer's own duplicate of the guest's fd
(pidfd_getfd).  Residual race: a guest thread can dup2 another socket over
the fd between that look and the call, so a protocol-specific rule
(``/tcp``, ``/udp``) or a guest-bound port of the other protocol may decide
the call (a guest that bound UDP port X can race a TCP connect to a host
service on X); the address itself cannot be raced.  Not tracked yet: a
closed guest socket's port stays in the port table, so a host service that
later binds it is reachable as "the guest's own".
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel import nlroute, scratch, sockfd, unixsock
from umlpy.vkernel.outcome import PASS, Deny, Emulate, GuestError, Outcome, Rewrite
from umlpy.vkernel.sockfd import grab as _grab
from umlpy.vkernel.state import Kernel
from umlpy.vnet.policy import Deny as VDeny
from umlpy.vnet.ports import BindPlan, BindRefused
from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import (
    SOCKADDR_STORAGE_SIZE,
    BadSockaddr,
    SockaddrIn,
    SockaddrIn6,
    SockaddrUn,
    UnixKind,
    encode_sockaddr,
    inet_sockaddr,
    parse_sockaddr,
    policy_address,
)

if TYPE_CHECKING:
    from umlpy.vkernel.task import Task

from umlpy.vkernel.netcalls import LOCAL_FAMILIES, VNET_CALLS, VNET_FAMILIES  # noqa: F401

log = logging.getLogger(__name__)

_MSGHDR = struct.Struct("=QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
_MMSGHDR_SIZE = 64  # struct mmsghdr: msghdr, msg_len, padding
UIO_MAXIOV = 1024
MAX_DATAGRAM = 65535 + 65536  # above any UDP datagram (IPv6 jumbograms aside)
UNIX_DATAGRAM_MAX = 4 << 20  # above a unix datagram's default limit (sk_sndbuf, net.core.wmem_max)
NR_SENDMSG = 46
_STREAM_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
SO_COOKIE = 57
_PROTOCOLS = {6: Protocol.TCP, 17: Protocol.UDP, 136: Protocol.UDP, 1: Protocol.ICMP, 58: Protocol.ICMPV6}


def sys_socket(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements socket(2) under the network policy."""
    family = ctx.args[0] & 0xFFFFFFFF
    if k.vnet is not None and family not in VNET_FAMILIES:
        return Deny(errno.EACCES, f"--net {k.net_mode}: address family {_family_name(family)}")
    if family == socket.AF_NETLINK and k.virtual_interfaces:
        return nlroute.sys_socket(k, ctx)
    return PASS


def sys_getsockname(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements getsockname(2): emulated netlink sockets, and IP sockets in the guest's view."""
    em = nlroute.emulated(k, ctx.tid, ctx.args[0])
    if em is not None:
        return nlroute.getname(ctx, em, peer=False)
    return _getname(k, ctx, peer=False)


def sys_getpeername(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements getpeername(2): emulated netlink sockets, and IP sockets in the guest's view."""
    em = nlroute.emulated(k, ctx.tid, ctx.args[0])
    if em is not None:
        return nlroute.getname(ctx, em, peer=True)
    return _getname(k, ctx, peer=True)


def _getname(k: Kernel, ctx: SyscallContext, *, peer: bool) -> Outcome:
    """getsockname/getpeername of an IP socket, emulated on the tracer's duplicate.

    Emulated at entry rather than fixed at exit: one stop instead of two, and
    the host's own (host-port) answer never reaches guest memory, where a
    second guest thread could read it.  Other families pass.
    """
    vnet = k.vnet
    if vnet is None:
        return PASS
    dup = _grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        names = _names(dup)
        if names is None:
            return PASS
        cookie, protocol, local, remote = names
        if peer:
            if remote is None:
                raise GuestError(errno.ENOTCONN)
            raw = vnet.peername(cookie, remote, local, protocol)
        else:
            raw = vnet.sockname(cookie, local, remote, protocol)
    finally:
        os.close(dup)
    return nlroute.put_sockaddr(ctx, ctx.args[1], ctx.args[2], raw)


def _names(dup: int) -> tuple[int, Protocol, bytes, bytes | None] | None:
    """(cookie, protocol, host local name, host peer name or None) of an IP socket; None for others."""
    try:
        local = _ffi.sockname_raw(dup)
    except OSError as e:
        raise GuestError(e.errno or errno.ENOTSOCK) from None
    if len(local) < 2 or int.from_bytes(local[:2], "little") not in (socket.AF_INET, socket.AF_INET6):
        return None
    protocol, _stream = _kind_of(dup)
    try:
        remote: bytes | None = _ffi.sockname_raw(dup, peer=True)
    except OSError:
        remote = None
    return _cookie(dup), protocol, local, remote


def _cookie(dup: int) -> int:
    """The socket's SO_COOKIE: names it for the views and the byte counters (0 if unknown)."""
    try:
        return int.from_bytes(_ffi.getsockopt_raw(dup, socket.SOL_SOCKET, SO_COOKIE, 8), "little")
    except OSError:
        return 0


def sys_accept(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements accept(2)/accept4(2) with an address: the peer in the guest's view.

    The filter stops only when the address pointer is not NULL (all 64 bits).
    For an IP socket the call runs unchanged and at its exit the tracer
    overwrites the host's answer with the guest's view of the new socket's
    peer, truncated to the ``*addrlen`` read at entry, as move_addr_to_user
    does.  (Running it with a NULL address instead would keep the host's
    answer out of guest memory, but a call the kernel restarts after a signal
    — SIGCHLD, a stop — would then run again with NULL, untrapped, and never
    fill the guest's buffer.  The host's peer port is visible to a racing
    thread for the length of the exit stop; it grants nothing.)  Accepted
    connections are logged (op ``accept``, folded per guest service) and
    their bytes counted.
    """
    vnet = k.vnet
    if vnet is None or ctx.args[1] == 0:
        return PASS
    dup = _grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        fam = sockfd.family(dup)
    finally:
        os.close(dup)
    if fam not in (socket.AF_INET, socket.AF_INET6):
        return PASS
    pid = k.tgid_of(ctx.tid)

    def shown(new: int) -> bytes | None:
        try:
            names = _names(new)
        except GuestError:
            return None
        if names is None:
            return None
        cookie, protocol, local, remote = names
        if remote is None:
            return None
        raw = vnet.peername(cookie, remote, local, protocol)
        _log_accept(k, pid, cookie, vnet.sockname(cookie, local, remote, protocol), raw, protocol)
        return raw

    return sockfd.rewrite_accepted(k, ctx, shown)


def _log_accept(k: Kernel, pid: int, cookie: int, local: bytes, peer: bytes, protocol: Protocol) -> None:
    vnet = k.vnet
    sa, who = parse_sockaddr(local), parse_sockaddr(peer)
    if vnet is None or not isinstance(sa, SockaddrIn | SockaddrIn6):
        return
    rid = vnet.log.add(pid=pid, op="accept", family="AF_INET" if isinstance(sa, SockaddrIn) else "AF_INET6",
                       address=str(policy_address(sa)), port=sa.port, protocol=protocol.name.lower(), allowed=True,
                       reason=f"first peer {_describe(peer)}" if isinstance(who, SockaddrIn | SockaddrIn6) else "")
    k.note_socket(cookie, rid)


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


# -- helpers ---------------------------------------------------------------------------


def _sock_kind(k: Kernel, tid: int, fd: int) -> tuple[Protocol, bool]:
    """(policy protocol, is a stream socket) of the guest's socket ``fd``."""
    dup = _grab(k, tid, fd)
    try:
        return _kind_of(dup)
    finally:
        os.close(dup)


def _kind_of(dup: int) -> tuple[Protocol, bool]:
    """(policy protocol, is a stream socket) of the tracer's own socket fd ``dup``."""
    try:
        typ = _getsockopt_int(dup, socket.SO_TYPE)
        proto = _getsockopt_int(dup, socket.SO_PROTOCOL)
    except OSError as e:
        raise GuestError(e.errno or errno.ENOTSOCK) from None
    stream = typ in _STREAM_TYPES
    return _PROTOCOLS.get(proto, Protocol.TCP if stream else Protocol.UDP), stream


def _getsockopt_int(fd: int, opt: int) -> int:
    return int.from_bytes(_ffi.getsockopt_raw(fd, socket.SOL_SOCKET, opt, 4), "little", signed=True)


def _host_sockname(k: Kernel, tid: int, fd: int) -> tuple[bytes | None, int]:
    """The host's getsockname(2) bytes of the guest's socket ``fd`` (None if they cannot be
    had) and its cookie (0 if unknown)."""
    try:
        dup = _grab(k, tid, fd)
    except (GuestError, OSError):
        return None, 0
    try:
        return _ffi.sockname_raw(dup), _cookie(dup)
    except OSError:
        return None, 0
    finally:
        os.close(dup)


def _log_bind(k: Kernel, tid: int, plan: BindPlan | BindRefused, guest: SockaddrIn | SockaddrIn6 | None,
              protocol: Protocol) -> None:
    vnet = k.vnet
    if vnet is None:
        return
    sa = guest if guest is not None else plan.guest if isinstance(plan, BindPlan) else None
    if sa is None:
        return
    refused = isinstance(plan, BindRefused)
    vnet.log.add(pid=k.tgid_of(tid), op="bind", family="AF_INET" if isinstance(sa, SockaddrIn) else "AF_INET6",
                 address=str(policy_address(sa)), port=sa.port, protocol=protocol.name.lower(), allowed=not refused,
                 errno=plan.errno if isinstance(plan, BindRefused) else None,
                 reason=plan.reason if isinstance(plan, BindRefused) else f"host {_describe(encode_sockaddr(plan.host))}")


def _read_addr(ctx: SyscallContext, addr: int, length: int) -> bytes:
    if length > SOCKADDR_STORAGE_SIZE or length < 0:
        raise GuestError(errno.EINVAL, "addrlen")
    try:
        return memory.read(ctx.tid, addr, length)
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None


def _task(k: Kernel, ctx: SyscallContext) -> Task:
    task = k.tasks.get(ctx.tid)
    if task is None:
        raise GuestError(errno.EPERM, "unknown task")
    # Make sure the scratch slot exists before deciding: the handler may run
    # twice for one call (ScratchNeeded), and the decision is logged.
    scratch.place(task, ctx, b"")
    return task


def _decided(k: Kernel, ctx: SyscallContext, verdict: object, what: str) -> bytes | Outcome:
    """A vnet Verdict|BadSockaddr -> the bytes to place, or the Outcome of a refusal."""
    if isinstance(verdict, BadSockaddr):
        return Emulate(-verdict.errno)
    assert not isinstance(verdict, BadSockaddr)
    decision = verdict.decision  # type: ignore[attr-defined]
    if isinstance(decision, VDeny):
        why = str(decision.rule) if decision.rule is not None else decision.reason
        return Deny(decision.errno, f"--net {k.net_mode}: {what}: {why}")
    return verdict.host  # type: ignore[attr-defined,no-any-return]


# -- handlers --------------------------------------------------------------------------


def sys_connect(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements connect(2) under the network policy.

    The decision depends on the socket's protocol (e.g. loopback ports the
    guest itself bound are per protocol), and the kernel would look the fd
    up again after the check: a thread dup2()ing a socket of the other
    protocol over it in between would be judged as the first.  So for
    loopback destinations — immediate to connect — the tracer connects its
    own duplicate of the very socket it checked, which connects the guest's
    socket (they share the open file).  Other destinations go through the
    scratch page (a blocking connect there could stall the tracer).
    """
    vnet = k.vnet
    if vnet is None:
        return PASS
    fd, addr, length = ctx.args[0] & 0xFFFFFFFF, ctx.args[1], ctx.args[2] & 0xFFFFFFFF
    em = nlroute.emulated(k, ctx.tid, fd)
    if em is not None:
        return nlroute.connect(ctx, em)
    raw = _read_addr(ctx, addr, length)
    task = _task(k, ctx)
    dup = _grab(k, ctx.tid, fd)
    try:
        protocol, stream = _kind_of(dup)
        if not raw:
            return Emulate(-errno.EINVAL)
        sa = parse_sockaddr(raw)
        if isinstance(sa, SockaddrUn) and sa.kind is UnixKind.PATHNAME and k.net_mode != "host":
            return unixsock.connect(k, ctx, dup, sa.name)
        verdict = vnet.connect(raw, protocol=protocol, stream=stream, pid=k.tgid_of(ctx.tid))
        out = _decided(k, ctx, verdict, f"connect to {_describe(raw)}")
        if not isinstance(out, bytes | None):
            return out
        final = out if out is not None else raw
        if not isinstance(sa, SockaddrIn | SockaddrIn6):
            return Rewrite(((1, scratch.place(task, ctx, final)),))
        cookie = _cookie(dup)
        k.note_socket(cookie, verdict.record if stream else None)  # type: ignore[union-attr]
        if _is_loopback(final):
            try:
                unixsock.connect_bounded(dup, final)
            except OSError as e:
                return Emulate(-(e.errno or errno.ECONNREFUSED))
            try:
                local: bytes | None = _ffi.sockname_raw(dup)
            except OSError:
                local = None
            vnet.note_connected(cookie, raw, final, local)
            return Emulate(0)
        vnet.note_connected(cookie, raw, final)
        return Rewrite(((1, scratch.place(task, ctx, final)),))
    finally:
        os.close(dup)


def _is_loopback(raw: bytes) -> bool:
    sa = parse_sockaddr(raw)
    if not isinstance(sa, SockaddrIn | SockaddrIn6):
        return False
    return bool(policy_address(sa).is_loopback)


def sys_sendto(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements sendto(2) with a destination address under the network policy."""
    vnet = k.vnet
    length = ctx.args[5] & 0xFFFFFFFF
    if vnet is None or length == 0 or ctx.args[4] == 0:
        return PASS  # no address: the kernel reads none
    fd = ctx.args[0] & 0xFFFFFFFF
    em = nlroute.emulated(k, ctx.tid, fd)
    if em is not None:
        return nlroute.sendto(k, ctx, em)
    raw = _read_addr(ctx, ctx.args[4], length)
    task = _task(k, ctx)
    path = _unix_pathname(k, raw)
    if path is not None:
        tid, buf, size = ctx.tid, ctx.args[1], ctx.args[2]
        return _unix_datagram(k, ctx, fd, raw, path, lambda: _read_buf(tid, buf, size), ctx.args[3] & 0xFFFFFFFF)
    protocol, _stream = _sock_kind(k, ctx.tid, fd)
    out = _decided(k, ctx, vnet.send(raw, protocol=protocol, pid=k.tgid_of(ctx.tid)), f"send to {_describe(raw)}")
    if not isinstance(out, bytes | None):
        return out
    return Rewrite(((4, scratch.place(task, ctx, out if out is not None else raw)),))


def sys_sendmsg(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements sendmsg(2) under the network policy: msghdr and address copied."""
    vnet = k.vnet
    if vnet is None:
        return PASS
    fd = ctx.args[0] & 0xFFFFFFFF
    em = nlroute.emulated(k, ctx.tid, fd)
    if em is not None:
        return nlroute.sendmsg(k, ctx, em)
    try:
        hdr = memory.read(ctx.tid, ctx.args[1], _MSGHDR.size)
    except (OSError, OverflowError):
        return Emulate(-errno.EFAULT)
    name, namelen, iov, iovlen, control, controllen, flags = _MSGHDR.unpack(hdr)
    task = _task(k, ctx)
    if name == 0:
        namelen = 0
    if namelen & 0x80000000:
        return Emulate(-errno.EINVAL)
    namelen = min(namelen, SOCKADDR_STORAGE_SIZE)  # copy_msghdr_from_user truncates
    placed_name = 0
    if namelen:
        raw = _read_addr(ctx, name, namelen)
        path = _unix_pathname(k, raw)
        if path is not None:
            if control and controllen:
                return Deny(errno.EPERM, f"--net {k.net_mode}: sendmsg with control data to a unix pathname")
            tid = ctx.tid
            return _unix_datagram(k, ctx, fd, raw, path, lambda: _read_iov(tid, iov, iovlen, UNIX_DATAGRAM_MAX),
                                  ctx.args[2] & 0xFFFFFFFF)
        protocol, _stream = _sock_kind(k, ctx.tid, fd)
        out = _decided(k, ctx, vnet.send(raw, protocol=protocol, pid=k.tgid_of(ctx.tid)),
                       f"sendmsg to {_describe(raw)}")
        if not isinstance(out, bytes | None):
            return out
        placed_name = scratch.place(task, ctx, out if out is not None else raw)
    copy = _MSGHDR.pack(placed_name, namelen, iov, iovlen, control, controllen, flags)
    return Rewrite(((1, scratch.place(task, ctx, copy)),))


def sys_sendmmsg(k: Kernel, ctx: SyscallContext) -> Outcome:
    """sendmmsg(2) under the network policy: emulated for IP datagram sockets, else refused.

    The kernel writes each entry's ``msg_len`` back into the array, so the
    array cannot be handed over from the read-only scratch page; instead
    the tracer reads every entry, its address and its data once, checks the
    addresses and sends the datagrams itself on its duplicate of the socket
    (MSG_DONTWAIT: the tracer never blocks), then writes the ``msg_len``
    fields back.  Entries with control messages (SCM_RIGHTS would name the
    tracer's fds), stream and non-IP sockets: EPERM.
    """
    if k.vnet is None:
        return PASS
    refuse = Deny(errno.EPERM, f"--net {k.net_mode}: sendmmsg is only emulated for IP datagram sockets")
    vec, vlen, flags = ctx.args[1], min(ctx.args[2] & 0xFFFFFFFF, UIO_MAXIOV), ctx.args[3] & 0xFFFFFFFF
    dup = _grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        sock = socket.socket(fileno=dup)
    except OSError as e:
        os.close(dup)
        raise GuestError(e.errno or errno.ENOTSOCK) from None
    with sock:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_DGRAM:
            return refuse
        if vlen == 0:
            return Emulate(0)
        protocol = _PROTOCOLS.get(sock.proto, Protocol.UDP)
        try:
            entries = memory.read(ctx.tid, vec, vlen * _MMSGHDR_SIZE)
        except (OSError, OverflowError):
            return Emulate(-errno.EFAULT)
        sent = 0
        for i in range(vlen):
            name, namelen, iov, iovlen, control, controllen, _ = _MSGHDR.unpack_from(entries, i * _MMSGHDR_SIZE)
            try:
                if control and controllen:
                    if sent == 0:
                        return refuse
                    break
                raw = b""
                if name and namelen:
                    if namelen & 0x80000000:
                        raise GuestError(errno.EINVAL)
                    raw = _read_addr(ctx, name, min(namelen, SOCKADDR_STORAGE_SIZE))
                    verdict = k.vnet.send(raw, protocol=protocol, pid=k.tgid_of(ctx.tid))
                    out = _decided(k, ctx, verdict, f"sendmmsg to {_describe(raw)}")
                    if not isinstance(out, bytes | None):
                        if sent == 0:
                            return out
                        break
                    if out is not None:
                        raw = out
                data = _read_iov(ctx.tid, iov, iovlen)
                n = _sendmsg_raw(sock.fileno(), data, raw, flags | socket.MSG_DONTWAIT)
            except GuestError as e:
                if sent == 0:
                    return Emulate(-e.errno)
                break
            try:
                memory.write(ctx.tid, vec + i * _MMSGHDR_SIZE + _MSGHDR.size, n.to_bytes(4, "little"))
            except OSError:
                if sent == 0:
                    return Emulate(-errno.EFAULT)
                break
            sent += 1
        return Emulate(sent)


def _unix_pathname(k: Kernel, raw: bytes) -> bytes | None:
    """The path of a pathname unix destination the policy checks (outside --net host), else None."""
    if k.net_mode == "host" or len(raw) < 3 or raw[0] != socket.AF_UNIX or raw[1] != 0 or raw[2] == 0:
        return None
    sa = parse_sockaddr(raw)
    return sa.name if isinstance(sa, SockaddrUn) and sa.kind is UnixKind.PATHNAME else None


def _unix_datagram(k: Kernel, ctx: SyscallContext, fd: int, raw: bytes, path: bytes,
                   data: Callable[[], bytes], flags: int) -> Outcome:
    """sendto/sendmsg with a pathname unix destination, done by the tracer on its duplicate.

    On a SOCK_DGRAM socket the destination must be a socket a guest process
    holds (:func:`umlpy.vkernel.unixsock.check_target`); the datagram then goes
    to exactly the socket file checked (``/proc/self/fd/<O_PATH fd>``), whatever
    a racing thread does to the path.  Other socket types reject or ignore an
    address without resolving it: the tracer sends with the guest's bytes and
    the kernel answers as it would.  Sent with MSG_DONTWAIT (the tracer never
    blocks): a blocking send to a full receiver fails with EAGAIN instead of
    waiting, and a receiver with SO_PASSCRED sees the tracer's pid.
    """
    dup = _grab(k, ctx.tid, fd)
    try:
        _protocol, stream = _kind_of(dup)
        if stream:
            return Emulate(_sendmsg_raw(dup, data(), raw, flags | socket.MSG_DONTWAIT))
        target = unixsock.open_target(k, ctx, path)
        try:
            refused = unixsock.check_target(k, target, path, listening=False)
            if refused is not None:
                return refused
            return Emulate(_sendmsg_raw(dup, data(), unixsock.target_address(target), flags | socket.MSG_DONTWAIT))
        finally:
            os.close(target)
    finally:
        os.close(dup)


def _read_buf(tid: int, addr: int, size: int) -> bytes:
    if size > UNIX_DATAGRAM_MAX:
        raise GuestError(errno.EMSGSIZE)
    try:
        return memory.read(tid, addr, size) if size else b""
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None


def _read_iov(tid: int, iov: int, iovlen: int, limit: int = MAX_DATAGRAM) -> bytes:
    if iovlen > UIO_MAXIOV:
        raise GuestError(errno.EMSGSIZE)
    try:
        vec = memory.read(tid, iov, iovlen * 16) if iovlen else b""
        parts = []
        total = 0
        for j in range(iovlen):
            base, length = struct.unpack_from("=QQ", vec, j * 16)
            total += length
            if total > limit:
                raise GuestError(errno.EMSGSIZE)
            parts.append(memory.read(tid, base, length))
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
    return b"".join(parts)


def _sendmsg_raw(fd: int, data: bytes, name: bytes, flags: int) -> int:
    """sendmsg(2) of ``data`` to the raw sockaddr ``name`` (b"": none); GuestError on failure."""
    buf = ctypes.create_string_buffer(data, len(data) or 1)
    addr = ctypes.create_string_buffer(name, len(name) or 1)
    iov = (ctypes.c_uint64 * 2)(ctypes.addressof(buf), len(data))
    hdr = ctypes.create_string_buffer(_MSGHDR.pack(ctypes.addressof(addr) if name else 0, len(name),
                                                   ctypes.addressof(iov), 1, 0, 0, 0))
    try:
        return _ffi.raw_syscall(NR_SENDMSG, fd, ctypes.addressof(hdr), flags)
    except OSError as e:
        raise GuestError(e.errno or errno.EIO) from None


def sys_bind(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements bind(2): guest IP binds go where the port table says (host loopback when isolated)."""
    vnet = k.vnet
    if vnet is None:
        return PASS
    fd, length = ctx.args[0] & 0xFFFFFFFF, ctx.args[2] & 0xFFFFFFFF
    em = nlroute.emulated(k, ctx.tid, fd)
    if em is not None:
        return nlroute.bind(k, ctx, em)
    raw = _read_addr(ctx, ctx.args[1], length)
    task = _task(k, ctx)
    protocol, stream = _sock_kind(k, ctx.tid, fd)
    if not raw:
        return Emulate(-errno.EINVAL)
    plan = vnet.bind(raw, protocol=protocol)
    match plan:
        case None:
            return Rewrite(((1, scratch.place(task, ctx, raw)),))
        case BadSockaddr():
            return Emulate(-plan.errno)
        case BindRefused():
            sa = parse_sockaddr(raw)
            _log_bind(k, ctx.tid, plan, sa if isinstance(sa, SockaddrIn | SockaddrIn6) else None, protocol)
            return Deny(plan.errno, f"--net {k.net_mode}: bind: {plan.reason}")
    assert isinstance(plan, BindPlan)
    host = encode_sockaddr(plan.host)
    tid = ctx.tid

    def bound(ret: int) -> None:
        if ret != 0:
            return
        got, cookie = _host_sockname(k, tid, fd)
        host_raw = got if got is not None else host
        try:
            guest_raw = vnet.bound(plan, host_raw)
        except TypeError:
            return
        if cookie:
            vnet.note_bound(cookie, guest_raw, host_raw)
            k.note_socket(cookie)
        if plan.published is not None and vnet.ports.published:
            if stream:  # reachable once listening: reported by listen(2)
                vnet.listening_soon[cookie] = vnet.ports.published[-1]
            elif k.on_publish is not None:
                k.on_publish(vnet.ports.published[-1])
        view = parse_sockaddr(guest_raw)
        _log_bind(k, tid, plan, view if isinstance(view, SockaddrIn | SockaddrIn6) else None, protocol)
        return

    return Rewrite(((1, scratch.place(task, ctx, host)),), bound)


def sys_listen(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Emulates listen(2) on the tracer's duplicate of the socket.

    listen(2) on an unbound IP socket binds it to the wildcard address and
    an ephemeral port: a guest server would be reachable from the network.
    The tracer first binds such a socket where the port table says (host
    loopback when isolated), then calls listen itself on the same open
    file description.  Emulating (rather than letting the guest's call run)
    makes a dup2 of another, unbound socket over the fd in between harmless.
    """
    vnet = k.vnet
    if vnet is None:
        return PASS
    backlog = ctx.args[1] & 0xFFFFFFFF
    backlog = backlog - (1 << 32) if backlog & 0x80000000 else backlog
    dup = _grab(k, ctx.tid, ctx.args[0] & 0xFFFFFFFF)
    try:
        s = socket.socket(fileno=dup)
    except OSError as e:
        os.close(dup)
        raise GuestError(e.errno or errno.ENOTSOCK) from None
    try:
        if s.family in (socket.AF_INET, socket.AF_INET6) and s.getsockname()[1] == 0:
            _autobind(k, ctx.tid, s)
        try:
            _ffi.raw_syscall(50, s.fileno(), backlog)  # listen
        except OSError as e:
            return Emulate(-(e.errno or errno.EINVAL))
        if vnet.listening_soon:
            published = vnet.listening_soon.pop(_cookie(s.fileno()), None)
            if published is not None and k.on_publish is not None:
                k.on_publish(published)
        return Emulate(0)
    finally:
        s.close()


def _autobind(k: Kernel, tid: int, s: socket.socket) -> None:
    """Bind an unbound IP socket as the port table says, as listen(2)'s autobind would."""
    assert k.vnet is not None
    stream = s.type == socket.SOCK_STREAM
    protocol = _PROTOCOLS.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL),
                              Protocol.TCP if stream else Protocol.UDP)
    wildcard = "0.0.0.0" if s.family == socket.AF_INET else "::"
    plan = k.vnet.bind(encode_sockaddr(inet_sockaddr(wildcard, 0)), protocol=protocol)
    if not isinstance(plan, BindPlan):
        return
    try:
        s.bind((str(plan.host.address), plan.host.port))
        host_raw = _ffi.sockname_raw(s.fileno())
    except OSError:
        return  # the guest bound it meanwhile: its own bind was checked
    guest_raw = k.vnet.bound(plan, host_raw)
    cookie = _cookie(s.fileno())
    k.vnet.note_bound(cookie, guest_raw, host_raw)
    k.note_socket(cookie)
    view = parse_sockaddr(guest_raw)
    _log_bind(k, tid, plan, view if isinstance(view, SockaddrIn | SockaddrIn6) else None, protocol)


def _describe(raw: bytes) -> str:
    sa = parse_sockaddr(raw)
    if isinstance(sa, SockaddrIn):
        return f"{sa.address}:{sa.port}"
    if isinstance(sa, SockaddrIn6):
        return f"[{sa.address}]:{sa.port}"
    return type(sa).__name__
