"""DNS answer parsing on crafted packets (RFC 1035 wire format)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umlpy.vnet.dns import DnsError, RRType, parse_dns_message, resolved_addresses


def name(n: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".") if p) + b"\0"


def ptr(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def header(ident: int = 0x1234, flags: int = 0x8180, qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, 0)


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


Q_OFFSET = 12  # the question name starts right after the header


def cname_response() -> bytes:
    """www.example.org CNAME cdn.example.net; cdn A 1.2.3.4 and AAAA 2001:db8::7, compressed."""
    question = name("www.example.org") + struct.pack("!HH", 1, 1)
    body = header(an=3) + question
    cname_rdata = b"\x03cdn\x07example\x03net\x00"
    first = rr(ptr(Q_OFFSET), RRType.CNAME, cname_rdata)
    cdn_offset = len(body) + len(first) - len(cname_rdata)
    second = rr(ptr(cdn_offset), RRType.A, bytes([1, 2, 3, 4]))
    third = rr(ptr(cdn_offset), RRType.AAAA, ipaddress.IPv6Address("2001:db8::7").packed)
    return body + first + second + third


def test_cname_chain_with_compression() -> None:
    msg = parse_dns_message(cname_response())
    assert msg.id == 0x1234 and msg.is_response and msg.rcode == 0
    assert msg.questions[0].name == "www.example.org"
    assert [a.rtype for a in msg.answers] == [RRType.CNAME, RRType.A, RRType.AAAA]
    assert msg.answers[0].value == "cdn.example.net"
    assert msg.answers[1].name == "cdn.example.net"
    want = frozenset({ipaddress.ip_address("1.2.3.4"), ipaddress.ip_address("2001:db8::7")})
    assert resolved_addresses(msg) == {"www.example.org": want, "cdn.example.net": want}


def test_tcp_framing() -> None:
    pkt = cname_response()
    msg = parse_dns_message(struct.pack("!H", len(pkt)) + pkt, tcp=True)
    assert msg.answers[1].value == ipaddress.ip_address("1.2.3.4")
    with pytest.raises(DnsError):
        parse_dns_message(struct.pack("!H", len(pkt) + 1) + pkt, tcp=True)


def test_queries_and_errors_teach_nothing() -> None:
    pkt = header(flags=0x0100) + name("a.org") + struct.pack("!HH", 1, 1)
    assert resolved_addresses(parse_dns_message(pkt)) == {}
    nx = header(flags=0x8183, an=1) + name("a.org") + struct.pack("!HH", 1, 1) + rr(ptr(12), 1, b"\1\1\1\1")
    assert resolved_addresses(parse_dns_message(nx)) == {}


def test_cname_loop_gives_nothing() -> None:
    q = name("a.org") + struct.pack("!HH", 1, 1)
    b_name = name("b.org")
    pkt = header(an=2) + q + rr(ptr(12), RRType.CNAME, b_name) + rr(b_name, RRType.CNAME, name("a.org"))
    assert resolved_addresses(parse_dns_message(pkt)) == {}


@pytest.mark.parametrize(
    "pkt",
    [
        b"\x00" * 11,
        header() + ptr(12),  # pointer to itself
        header() + ptr(40),  # forward pointer
        header() + b"\x05ab",  # label past the end
        header() + b"\x40abc\x00\x00\x01\x00\x01",  # reserved label type
        header() + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\0",
        header(qd=0, an=1) + name("a.org") + struct.pack("!HHIH", 1, 1, 0, 4) + b"\1\1",
        header(qd=0, an=1) + name("a.org") + struct.pack("!HHIH", 1, 1, 0, 3) + b"\1\1\1",
        header(qd=0, an=1) + name("a.org") + struct.pack("!HHIH", 28, 1, 0, 4) + b"\1\1\1\1",
        header(qd=40000),
        header() + name("a.org") + b"\x00",
    ],
)
def test_malformed_packets(pkt: bytes) -> None:
    with pytest.raises(DnsError):
        parse_dns_message(pkt)


@given(st.binary(max_size=300))
def test_fuzz_never_crashes_otherwise(pkt: bytes) -> None:
    try:
        msg = parse_dns_message(pkt)
    except DnsError:
        return
    resolved_addresses(msg)


@given(st.binary(max_size=200))
def test_fuzz_after_valid_header(tail: bytes) -> None:
    try:
        resolved_addresses(parse_dns_message(header(an=3) + tail))
    except DnsError:
        pass
