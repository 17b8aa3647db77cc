"""Network policy: may the guest's connect(2) / sendto(2) reach this address?

Modes (``--net MODE``):

* ``none`` (default): no AF_INET/AF_INET6 traffic leaves the sandbox. The guest's own
  loopback client/server pairs still work: a loopback destination (``127.0.0.0/8``,
  ``::1``, and ``0.0.0.0`` / ``::`` / ``::ffff:127.x`` after normalisation) is allowed
  only when the guest itself holds a socket bound to that port and protocol — the caller
  says so with ``guest_service=True`` (the port table in :mod:`umlpy.vnet.ports` tracks
  the guest's binds). Host services on loopback (a database, systemd-resolved on
  127.0.0.53) are out of reach.
* ``loopback``: every loopback destination is reachable, host services included; nothing
  beyond.
* ``host``: everything is reachable.

Precedence, first that applies wins:

1. traffic to one of the guest's own bound ports on loopback is always allowed (it never
   leaves the sandbox);
2. the ``--allow``/``--deny`` rules, in command-line order, **last match wins** (so
   ``--deny '*' --allow example.org:443`` is an allowlist and ``--allow 10.0.0.0/8
   --deny 10.1.2.3`` punches a hole);
3. the mode's default above.

Errnos (module constants, one place): a destination the mode gives no route to gets
``ENETUNREACH`` for every operation — what a host without a default route answers, and
what programs (happy eyeballs, curl's "Network is unreachable") already handle. A loopback
port nobody in the guest listens on, under ``none``, gets ``ECONNREFUSED`` — what Linux
answers for a closed loopback port (for UDP, udp(7) reports it as ECONNREFUSED too).
A destination an explicit ``--deny`` rule matches gets ``ECONNREFUSED`` for a stream
connect (like a firewall ``REJECT --reject-with tcp-reset``) and ``EPERM`` for datagram
connect/sendto/sendmsg (what a local netfilter OUTPUT drop returns; connect(2) documents
EPERM for "a local firewall rule").

Domain rules are resolved when the policy is built through an injectable resolver, and
later answers seen by the vkernel can be added with :meth:`Policy.learn` (see
:mod:`umlpy.vnet.dns`). A name rule matches only the addresses known for the name; those
mappings never expire. See ip(7), ipv6(7), connect(2), sendto(2), udp(7).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from umlpy.vnet.rules import Protocol, Rule, RuleAction
from umlpy.vnet.sockaddr import IPAddress

log = logging.getLogger(__name__)

ERRNO_NO_ROUTE = errno.ENETUNREACH
ERRNO_NOT_LISTENING = errno.ECONNREFUSED
ERRNO_RULE_STREAM = errno.ECONNREFUSED
ERRNO_RULE_DATAGRAM = errno.EPERM

Resolver = Callable[[str], Iterable[IPAddress]]


class Mode(Enum):
    """How far the guest's network reaches when no rule matches."""

    NONE = "none"
    LOOPBACK = "loopback"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class Allow:
    """The call goes ahead. ``rule`` is the rule that matched, None for a mode default."""

    rule: Rule | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Deny:
    """The call fails with ``-errno``; ``rule`` as for :class:`Allow`."""

    errno: int
    rule: Rule | None = None
    reason: str = ""


Decision = Allow | Deny


def system_resolver(name: str) -> list[IPAddress]:
    """Resolve ``name`` with getaddrinfo(3); an unresolvable name gives no addresses."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        log.warning("cannot resolve %s for the network policy: %s", name, e)
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _fold(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Policy:
    """Decisions for one sandbox. Holds the name -> addresses map, which can grow."""

    def __init__(self, mode: Mode | str = Mode.NONE, rules: Sequence[Rule] = (), *,
                 resolver: Resolver = system_resolver) -> None:
        try:
            self.mode = Mode(mode)
        except ValueError:
            raise ValueError(f"unknown network mode {mode!r}: expected none, loopback or host") from None
        self.rules = tuple(rules)
        self._names: dict[str, set[IPAddress]] = {}
        for rule in self.rules:
            if rule.host is not None and rule.host not in self._names:
                self._names[rule.host] = {_fold(a) for a in resolver(rule.host)}
                if not self._names[rule.host]:
                    log.warning("network rule %r: %s has no addresses yet", str(rule), rule.host)

    @property
    def names(self) -> frozenset[str]:
        """The domain names the rules mention."""
        return frozenset(self._names)

    def addresses_of(self, name: str) -> frozenset[IPAddress]:
        """What the policy currently believes ``name`` resolves to."""
        return frozenset(self._names.get(name.lower().rstrip("."), ()))

    def name_of(self, address: IPAddress) -> str | None:
        """A rule name known to resolve to ``address`` (for logs), if any."""
        address = _fold(address)
        for name, addresses in self._names.items():
            if address in addresses:
                return name
        return None

    def learn(self, name: str, addresses: Iterable[IPAddress]) -> bool:
        """Add observed addresses for ``name``. Only names the rules mention are kept;
        returns whether anything new was learned."""
        key = name.lower().rstrip(".")
        known = self._names.get(key)
        if known is None:
            return False
        new = {_fold(a) for a in addresses} - known
        if new:
            log.info("network policy learned %s -> %s", key, ", ".join(sorted(map(str, new))))
            known |= new
        return bool(new)

    def decide(self, address: IPAddress, port: int, protocol: Protocol, *, stream: bool,
               guest_service: bool = False) -> Decision:
        """Decide a connect/send to ``address``:``port``.

        ``address`` should come from :func:`umlpy.vnet.sockaddr.destination_address`
        (mapped and unspecified addresses normalised); it is folded again here in case.
        ``stream`` is True for a SOCK_STREAM connect (it picks the deny errno);
        ``guest_service`` is True when the guest itself has bound ``port``/``protocol``.
        """
        address = _fold(address)
        if address.is_unspecified:
            address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
        if guest_service and address.is_loopback:
            return Allow(None, "guest's own service")
        matched: Rule | None = None
        for rule in self.rules:
            names = frozenset(self._names.get(rule.host, ())) if rule.host is not None else frozenset()
            if rule.matches(address, port, protocol, names):
                matched = rule
        if matched is not None:
            if matched.action is RuleAction.ALLOW:
                return Allow(matched, "rule")
            return Deny(ERRNO_RULE_STREAM if stream else ERRNO_RULE_DATAGRAM, matched, "rule")
        if self.mode is Mode.HOST:
            return Allow(None, "mode host")
        if address.is_loopback:
            if self.mode is Mode.LOOPBACK:
                return Allow(None, "mode loopback")
            if protocol not in (Protocol.TCP, Protocol.UDP):
                return Allow(None, "loopback without ports")
            return Deny(ERRNO_NOT_LISTENING, None, "no guest socket bound to this loopback port")
        return Deny(ERRNO_NO_ROUTE, None, f"mode {self.mode.value}: no route outside the sandbox")
