"""What getsockname(2), getpeername(2) and accept(2) show a guest socket.

The guest's IP sockets are host sockets whose addresses the port table
(:mod:`umlpy.vnet.ports`) may have moved: a guest bind to ``0.0.0.0:8000``
is a host bind to ``127.0.0.1:H``; a guest connect to eth0's ``10.0.2.15:8000``
is a host connect to ``127.0.0.1:H``.  The host kernel answers in host terms;
this module turns the answer back into what Linux would have told the guest
had its addresses been real (ip(7), "Address format"; getsockname(2)):

* a socket's own bind reads back as bound — the wildcard stays the wildcard,
  a port stays the guest's port — while it is unconnected; once connected,
  a wildcard-bound socket shows the address the connection uses;
* a client reads back the peer it connected to (``0.0.0.0``/``::`` as loopback,
  as the kernel substitutes it in ``inet_stream_connect``/``ip4_datagram_connect``);
* a connection between two guest sockets (a *flow*, recorded at connect)
  shows, on the accepting side, the address the client asked for as the local
  address, and as the peer address the source the client would have used:
  that same address when it is one of the guest's interface addresses (Linux
  picks the destination's own address as source for a local destination),
  else the host's loopback;
* anything else goes through :meth:`PortTable.to_guest` (a host port that
  backs a guest binding shows as the guest's port).

Sockets are named by an opaque integer the caller chooses (the vkernel uses
the socket cookie, SO_COOKIE, unique for the host's uptime); no pid here.
Entries are dropped with :meth:`SocketViews.forget` when the socket is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from umlpy.vnet.ports import PortTable
from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import (
    LOOPBACK4,
    LOOPBACK6,
    InetSockaddr,
    IPAddress,
    SockaddrIn,
    policy_address,
    with_address,
)

Endpoint = tuple[IPAddress, int]


def endpoint(sa: InetSockaddr) -> Endpoint:
    """(address with IPv4-mapped folded, port): how two sockaddrs are compared."""
    return (policy_address(sa), sa.port)


@dataclass(frozen=True, slots=True)
class _Side:
    guest: InetSockaddr  # what the guest sees
    host: Endpoint  # the host endpoint it stands for


def _connected_view(dest: InetSockaddr) -> InetSockaddr:
    """A connect destination as getpeername(2) reports it: the unspecified address is loopback."""
    address = policy_address(dest)
    if not address.is_unspecified:
        return dest
    return with_address(dest, LOOPBACK4 if address.version == 4 else LOOPBACK6, dest.port)


class SocketViews:
    """Per-socket guest views of local and peer addresses."""

    def __init__(self, ports: PortTable) -> None:
        self.ports = ports
        self._local: dict[int, _Side] = {}
        self._peer: dict[int, _Side] = {}
        self._flows: dict[tuple[Endpoint, Endpoint], InetSockaddr] = {}
        self._flow_of: dict[int, tuple[Endpoint, Endpoint]] = {}

    def __len__(self) -> int:
        return len(self._local) + len(self._peer)

    def bound(self, sock: int, guest: InetSockaddr, host: InetSockaddr) -> None:
        """``sock`` was bound: the guest asked for (and sees) ``guest``; the host gave ``host``."""
        self._local[sock] = _Side(guest, endpoint(host))

    def connected(self, sock: int, guest: InetSockaddr, host_peer: InetSockaddr,
                  host_local: InetSockaddr | None = None) -> None:
        """``sock`` connected to the guest's destination ``guest`` (host: ``host_peer``).

        ``host_local``, the client's host address once connected, makes the
        connection a flow the accepting guest socket can be matched with.
        """
        self._peer[sock] = _Side(_connected_view(guest), endpoint(host_peer))
        old = self._flow_of.pop(sock, None)
        if old is not None:
            self._flows.pop(old, None)
        if host_local is not None:
            key = (endpoint(host_local), endpoint(host_peer))
            self._flows[key] = guest
            self._flow_of[sock] = key

    def forget(self, sock: int) -> None:
        """``sock`` is gone."""
        self._local.pop(sock, None)
        self._peer.pop(sock, None)
        key = self._flow_of.pop(sock, None)
        if key is not None:
            self._flows.pop(key, None)

    def _is_interface(self, address: IPAddress) -> bool:
        return address in self.ports.guest_addresses and not address.is_loopback and not address.is_unspecified

    def _flow_dest(self, sock: int, host_local: InetSockaddr,
                   host_peer: InetSockaddr | None) -> InetSockaddr | None:
        """The guest destination of the connection ``sock`` is an end of, if known."""
        rec = self._peer.get(sock)
        if rec is not None:
            return rec.guest
        if host_peer is None:
            return None
        return self._flows.get((endpoint(host_peer), endpoint(host_local)))

    def _as(self, sa: InetSockaddr, address: IPAddress) -> InetSockaddr:
        if isinstance(sa, SockaddrIn) and address.version != 4:
            return sa
        return with_address(sa, address, sa.port)

    def local(self, sock: int, host_local: InetSockaddr, host_peer: InetSockaddr | None,
              protocol: Protocol) -> InetSockaddr:
        """getsockname(2) of ``sock``, whose host name is ``host_local`` (peer: ``host_peer``)."""
        rec = self._local.get(sock)
        if rec is not None and rec.host == endpoint(host_local):
            view = rec.guest
            if host_peer is None or not policy_address(view).is_unspecified:
                return view
        else:
            view = self.ports.to_guest(host_local, protocol)
            if host_peer is None:
                return view
        dest = self._flow_dest(sock, host_local, host_peer)
        if dest is not None and self._is_interface(policy_address(dest)):
            return self._as(view, policy_address(dest))
        if policy_address(view).is_unspecified:
            return self._as(view, policy_address(host_local))
        return view

    def peer(self, sock: int, host_peer: InetSockaddr, host_local: InetSockaddr | None,
             protocol: Protocol) -> InetSockaddr:
        """getpeername(2) (or accept(2)'s address) of ``sock``, whose host peer is ``host_peer``."""
        rec = self._peer.get(sock)
        if rec is not None and rec.host == endpoint(host_peer):
            return rec.guest
        view = self.ports.to_guest(host_peer, protocol)
        if host_local is None:
            return view
        dest = self._flows.get((endpoint(host_peer), endpoint(host_local)))
        if dest is not None and self._is_interface(policy_address(dest)):
            return self._as(view, policy_address(dest))
        return view
