"""VirtualNetwork: the one object the socket syscall handlers talk to.

It ties the pieces together so a handler deals only in bytes and decisions:

* connect(2) / sendto(2) / sendmsg(2) / sendmmsg(2): the handler reads ``msg_name``
  (``addrlen`` bytes; an ``addrlen`` of 0 means "no address" and must not be passed) and
  calls :meth:`VirtualNetwork.connect` or :meth:`VirtualNetwork.send`. It gets a
  :class:`BadSockaddr` (fail with its errno, as the kernel would) or a :class:`Verdict`:
  on :class:`Deny` fail with ``decision.errno``; on :class:`Allow` run the call, with
  ``verdict.host`` (same length as the guest's bytes) substituted for the address when it
  is not None. ``verdict.record`` identifies the log record for byte accounting.
* bind(2): :meth:`VirtualNetwork.bind` gives a :class:`BindPlan` (bind ``plan.host``
  instead) or a refusal; after the host bind succeeded, :meth:`VirtualNetwork.bound` with
  the host's getsockname bytes returns the bytes the guest's getsockname(2) should show.
* getsockname(2) / getpeername(2) / accept(2): :meth:`VirtualNetwork.sockname` and
  :meth:`VirtualNetwork.peername` give the guest's view of one socket, from what the
  handler told :meth:`note_bound` / :meth:`note_connected` (:mod:`umlpy.vnet.views`);
  :meth:`VirtualNetwork.to_guest` rewrites any host-side address bytes (recvfrom(2)
  source addresses, say) by the port table alone.
* DNS: :meth:`VirtualNetwork.observe_dns_answer` with a received packet and its source.

Non-IP addresses: AF_UNIX and AF_NETLINK destinations are allowed here (unix paths are
the filesystem layer's business, netlink is answered by :mod:`umlpy.vnet.netlink`);
``AF_UNSPEC`` (connect(2) dissolving an association) is allowed; other families are
refused with ``EAFNOSUPPORT`` unless the mode is ``host`` (AF_VSOCK, for one, reaches the
hypervisor).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from umlpy.vnet.dns import DnsError, parse_dns_message, resolved_addresses
from umlpy.vnet.interfaces import NetConfig, VirtualInterfaces
from umlpy.vnet.log import ConnectionLog
from umlpy.vnet.policy import Allow, Decision, Deny, Mode, Policy, Resolver, system_resolver
from umlpy.vnet.ports import BindPlan, BindRefused, PortStrategy, PortTable, Published, parse_publish
from umlpy.vnet.rules import Protocol, parse_rules
from umlpy.vnet.sockaddr import (
    BadSockaddr,
    InetSockaddr,
    IPAddress,
    SockaddrIn,
    SockaddrIn6,
    SockaddrNl,
    SockaddrOpaque,
    SockaddrUn,
    SockaddrUnspec,
    encode_sockaddr,
    parse_sockaddr,
    policy_address,
)
from umlpy.vnet.views import SocketViews

log = logging.getLogger(__name__)

DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class Verdict:
    """A connect/send decision. ``host``: replacement sockaddr bytes, or None to keep
    the guest's. ``record``: the connection log record id (None for non-IP)."""

    decision: Decision
    host: bytes | None = None
    record: int | None = None

    @property
    def allowed(self) -> bool:
        return isinstance(self.decision, Allow)


def _family_name(sa: InetSockaddr) -> str:
    return "AF_INET" if isinstance(sa, SockaddrIn) else "AF_INET6"


class VirtualNetwork:
    """Policy, port table, interfaces and log of one sandbox."""

    def __init__(self, policy: Policy, ports: PortTable, interfaces: VirtualInterfaces,
                 log: ConnectionLog | None = None, *, trusted_resolvers: Iterable[IPAddress] = ()) -> None:
        self.policy = policy
        self.ports = ports
        self.interfaces = interfaces
        self.log = log if log is not None else ConnectionLog()
        self.trusted_resolvers = frozenset(trusted_resolvers)
        self.views = SocketViews(ports)
        # Published stream sockets bound but not yet listening, by socket id: a host
        # client can reach them only after listen(2), so that is when they are announced.
        self.listening_soon: dict[int, Published] = {}

    @classmethod
    def from_options(cls, mode: str = "none", rules: Sequence[tuple[str, str]] = (), publish: Sequence[str] = (),
                     *, config: NetConfig | None = None, strategy: PortStrategy = PortStrategy.SAME,
                     resolver: Resolver = system_resolver,
                     trusted_resolvers: Iterable[IPAddress] = ()) -> VirtualNetwork:
        """Build from command-line values. ``rules`` are ``(allow|deny, text)`` pairs in
        command-line order. Raises ValueError with a one-line message on bad input."""
        policy = Policy(mode, parse_rules(list(rules)), resolver=resolver)
        interfaces = VirtualInterfaces(config)
        ports = PortTable(tuple(parse_publish(p) for p in publish), isolate=policy.mode is not Mode.HOST,
                          strategy=strategy, guest_addresses=interfaces.local_addresses())
        return cls(policy, ports, interfaces, trusted_resolvers=trusted_resolvers)

    def _decide(self, raw: bytes, protocol: Protocol, *, stream: bool, pid: int, op: str) -> Verdict | BadSockaddr:
        sa = parse_sockaddr(raw)
        match sa:
            case BadSockaddr():
                return sa
            case SockaddrUn() | SockaddrNl() | SockaddrUnspec():
                return Verdict(Allow(None, "not an IP address"))
            case SockaddrOpaque():
                if self.policy.mode is Mode.HOST:
                    return Verdict(Allow(None, "mode host"))
                return Verdict(Deny(errno.EAFNOSUPPORT, None, f"address family {sa.family} is not virtualised"))
        assert isinstance(sa, SockaddrIn | SockaddrIn6)
        route = self.ports.route(sa, protocol)
        decision = self.policy.decide(route.address, route.port, protocol, stream=stream,
                                      guest_service=route.guest_service)
        record = self.log.add(
            pid=pid, op=op, family=_family_name(sa), address=str(policy_address(sa)), port=sa.port,
            protocol=protocol.name.lower(), allowed=isinstance(decision, Allow),
            rule=None if decision.rule is None else str(decision.rule),
            errno=decision.errno if isinstance(decision, Deny) else None,
            name=self.policy.name_of(route.address), reason=decision.reason)
        host = None
        if isinstance(decision, Allow) and route.host != sa:
            host = encode_sockaddr(route.host)
        return Verdict(decision, host, record)

    def connect(self, raw: bytes, *, protocol: Protocol, stream: bool, pid: int = 0) -> Verdict | BadSockaddr:
        """Decide connect(2) to the guest's sockaddr bytes ``raw``."""
        return self._decide(raw, protocol, stream=stream, pid=pid, op="connect")

    def send(self, raw: bytes, *, protocol: Protocol, pid: int = 0) -> Verdict | BadSockaddr:
        """Decide sendto(2)/sendmsg(2)/one sendmmsg(2) entry with an explicit address."""
        return self._decide(raw, protocol, stream=False, pid=pid, op="send")

    def bind(self, raw: bytes, *, protocol: Protocol) -> BindPlan | BindRefused | BadSockaddr | None:
        """Plan bind(2). None means "not an IP address: pass through"."""
        sa = parse_sockaddr(raw)
        if isinstance(sa, BadSockaddr):
            return sa
        if not isinstance(sa, SockaddrIn | SockaddrIn6):
            return None
        return self.ports.plan_bind(sa, protocol)

    def bound(self, plan: BindPlan, host_raw: bytes) -> bytes:
        """Record a successful host bind (``host_raw``: the host's getsockname bytes);
        returns the guest's getsockname bytes."""
        host = parse_sockaddr(host_raw)
        if not isinstance(host, SockaddrIn | SockaddrIn6):
            raise TypeError(f"host getsockname gave {host!r}, not an IP address")
        return encode_sockaddr(self.ports.bound(plan, host.port))

    def to_guest(self, host_raw: bytes, protocol: Protocol) -> bytes:
        """Host-side address bytes in the guest's view (unchanged when nothing maps)."""
        host = parse_sockaddr(host_raw)
        if not isinstance(host, SockaddrIn | SockaddrIn6):
            return host_raw
        guest = self.ports.to_guest(host, protocol)
        return host_raw if guest == host else encode_sockaddr(guest)

    def note_bound(self, sock: int, guest_raw: bytes, host_raw: bytes) -> None:
        """Socket ``sock`` is bound: the guest sees ``guest_raw`` (from :meth:`bound`), the
        host's getsockname gave ``host_raw``."""
        guest, host = parse_sockaddr(guest_raw), parse_sockaddr(host_raw)
        if isinstance(guest, SockaddrIn | SockaddrIn6) and isinstance(host, SockaddrIn | SockaddrIn6):
            self.views.bound(sock, guest, host)

    def note_connected(self, sock: int, guest_raw: bytes, host_peer_raw: bytes,
                       host_local_raw: bytes | None = None) -> None:
        """Socket ``sock`` connected to the guest's ``guest_raw`` (the host's ``host_peer_raw``);
        ``host_local_raw``: its host getsockname once connected, when known."""
        guest, peer = parse_sockaddr(guest_raw), parse_sockaddr(host_peer_raw)
        local = parse_sockaddr(host_local_raw) if host_local_raw is not None else None
        if isinstance(guest, SockaddrIn | SockaddrIn6) and isinstance(peer, SockaddrIn | SockaddrIn6):
            self.views.connected(sock, guest, peer, local if isinstance(local, SockaddrIn | SockaddrIn6) else None)

    def sockname(self, sock: int, host_local_raw: bytes, host_peer_raw: bytes | None, protocol: Protocol) -> bytes:
        """getsockname(2) bytes for the guest, from the host's names of socket ``sock``."""
        local = parse_sockaddr(host_local_raw)
        peer = parse_sockaddr(host_peer_raw) if host_peer_raw is not None else None
        if not isinstance(local, SockaddrIn | SockaddrIn6):
            return host_local_raw
        view = self.views.local(sock, local, peer if isinstance(peer, SockaddrIn | SockaddrIn6) else None, protocol)
        return host_local_raw if view == local else encode_sockaddr(view)

    def peername(self, sock: int, host_peer_raw: bytes, host_local_raw: bytes | None, protocol: Protocol) -> bytes:
        """getpeername(2) / accept(2) address bytes for the guest."""
        peer = parse_sockaddr(host_peer_raw)
        local = parse_sockaddr(host_local_raw) if host_local_raw is not None else None
        if not isinstance(peer, SockaddrIn | SockaddrIn6):
            return host_peer_raw
        view = self.views.peer(sock, peer, local if isinstance(local, SockaddrIn | SockaddrIn6) else None, protocol)
        return host_peer_raw if view == peer else encode_sockaddr(view)

    def observe_dns_answer(self, packet: bytes, source_raw: bytes, *, tcp: bool = False) -> bool:
        """Learn name -> address mappings from a DNS answer the guest received.

        Only packets from port 53 of a trusted resolver address count: a guest can craft
        an "answer" and send it to itself, so the source (as reported by the host kernel,
        before any rewriting) must be a resolver the user trusts. Returns whether the
        policy learned anything.
        """
        source = parse_sockaddr(source_raw)
        if not isinstance(source, SockaddrIn | SockaddrIn6) or source.port != DNS_PORT:
            return False
        if policy_address(source) not in self.trusted_resolvers:
            log.debug("ignoring DNS answer from untrusted %s", source)
            return False
        try:
            msg = parse_dns_message(packet, tcp=tcp)
        except DnsError as e:
            log.debug("unparsable DNS answer: %s", e)
            return False
        learned = False
        for name, addresses in resolved_addresses(msg).items():
            learned |= self.policy.learn(name, addresses)
        return learned

