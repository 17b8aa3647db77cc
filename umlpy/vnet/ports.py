"""Port mapping between the guest's view and the host's sockets.

The guest's sockets are real host sockets, so a guest ``bind(0.0.0.0:8080)`` would expose a
service on the host's network. The port table decides, for each guest bind, what the host
socket really binds (:meth:`PortTable.plan_bind`), records the result once the host bind
succeeded (:meth:`PortTable.bound`), and rewrites addresses both ways so the guest only
ever sees its own view:

* guest -> host (:meth:`PortTable.route`): for connect(2)/sendto(2)/sendmsg(2). A
  destination that is this machine in the guest's view (loopback, ``0.0.0.0``/``::``,
  or one of the guest's virtual interface addresses such as eth0's ``10.0.2.15``) goes to
  host loopback, and a port the guest bound goes to the host port it really got.
* host -> guest (:meth:`PortTable.to_guest`): for getsockname(2), getpeername(2),
  accept(2), recvfrom(2)/recvmsg(2) source addresses: a host port that backs a guest
  binding shows as the guest's port (and its specific guest address, if it bound one).

Host address of a guest bind (see ip(7) on INADDR_ANY / INADDR_LOOPBACK):

* a published port (``--publish [[ADDR:]HOST:]GUEST[/tcp|udp]``, like ``docker run -p``)
  binds ``ADDR`` (default the wildcard) at ``HOST`` (none or empty: a port the host
  kernel picks, listed in :attr:`PortTable.published` once bound) — unless the guest
  bound loopback only, which stays loopback;
* otherwise, with ``isolate`` (policy modes ``none`` and ``loopback``), host loopback of
  the same family, so nothing outside the host can reach a guest service. Limitation:
  an IPv6 wildcard bind (dual-stack ``::``) becomes ``::1``, so guest clients must
  reach it over IPv6;
* otherwise (mode ``host``) the guest's own address, with a virtual interface address
  turned into the wildcard.

Host port: the published one; else with ``PortStrategy.EPHEMERAL`` port 0 (the host
kernel picks one; this avoids clashes with host services and other sandboxes, and lets
an unprivileged guest bind port 80); else the guest's port (``SAME``). A guest port 0
stays 0 and the guest then sees the host's choice.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
from dataclasses import dataclass, replace
from enum import Enum

from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import (
    LOOPBACK4,
    LOOPBACK6,
    InetSockaddr,
    IPAddress,
    destination_address,
    policy_address,
    with_address,
)

log = logging.getLogger(__name__)

ANY4 = ipaddress.IPv4Address("0.0.0.0")
ANY6 = ipaddress.IPv6Address("::")


class PortStrategy(Enum):
    """Which host port backs a non-published guest port."""

    SAME = "same"
    EPHEMERAL = "ephemeral"


@dataclass(frozen=True, slots=True)
class Publish:
    """One ``--publish`` entry: host ``host_address:host_port`` serves guest ``guest_port``."""

    host_port: int  # 0: automatic (the host kernel picks; reported once bound)
    guest_port: int
    protocol: Protocol = Protocol.TCP
    host_address: IPAddress | None = None


def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 0xFFFF:
        raise ValueError(f"bad --publish {text!r}: port {value!r} must be a number 1-65535")
    return int(value)


def parse_publish(text: str) -> Publish:
    """Parse ``[[ADDR:]HOST:]GUEST[/tcp|udp]`` (IPv6 ADDR in brackets; an empty or
    missing HOST is automatic: port 0, the host kernel picks). Raises ValueError."""
    spec, slash, proto_s = text.strip().partition("/")
    protocol = Protocol.TCP
    if slash:
        if proto_s.lower() not in ("tcp", "udp"):
            raise ValueError(f"bad --publish {text!r}: protocol {proto_s!r} must be tcp or udp")
        protocol = Protocol.TCP if proto_s.lower() == "tcp" else Protocol.UDP
    address: IPAddress | None = None
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or spec[close + 1 : close + 2] != ":" or ":" not in spec[close + 2 :]:
            raise ValueError(f"bad --publish {text!r}: expected [IPV6]:HOST:GUEST")
        addr_s, spec = spec[1:close], spec[close + 2 :]
    else:
        parts = spec.split(":")
        if len(parts) == 3:
            addr_s, spec = parts[0], ":".join(parts[1:])
        elif len(parts) in (1, 2):
            addr_s = ""
        else:
            raise ValueError(f"bad --publish {text!r}: expected [[ADDR:]HOST:]GUEST[/tcp|udp]")
    if addr_s:
        try:
            address = ipaddress.ip_address(addr_s)
        except ValueError:
            raise ValueError(f"bad --publish {text!r}: {addr_s!r} is not an IP address") from None
    host_s, _colon, guest_s = spec.rpartition(":")
    host_port = _port(text, host_s) if host_s else 0
    return Publish(host_port, _port(text, guest_s), protocol, address)


@dataclass(frozen=True, slots=True)
class Published:
    """A published guest port as the host kernel bound it (reported to the user)."""

    guest_port: int
    protocol: Protocol
    host_address: IPAddress
    host_port: int

    def __str__(self) -> str:
        host = f"[{self.host_address}]" if self.host_address.version == 6 else str(self.host_address)
        return f"guest port {self.guest_port}/{self.protocol.name.lower()} at {host}:{self.host_port}"

    def to_json(self) -> dict[str, object]:
        return {"guest_port": self.guest_port, "protocol": self.protocol.name.lower(),
                "host_address": str(self.host_address), "host_port": self.host_port}


@dataclass(frozen=True, slots=True)
class BindPlan:
    """What to do for one guest bind: give ``host`` to the host kernel instead of ``guest``."""

    guest: InetSockaddr
    host: InetSockaddr
    protocol: Protocol
    published: Publish | None = None


@dataclass(frozen=True, slots=True)
class BindRefused:
    """The bind fails as the kernel would fail it."""

    errno: int
    reason: str


@dataclass(frozen=True, slots=True)
class Route:
    """Where a guest connect/send really goes.

    ``address`` is the normalised guest-view destination for policy (``local`` ones are
    loopback), ``guest_service`` whether the guest has bound that port, ``host`` the
    sockaddr to give the host kernel (the original when unchanged).
    """

    address: IPAddress
    port: int
    local: bool
    guest_service: bool
    host: InetSockaddr


@dataclass(frozen=True, slots=True)
class _Binding:
    guest_address: IPAddress
    guest_port: int
    host_address: IPAddress
    host_port: int


def _key(protocol: Protocol, address: IPAddress, port: int) -> tuple[Protocol, int, int]:
    return (protocol, address.version, port)


class PortTable:
    """The guest's bound ports and their host counterparts."""

    def __init__(self, publishes: tuple[Publish, ...] = (), *, isolate: bool = True,
                 strategy: PortStrategy = PortStrategy.SAME,
                 guest_addresses: frozenset[IPAddress] = frozenset()) -> None:
        self.publishes = publishes
        self.isolate = isolate
        self.strategy = strategy
        self.guest_addresses = guest_addresses
        self._by_guest: dict[tuple[Protocol, int, int], list[_Binding]] = {}
        self._by_host: dict[tuple[Protocol, int, int], _Binding] = {}
        self.published: list[Published] = []

    def _is_local(self, address: IPAddress) -> bool:
        return address.is_loopback or address.is_unspecified or address in self.guest_addresses

    def plan_bind(self, guest: InetSockaddr, protocol: Protocol) -> BindPlan | BindRefused:
        """Decide the host address for a guest bind(2) to ``guest``."""
        address = policy_address(guest)
        if not self._is_local(address):
            return BindRefused(errno.EADDRNOTAVAIL, f"{address} is not an address of the sandbox")
        v4 = address.version == 4
        loopback: IPAddress = LOOPBACK4 if v4 else LOOPBACK6
        wildcard: IPAddress = ANY4 if v4 else ANY6
        publish = next((p for p in self.publishes if p.guest_port == guest.port and p.protocol == protocol
                        and (p.host_address is None or p.host_address.version == address.version)), None)
        host_address: IPAddress
        if publish is not None:
            host_address = loopback if address.is_loopback else (publish.host_address or wildcard)
            host_port = publish.host_port
        else:
            if self.isolate:
                host_address = loopback
            else:
                host_address = address if address.is_loopback or address.is_unspecified else wildcard
            host_port = 0 if self.strategy is PortStrategy.EPHEMERAL else guest.port
        return BindPlan(guest, with_address(guest, host_address, host_port), protocol, publish)

    def bound(self, plan: BindPlan, host_port: int) -> InetSockaddr:
        """Record a host bind that succeeded on ``host_port`` (read back with getsockname);
        returns the address the guest's getsockname(2) should show from now on."""
        guest_port = plan.guest.port or host_port
        binding = _Binding(policy_address(plan.guest), guest_port, policy_address(plan.host), host_port)
        self._by_guest.setdefault(_key(plan.protocol, binding.host_address, guest_port), []).append(binding)
        self._by_host[_key(plan.protocol, binding.host_address, host_port)] = binding
        log.debug("guest %s port %d/%s bound as host %s:%d", binding.guest_address, guest_port,
                  plan.protocol.name, binding.host_address, host_port)
        if plan.published is not None:
            self.published.append(Published(guest_port, plan.protocol, binding.host_address, host_port))
        return replace(plan.guest, port=guest_port)

    def unbind(self, plan: BindPlan, host_port: int) -> None:
        """Forget a binding when its socket is closed."""
        host_address = policy_address(plan.host)
        binding = self._by_host.pop(_key(plan.protocol, host_address, host_port), None)
        if binding is None:
            return
        key = _key(plan.protocol, host_address, binding.guest_port)
        remaining = [b for b in self._by_guest.get(key, []) if b != binding]
        if remaining:
            self._by_guest[key] = remaining
        else:
            self._by_guest.pop(key, None)

    def _find(self, protocol: Protocol, address: IPAddress, port: int) -> _Binding | None:
        found = self._by_guest.get(_key(protocol, address, port))
        if found:
            return found[-1]
        if address.version == 4:  # a dual-stack '::' bind also serves IPv4
            for b in self._by_guest.get((protocol, 6, port), []):
                if b.host_address == ANY6:
                    return b
        return None

    def is_guest_service(self, protocol: Protocol, address: IPAddress, port: int) -> bool:
        """Has the guest bound ``port`` for ``protocol`` in ``address``'s family?"""
        return self._find(protocol, address, port) is not None

    def route(self, dest: InetSockaddr, protocol: Protocol) -> Route:
        """Where a guest connect/send to ``dest`` goes, and the host sockaddr for it."""
        address = destination_address(dest)
        if not self._is_local(address):
            return Route(address, dest.port, False, False, dest)
        local_address: IPAddress = LOOPBACK4 if address.version == 4 else LOOPBACK6
        if address.is_loopback:
            local_address = address
        binding = self._find(protocol, local_address, dest.port)
        host_port = dest.port if binding is None else binding.host_port
        target = local_address
        if binding is not None and binding.host_address.version == address.version \
                and not binding.host_address.is_unspecified:
            target = binding.host_address
        host = dest
        if target != policy_address(dest) or host_port != dest.port:
            host = with_address(dest, target, host_port)
        return Route(local_address, dest.port, True, binding is not None, host)

    def to_guest(self, host: InetSockaddr, protocol: Protocol) -> InetSockaddr:
        """Show a host-side address (local or peer) in the guest's view."""
        address = policy_address(host)
        binding = self._by_host.get(_key(protocol, address, host.port))
        if binding is None and address.version == 4:
            binding = self._by_host.get((protocol, 6, host.port))
            if binding is not None and binding.host_address != ANY6:
                binding = None
        if binding is None or not (address == binding.host_address or binding.host_address.is_unspecified
                                   or address.is_loopback):
            return host
        guest_address = address
        if not binding.guest_address.is_unspecified and binding.guest_address.version == address.version:
            guest_address = binding.guest_address
        if guest_address == address and binding.guest_port == host.port:
            return host
        return with_address(host, guest_address, binding.guest_port)


def plan_is_rewrite(plan: BindPlan) -> bool:
    """Does the host bind differ from what the guest asked for?"""
    return plan.host != plan.guest
