"""NETLINK_ROUTE sockets answered by umlpy: under ``--net none``/``loopback`` the guest's
interfaces and routes are the virtual ones (:mod:`umlpy.vnet.netlink`).

Design.  The filter cannot tell a netlink socket from a TCP one, so trapping "the netlink
socket's send and receive calls" means trapping every recvmsg/recvfrom (and every
address-less sendto: iproute2 sends its dumps with plain send(2)) of every socket and
deciding in the handler.  That puts a stop on the data path of every socket — against
the issue's rule that data calls on accounted sockets never trap — for calls that a
typical guest makes once.  Instead the guest's NETLINK_ROUTE socket *is* a local
socket whose peer is the tracer, and its data calls run natively:

1. socket(AF_NETLINK, SOCK_RAW|SOCK_DGRAM [|SOCK_CLOEXEC|SOCK_NONBLOCK], NETLINK_ROUTE)
   stops (the filter lets AF_UNIX/AF_INET/AF_INET6 through natively, AF_NETLINK stops;
   other netlink protocols pass through).  The registers become
   socket(AF_UNIX, SOCK_DGRAM|flags, 0); at the call's exit the tracer takes a duplicate
   of the new fd (pidfd_getfd), autobinds it and connects it to the sandbox's
   *service socket*, a unix datagram socket the tracer owns (:class:`NetlinkService`).
2. Requests.  sendto(2) with an address (glibc's getifaddrs/if_nameindex, Go) and
   sendmsg(2) (libnl, sd-netlink, iproute2's rtnl_talk) stop anyway under the network
   policy: the handler reads the request once, queues the answer and emulates the call,
   so the answer is there before the call returns, as with the kernel.  send(2)/write(2)
   without an address (iproute2's dumps, musl) run natively: the request lands in the
   service socket's queue and a tracer thread answers it.  A blocking reader just waits
   for it; a MSG_DONTWAIT read straight after such a send (musl's getifaddrs) can see
   EAGAIN before the thread has answered.
3. Replies are datagrams from the service socket, packed like the kernel's dump skbs
   (:func:`umlpy.vnet.netlink.answer_datagrams`); recv/recvfrom/recvmsg/read never stop,
   and MSG_PEEK|MSG_TRUNC sizing (iproute2) works as on netlink.  The service socket's
   abstract name is 10 bytes, ``\\0`` + five zero bytes + four random ones, so the sender
   address recvmsg(2) reports is 12 bytes long with bytes 4-7 zero: what glibc and
   iproute2 check as ``nl_pid == 0`` ("from the kernel") and
   ``msg_namelen == sizeof(struct sockaddr_nl)``.
4. bind/connect/getsockname/getpeername on such a socket are emulated: getsockname shows
   a ``sockaddr_nl`` with a virtual port id (the tgid for the first socket, then
   negative ids, as netlink_autobind picks them), which the replies carry in nlmsg_pid.

Identity: the guest socket's inode (``stat /proc/TID/fd/N``), and its autobind name
for datagrams arriving at the service socket.  A handler that finds the fd is not one
of these passes on to the IP policy; the check is skipped for fd tables that hold no
emulated socket (:func:`emulated`).  A racing thread that swaps the fd only ever gets
a call on its own unix socket refused or emulated.

Differences a guest can see: the sender family recvmsg reports is AF_UNIX;
getsockopt(SO_DOMAIN/SO_PROTOCOL) tells AF_UNIX/0; setsockopt(SOL_NETLINK, ...) fails
with EOPNOTSUPP (iproute2 ignores it and filters dumps itself); multicast groups are
accepted and never deliver (the virtual network never changes).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Emulate, GuestError, Outcome, Rewrite

if TYPE_CHECKING:
    from umlpy.vkernel.state import Kernel
    from umlpy.vnet.interfaces import VirtualInterfaces

log = logging.getLogger(__name__)

NETLINK_ROUTE = 0
SOCK_TYPE_MASK = 0xF
SOCK_FLAGS = socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
_SOCKADDR_NL = struct.Struct("=HHII")  # nl_family, nl_pad, nl_pid, nl_groups
_MSGHDR = struct.Struct("=QI4xQQQQi4x")
MAX_REQUEST = 65536  # above any rtnetlink request a reader could want answered
MAX_TRACKED = 4096  # emulated sockets remembered (oldest forgotten first)
_FIRST_ROVER = -4096  # netlink_autobind's first negative port id


@dataclass(slots=True)
class EmulatedSocket:
    """One guest NETLINK_ROUTE socket: its unix autobind name and its virtual port id."""

    name: bytes
    inode: int
    portid: int
    groups: int = 0


class NetlinkService:
    """The tracer's end of every emulated NETLINK_ROUTE socket of one sandbox."""

    def __init__(self, interfaces: VirtualInterfaces) -> None:
        self.interfaces = interfaces
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        for _ in range(64):
            name = b"\0" + bytes(5) + os.urandom(4)
            try:
                self.sock.bind(name)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
        else:
            raise OSError(errno.EADDRINUSE, "no free abstract name for the netlink service")
        self.name = name
        self.sock.setblocking(False)
        self.by_name: dict[bytes, EmulatedSocket] = {}
        self.by_inode: dict[int, EmulatedSocket] = {}
        self._portids: set[int] = set()
        self._rover = _FIRST_ROVER
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._serve, name="umlpy-netlink", daemon=True)
        self._thread.start()

    # -- registry ----------------------------------------------------------------
    def adopt(self, dup: int, tgid: int) -> EmulatedSocket | None:
        """Make the fresh unix datagram socket ``dup`` (the tracer's duplicate of the
        guest's) an emulated netlink socket: autobind it, connect it here."""
        s = socket.socket(fileno=os.dup(dup))
        try:
            if s.family != socket.AF_UNIX or s.type != socket.SOCK_DGRAM or s.getsockname():
                return None  # a racing thread put another socket there
            s.bind(b"")  # autobind: an abstract name the service replies to
            s.connect(self.name)
            name = s.getsockname()
            inode = os.fstat(dup).st_ino
        except OSError as e:
            log.warning("cannot emulate a netlink socket: %s", e)
            return None
        finally:
            s.close()
        assert isinstance(name, bytes)
        with self._lock:
            em = EmulatedSocket(name, inode, self._new_portid(tgid))
            self._forget(self.by_name.get(name))
            self._forget(self.by_inode.get(inode))
            while len(self.by_inode) >= MAX_TRACKED:
                self._forget(next(iter(self.by_inode.values())))
            self.by_name[name] = em
            self.by_inode[inode] = em
            self._portids.add(em.portid)
        return em

    def _new_portid(self, tgid: int) -> int:
        if tgid not in self._portids:
            return tgid
        while self._rover & 0xFFFFFFFF in self._portids:
            self._rover -= 1
        portid = self._rover & 0xFFFFFFFF
        self._rover -= 1
        return portid

    def _forget(self, em: EmulatedSocket | None) -> None:
        if em is None:
            return
        self.by_name.pop(em.name, None)
        self.by_inode.pop(em.inode, None)
        self._portids.discard(em.portid)

    def rebind(self, em: EmulatedSocket, portid: int, groups: int) -> int:
        """bind(2) to a chosen port id (0: keep the automatic one); 0 or -errno."""
        with self._lock:
            if portid and portid != em.portid:
                if portid in self._portids:
                    return -errno.EADDRINUSE
                self._portids.discard(em.portid)
                em.portid = portid
                self._portids.add(portid)
            em.groups = groups
        return 0

    # -- requests ----------------------------------------------------------------
    def request(self, em: EmulatedSocket, data: bytes) -> None:
        """Answer ``data`` sent by ``em``, after whatever it sent natively before."""
        with self._lock:
            self._drain()
            self._answer(em, data)

    def _answer(self, em: EmulatedSocket, data: bytes) -> None:
        from umlpy.vnet.netlink import answer_datagrams  # pyroute2: ~70 ms, on first use

        for dgram in answer_datagrams(data, self.interfaces, portid=em.portid):
            try:
                self.sock.sendto(dgram, socket.MSG_DONTWAIT, em.name)
            except BlockingIOError:
                log.debug("netlink reply dropped: the guest's receive queue is full")
                return
            except OSError as e:  # the guest closed it
                log.debug("netlink reply dropped: %s", e)
                self._forget(em)
                return

    def _drain(self) -> None:
        while True:
            try:
                data, source = self.sock.recvfrom(MAX_REQUEST, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as e:
                log.debug("netlink service: %s", e)
                return
            em = self.by_name.get(source) if isinstance(source, bytes) else None
            if em is not None:
                self._answer(em, data)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self.sock.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                return
            with self._lock:
                self._drain()

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.sock.close()


# -- handlers (called from umlpy.vkernel.net) --------------------------------------------


def emulated(k: Kernel, tid: int, fd: int) -> EmulatedSocket | None:
    """The emulated socket the guest's ``fd`` is, if any.

    Free for a task whose fd table never got one; else a stat of /proc/TID/fd/N
    (~10 us from the tracer).  A miss also forgets the table's marks whose fd no longer
    holds its socket (glibc closes its netlink socket at once), so the check goes
    back to free.  Not recognised: a netlink socket received over SCM_RIGHTS by a
    process that never made one, or a dup whose original number was closed.
    """
    service = k.nlroute
    task = k.tasks.get(tid)
    if service is None or task is None or not task.files.netlink:
        return None
    inode = _inode(tid, fd & 0xFFFFFFFF)
    em = service.by_inode.get(inode) if inode is not None else None
    if em is None:
        marks = task.files.netlink
        for n, ino in list(marks.items()):
            if (inode if n == fd & 0xFFFFFFFF else _inode(tid, n)) != ino:
                del marks[n]
    return em


def _inode(tid: int, fd: int) -> int | None:
    try:
        st = os.stat(f"/proc/{tid}/fd/{fd}")
    except OSError:
        return None
    return st.st_ino if stat.S_ISSOCK(st.st_mode) else None


def sys_socket(k: Kernel, ctx: SyscallContext) -> Outcome:
    """socket(AF_NETLINK, ..., NETLINK_ROUTE) becomes a unix datagram socket served here."""
    kind, protocol = ctx.args[1] & 0xFFFFFFFF, ctx.args[2] & 0xFFFFFFFF
    if protocol != NETLINK_ROUTE:
        return PASS
    flags = kind & ~SOCK_TYPE_MASK
    if flags & ~SOCK_FLAGS:
        return Emulate(-errno.EINVAL)
    if kind & SOCK_TYPE_MASK not in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        return Emulate(-errno.ESOCKTNOSUPPORT)
    tid, tgid = ctx.tid, k.tgid_of(ctx.tid)

    def adopt(ret: int) -> None:
        if ret < 0:
            return
        service = k.netlink_service()
        try:
            dup = _ffi.grab_fd(tid, ret, tgid)
        except OSError:
            return  # the task died or closed it already
        try:
            em = service.adopt(dup, tgid)
        finally:
            os.close(dup)
        task = k.tasks.get(tid)
        if em is not None and task is not None:
            task.files.netlink[ret] = em.inode

    return Rewrite(((0, socket.AF_UNIX), (1, socket.SOCK_DGRAM | flags), (2, 0)), adopt)


def _read_nl_addr(ctx: SyscallContext, addr: int, length: int) -> tuple[int, int] | None:
    """(nl_pid, nl_groups) of the guest's sockaddr; None for AF_UNSPEC; GuestError else."""
    if length > 128:
        raise GuestError(errno.EINVAL)
    try:
        raw = memory.read(ctx.tid, addr, length) if length else b""
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
    if len(raw) >= 2 and raw[0] | raw[1] << 8 == socket.AF_UNSPEC:
        return None
    if len(raw) < _SOCKADDR_NL.size or raw[0] | raw[1] << 8 != socket.AF_NETLINK:
        raise GuestError(errno.EINVAL)
    _, _, pid, groups = _SOCKADDR_NL.unpack_from(raw)
    return pid, groups


def _check_destination(ctx: SyscallContext, addr: int, length: int) -> None:
    """A request goes to the kernel (port id 0) or nowhere we emulate."""
    dest = _read_nl_addr(ctx, addr, length)
    if dest is None:
        raise GuestError(errno.EINVAL)
    pid, groups = dest
    if groups:
        raise GuestError(errno.EPERM)  # rtnetlink multicast sends need CAP_NET_ADMIN
    if pid:
        raise GuestError(errno.ECONNREFUSED)  # no other netlink peer is visible


def bind(k: Kernel, ctx: SyscallContext, em: EmulatedSocket) -> Outcome:
    """bind(2) of an emulated socket: a port id and multicast groups."""
    dest = _read_nl_addr(ctx, ctx.args[1], ctx.args[2] & 0xFFFFFFFF)
    if dest is None:
        raise GuestError(errno.EINVAL)
    assert k.nlroute is not None
    return Emulate(k.nlroute.rebind(em, *dest))


def connect(ctx: SyscallContext, em: EmulatedSocket) -> Outcome:
    """connect(2) of an emulated socket: only the kernel (port id 0) is there."""
    dest = _read_nl_addr(ctx, ctx.args[1], ctx.args[2] & 0xFFFFFFFF)
    if dest is not None and dest[0]:
        raise GuestError(errno.ECONNREFUSED)
    return Emulate(0)


def sendto(k: Kernel, ctx: SyscallContext, em: EmulatedSocket) -> Outcome:
    """sendto(2) on an emulated socket: answered before it returns."""
    length = ctx.args[2]
    if ctx.args[4] and ctx.args[5] & 0xFFFFFFFF:
        _check_destination(ctx, ctx.args[4], ctx.args[5] & 0xFFFFFFFF)
    if length > MAX_REQUEST:
        raise GuestError(errno.EMSGSIZE)
    try:
        data = memory.read(ctx.tid, ctx.args[1], length) if length else b""
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
    assert k.nlroute is not None
    k.nlroute.request(em, data)
    return Emulate(len(data))


def sendmsg(k: Kernel, ctx: SyscallContext, em: EmulatedSocket) -> Outcome:
    """sendmsg(2) on an emulated socket: answered before it returns."""
    from umlpy.vkernel.net import _read_iov

    try:
        hdr = memory.read(ctx.tid, ctx.args[1], _MSGHDR.size)
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
    name, namelen, iov, iovlen, _control, _controllen, _flags = _MSGHDR.unpack(hdr)
    if name and namelen:
        _check_destination(ctx, name, namelen)
    data = _read_iov(ctx.tid, iov, iovlen)
    if len(data) > MAX_REQUEST:
        raise GuestError(errno.EMSGSIZE)
    assert k.nlroute is not None
    k.nlroute.request(em, data)
    return Emulate(len(data))


def getname(ctx: SyscallContext, em: EmulatedSocket, *, peer: bool) -> Outcome:
    """getsockname(2)/getpeername(2): a sockaddr_nl (the peer is always the kernel)."""
    raw = _SOCKADDR_NL.pack(socket.AF_NETLINK, 0, 0, 0) if peer else \
        _SOCKADDR_NL.pack(socket.AF_NETLINK, 0, em.portid, em.groups)
    return put_sockaddr(ctx, ctx.args[1], ctx.args[2], raw)


def put_sockaddr(ctx: SyscallContext, addr: int, lenp: int, raw: bytes) -> Outcome:
    """Copy ``raw`` out as move_addr_to_user does: truncated to ``*lenp``, which then
    receives the full length."""
    try:
        (ulen,) = struct.unpack("=i", memory.read(ctx.tid, lenp, 4))
    except (OSError, OverflowError, struct.error):
        raise GuestError(errno.EFAULT) from None
    if ulen < 0:
        raise GuestError(errno.EINVAL)
    try:
        if ulen:
            memory.write(ctx.tid, addr, raw[:ulen])
        memory.write(ctx.tid, lenp, struct.pack("=i", len(raw)))
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
    return Emulate(0)
