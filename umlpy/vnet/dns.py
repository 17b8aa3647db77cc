"""Parse DNS response packets to learn name -> address mappings (RFC 1035, RFC 3596).

Domain rules in the network policy (``--allow example.org:443``) are resolved when the
policy is built, but a name's addresses change (CDNs, round robin). The guest does its own
lookups; when the virtual kernel sees an answer arrive on a socket it can hand the packet
to :func:`parse_dns_message` and :func:`resolved_addresses`, and feed the result to
:meth:`umlpy.vnet.policy.Policy.learn`.

Pure parsing, no I/O. Follows RFC 1035 section 4.1 (header, question, resource records)
and 4.1.4 (message compression: a label byte with the two top bits set is a 14-bit
offset to the rest of the name). Defences against hostile packets: pointers must point
strictly backwards (so no loops), names are limited to 255 octets and labels to 63,
counts are bounded by the packet length, and every read is bounds-checked; any violation
raises :class:`DnsError` (a ValueError). A/AAAA (RFC 3596) and CNAME answers are decoded;
other types are kept with raw rdata.

Trust: a guest can make up a "DNS answer" and send it to itself. Whoever feeds answers to
the policy must only take packets from a resolver the user trusts (see
:meth:`umlpy.vnet.stack.VirtualNetwork.observe_dns_answer`).
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from dataclasses import dataclass
from enum import IntEnum

from umlpy.vnet.sockaddr import IPAddress

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
MAX_NAME = 255
MAX_LABEL = 63
QR_RESPONSE = 0x8000


class DnsError(ValueError):
    """The packet is not a well-formed DNS message."""


class RRType(IntEnum):
    """Resource record types this module decodes."""

    A = 1
    CNAME = 5
    AAAA = 28


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    """One question entry (RFC 1035 4.1.2)."""

    name: str
    qtype: int
    qclass: int


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One answer record. ``value`` is an address (A/AAAA), a name (CNAME) or raw rdata."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    value: IPAddress | str | bytes


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """A decoded message; only the question and answer sections are kept."""

    id: int
    flags: int
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]

    @property
    def is_response(self) -> bool:
        return bool(self.flags & QR_RESPONSE)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``offset``; return it and the offset after it."""
    labels: list[str] = []
    total = 0
    end: int | None = None
    pos = offset
    while True:
        if pos >= len(packet):
            raise DnsError(f"name runs past the end of the packet at offset {pos}")
        length = packet[pos]
        top = length & 0xC0
        if top == 0xC0:
            if pos + 1 >= len(packet):
                raise DnsError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | packet[pos + 1]
            if end is None:
                end = pos + 2
            if target >= pos:
                raise DnsError(f"compression pointer at {pos} does not point backwards")
            pos = target
            continue
        if top:
            raise DnsError(f"reserved label type 0x{top:02x} at offset {pos}")
        if length == 0:
            break
        label = packet[pos + 1 : pos + 1 + length]
        if len(label) != length:
            raise DnsError("label runs past the end of the packet")
        total += length + 1
        if total > MAX_NAME:
            raise DnsError("name longer than 255 octets")
        labels.append(label.decode("ascii", "backslashreplace").lower())
        pos += 1 + length
    return ".".join(labels), (pos + 1 if end is None else end)


def parse_dns_message(packet: bytes, *, tcp: bool = False) -> DnsMessage:
    """Decode a DNS message. With ``tcp`` the two-byte length prefix (RFC 1035 4.2.2) is
    expected first and must match."""
    if tcp:
        if len(packet) < 2 or int.from_bytes(packet[:2], "big") != len(packet) - 2:
            raise DnsError("TCP length prefix does not match the packet")
        packet = packet[2:]
    if len(packet) < _HEADER.size:
        raise DnsError(f"packet of {len(packet)} bytes is shorter than the DNS header")
    ident, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(packet)
    if qdcount + ancount > len(packet):
        raise DnsError("record counts exceed what the packet can hold")
    pos = _HEADER.size
    questions = []
    for _ in range(qdcount):
        name, pos = _read_name(packet, pos)
        if pos + 4 > len(packet):
            raise DnsError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", packet, pos)
        pos += 4
        questions.append(DnsQuestion(name, qtype, qclass))
    answers = []
    for _ in range(ancount):
        name, pos = _read_name(packet, pos)
        if pos + _RR_FIXED.size > len(packet):
            raise DnsError("truncated resource record")
        rtype, rclass, ttl, rdlength = _RR_FIXED.unpack_from(packet, pos)
        pos += _RR_FIXED.size
        rdata = packet[pos : pos + rdlength]
        if len(rdata) != rdlength:
            raise DnsError("rdata runs past the end of the packet")
        answers.append(DnsRecord(name, rtype, rclass, ttl, _decode_rdata(packet, pos, rtype, rdata)))
        pos += rdlength
    return DnsMessage(ident, flags, tuple(questions), tuple(answers))


def _decode_rdata(packet: bytes, pos: int, rtype: int, rdata: bytes) -> IPAddress | str | bytes:
    if rtype == RRType.A:
        if len(rdata) != 4:
            raise DnsError(f"A record with {len(rdata)}-byte rdata")
        return ipaddress.IPv4Address(rdata)
    if rtype == RRType.AAAA:
        if len(rdata) != 16:
            raise DnsError(f"AAAA record with {len(rdata)}-byte rdata")
        return ipaddress.IPv6Address(rdata)
    if rtype == RRType.CNAME:
        target, after = _read_name(packet, pos)
        if after != pos + len(rdata):
            raise DnsError("CNAME rdata length does not match its name")
        return target
    return rdata


def resolved_addresses(msg: DnsMessage) -> dict[str, frozenset[IPAddress]]:
    """Map every name in the answer to the addresses it finally resolves to.

    CNAME chains are followed (``a -> b -> 1.2.3.4`` gives both ``a`` and ``b`` the
    address); chains that loop or dangle give no addresses. Only class IN counts, and
    only NOERROR responses are used.
    """
    if not msg.is_response or msg.rcode != 0:
        return {}
    direct: dict[str, set[IPAddress]] = {}
    alias: dict[str, str] = {}
    for rr in msg.answers:
        if rr.rclass != 1:
            continue
        if isinstance(rr.value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            direct.setdefault(rr.name, set()).add(rr.value)
        elif isinstance(rr.value, str):
            alias[rr.name] = rr.value
    names = set(direct) | set(alias) | {q.name for q in msg.questions}
    out: dict[str, frozenset[IPAddress]] = {}
    for name in names:
        seen = {name}
        current = name
        while current in alias and alias[current] not in seen:
            current = alias[current]
            seen.add(current)
        addresses = direct.get(current)
        if addresses:
            out[name] = frozenset(addresses)
    return out
