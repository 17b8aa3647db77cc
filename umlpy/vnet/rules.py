"""The allow/deny rule syntax of the network policy.

One rule is ``TARGET[:PORTS][/PROTO]``, given to ``--allow`` or ``--deny``:

* TARGET: ``*`` (any address), an IPv4 address or CIDR (``10.0.0.0/8``), an IPv6 address
  or CIDR, bare (``2001:db8::/32``, then without a port) or in brackets
  (``[::1]:53``, ``[2001:db8::]/32:443``), or a domain name (``example.org``).
* PORTS: ``443``, a range ``8000-8100``, or ``*`` (the default: all ports).
* PROTO: ``tcp``, ``udp`` or ``any`` (the default).

Examples: ``10.0.0.0/8:443/tcp``, ``1.2.3.4``, ``example.org:443``, ``*:53/udp``.
CIDRs with host bits set are refused (``10.0.0.1/8`` is probably a typo). Every error is a
one-line :class:`ValueError` naming the rule and what is wrong with it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum, IntEnum

from umlpy.vnet.sockaddr import IPAddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")
_LOOKS_NUMERIC = re.compile(r"^[0-9./]+$")


class RuleAction(Enum):
    """What a matching rule does."""

    ALLOW = "allow"
    DENY = "deny"


class Protocol(IntEnum):
    """Transport protocol of a rule or a query (IPPROTO_* numbers; ANY only in rules)."""

    ANY = 0
    ICMP = 1
    TCP = 6
    UDP = 17
    ICMPV6 = 58


_RULE_PROTOCOLS = {"tcp": Protocol.TCP, "udp": Protocol.UDP, "any": Protocol.ANY}


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed rule. ``network`` None with ``host`` None means any address."""

    action: RuleAction
    network: IPNetwork | None = None
    host: str | None = None
    ports: tuple[int, int] | None = None
    protocol: Protocol = Protocol.ANY

    def __str__(self) -> str:
        if self.host is not None:
            target = self.host
        elif self.network is None:
            target = "*"
        elif isinstance(self.network, ipaddress.IPv6Network):
            target = f"[{self.network.network_address}]"
            if self.network.prefixlen != 128:
                target += f"/{self.network.prefixlen}"
        elif self.network.prefixlen == 32:
            target = str(self.network.network_address)
        else:
            target = str(self.network)
        if self.ports is not None:
            lo, hi = self.ports
            target += f":{lo}" if lo == hi else f":{lo}-{hi}"
        if self.protocol is not Protocol.ANY:
            target += f"/{self.protocol.name.lower()}"
        return f"{self.action.value} {target}"

    def matches(self, address: IPAddress, port: int, protocol: Protocol, names: frozenset[IPAddress]) -> bool:
        """Does this rule cover the destination? ``names`` are the addresses of ``host``."""
        if self.protocol is not Protocol.ANY and self.protocol != protocol:
            return False
        if self.ports is not None and not self.ports[0] <= port <= self.ports[1]:
            return False
        if self.host is not None:
            return address in names
        return self.network is None or address in self.network


def _fail(text: str, why: str) -> ValueError:
    return ValueError(f"bad network rule {text!r}: {why}")


def _parse_ports(text: str, spec: str) -> tuple[int, int] | None:
    if spec in ("*", ""):
        if spec == "":
            raise _fail(text, "empty port after ':'")
        return None
    lo_s, dash, hi_s = spec.partition("-")
    bounds = []
    for part in (lo_s, hi_s) if dash else (lo_s,):
        if not part.isdigit():
            raise _fail(text, f"port {part!r} is not a number")
        value = int(part)
        if value > 0xFFFF:
            raise _fail(text, f"port {value} is out of range 0-65535")
        bounds.append(value)
    lo, hi = bounds[0], bounds[-1]
    if lo > hi:
        raise _fail(text, f"port range {lo}-{hi} is reversed")
    return lo, hi


def _parse_network(text: str, spec: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(spec, strict=True)
    except ValueError as e:
        if "has host bits set" in str(e):
            fixed = ipaddress.ip_network(spec, strict=False)
            raise _fail(text, f"{spec} has host bits set (did you mean {fixed}?)") from None
        raise _fail(text, f"{spec!r} is not a valid address or network ({e})") from None


def parse_rule(text: str, action: RuleAction | str) -> Rule:
    """Parse one rule; ``action`` is ``allow`` or ``deny``. Raises ValueError."""
    try:
        act = RuleAction(action)
    except ValueError:
        raise ValueError(f"bad network rule action {action!r}: expected allow or deny") from None
    s = text.strip()
    if not s:
        raise _fail(text, "empty rule")
    protocol = Protocol.ANY
    head, slash, tail = s.rpartition("/")
    if slash and tail.isalpha():
        if tail.lower() not in _RULE_PROTOCOLS:
            raise _fail(text, f"unknown protocol {tail!r} (expected tcp, udp or any)")
        protocol = _RULE_PROTOCOLS[tail.lower()]
        s = head
    ports_spec: str | None = None
    if s.startswith("["):
        close = s.find("]")
        if close < 0:
            raise _fail(text, "'[' without matching ']'")
        target, rest = s[1:close], s[close + 1 :]
        if rest.startswith("/"):
            prefix, _, after = rest[1:].partition(":")
            target += "/" + prefix
            rest = ":" + after if after or rest.endswith(":") else ""
        if rest:
            if not rest.startswith(":"):
                raise _fail(text, f"unexpected {rest!r} after ']'")
            ports_spec = rest[1:]
        if ":" not in target:
            raise _fail(text, f"[{target}] is not an IPv6 address")
    elif s.count(":") >= 2:
        target = s
    else:
        target, colon, port_part = s.partition(":")
        if colon:
            ports_spec = port_part
    ports = None if ports_spec is None else _parse_ports(text, ports_spec)
    if not target:
        raise _fail(text, "missing address or host name")
    if target in ("*", "any"):
        return Rule(act, None, None, ports, protocol)
    if ":" in target or _LOOKS_NUMERIC.match(target):
        return Rule(act, _parse_network(text, target), None, ports, protocol)
    if not _HOSTNAME.match(target):
        raise _fail(text, f"{target!r} is neither an address nor a valid host name")
    return Rule(act, None, target.lower().rstrip("."), ports, protocol)


def parse_rules(items: list[tuple[str, str]]) -> tuple[Rule, ...]:
    """Parse ``[(action, text), ...]`` in command-line order (order matters: last match wins)."""
    return tuple(parse_rule(text, action) for action, text in items)
