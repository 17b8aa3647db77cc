"""sockaddr parsing against bytes the kernel itself produces."""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umlpy.vnet.sockaddr import (
    BadSockaddr,
    SockaddrIn,
    SockaddrIn6,
    SockaddrNl,
    SockaddrOpaque,
    SockaddrUn,
    SockaddrUnspec,
    UnixKind,
    destination_address,
    encode_sockaddr,
    inet_sockaddr,
    parse_sockaddr,
    policy_address,
    unix_abstract,
    unix_pathname,
    with_address,
)


def sin(addr: str, port: int) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_pton(socket.AF_INET, addr) + bytes(8)


def sin6(addr: str, port: int, flow: int = 0, scope: int = 0) -> bytes:
    return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, flow)
            + socket.inet_pton(socket.AF_INET6, addr) + struct.pack("=I", scope))


def test_inet_values() -> None:
    sa = parse_sockaddr(sin("10.1.2.3", 443))
    assert sa == SockaddrIn(ipaddress.IPv4Address("10.1.2.3"), 443)
    assert encode_sockaddr(sa) == sin("10.1.2.3", 443)


def test_inet6_values() -> None:
    sa = parse_sockaddr(sin6("fe80::1", 80, flow=0x12345, scope=3))
    assert sa == SockaddrIn6(ipaddress.IPv6Address("fe80::1"), 80, 0x12345, 3)


def test_matches_real_getsockname_inet() -> None:
    # CPython returns the kernel's address; rebuilding the bytes from the tuple
    # with the same layout must give the parsed value back.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        host, port = s.getsockname()
        sa = parse_sockaddr(sin(host, port))
        assert isinstance(sa, SockaddrIn)
        assert (str(sa.address), sa.port) == (host, port)


def test_matches_real_getsockname_inet6() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        host, port, flow, scope = s.getsockname()
        sa = parse_sockaddr(sin6(host, port, flow, scope))
        assert isinstance(sa, SockaddrIn6)
        assert (str(sa.address), sa.port, sa.flowinfo, sa.scope_id) == (host, port, flow, scope)


def test_unix_kinds_match_kernel() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        assert s.getsockname() == ""  # unnamed: addrlen == sizeof(sa_family_t)
    assert parse_sockaddr(struct.pack("=H", socket.AF_UNIX)) == SockaddrUn(UnixKind.UNNAMED)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(b"\0umlpy-test-abstract")
        raw = struct.pack("=H", socket.AF_UNIX) + s.getsockname()
        sa = parse_sockaddr(raw)
        assert sa == unix_abstract(b"umlpy-test-abstract")
        assert encode_sockaddr(sa) == raw


def test_unix_pathname_with_and_without_nul() -> None:
    fam = struct.pack("=H", socket.AF_UNIX)
    a = parse_sockaddr(fam + b"/tmp/x\0")
    b = parse_sockaddr(fam + b"/tmp/x")
    c = parse_sockaddr(fam + b"/tmp/x\0junk")
    assert a == b == c == unix_pathname(b"/tmp/x")
    assert encode_sockaddr(c) == fam + b"/tmp/x\0junk"
    assert isinstance(a, SockaddrUn) and a.kind is UnixKind.PATHNAME


def test_unix_abstract_keeps_nuls() -> None:
    fam = struct.pack("=H", socket.AF_UNIX)
    sa = parse_sockaddr(fam + b"\0a\0b\0")
    assert sa == SockaddrUn(UnixKind.ABSTRACT, b"a\0b\0")
    assert parse_sockaddr(fam + b"\0") == SockaddrUn(UnixKind.ABSTRACT, b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x02",
        sin("1.2.3.4", 80)[:15],
        sin6("::1", 80)[:23],
        struct.pack("=H", socket.AF_NETLINK) + bytes(9),
        struct.pack("=H", socket.AF_UNIX) + b"a" * 109,
        sin("1.2.3.4", 80) + bytes(113),
    ],
    ids=["empty", "one-byte", "short-in", "short-in6", "short-nl", "long-un", "over-storage"],
)
def test_malformed_is_einval(raw: bytes) -> None:
    bad = parse_sockaddr(raw)
    assert isinstance(bad, BadSockaddr)
    assert bad.errno == errno.EINVAL and bad.reason


def test_rfc2133_in6_accepted() -> None:
    raw = sin6("2001:db8::1", 53)[:24]
    sa = parse_sockaddr(raw)
    assert isinstance(sa, SockaddrIn6) and sa.scope_id == 0 and sa.rfc2133
    assert encode_sockaddr(sa) == raw


def test_long_addrlen_keeps_tail() -> None:
    raw = sin("1.2.3.4", 80) + b"\x99" * 112  # a whole sockaddr_storage
    sa = parse_sockaddr(raw)
    assert sa == SockaddrIn(ipaddress.IPv4Address("1.2.3.4"), 80)
    assert encode_sockaddr(sa) == raw
    moved = with_address(sa, ipaddress.IPv4Address("127.0.0.1"), 9)
    assert len(encode_sockaddr(moved)) == len(raw)


def test_netlink_unspec_opaque() -> None:
    nl = struct.pack("=HHII", socket.AF_NETLINK, 0, 1234, 5)
    assert parse_sockaddr(nl) == SockaddrNl(1234, 5)
    assert isinstance(parse_sockaddr(struct.pack("=H", 0) + bytes(14)), SockaddrUnspec)
    op = parse_sockaddr(struct.pack("=H", socket.AF_PACKET) + b"xyz")
    assert op == SockaddrOpaque(socket.AF_PACKET, b"xyz")


def test_mapped_and_unspecified() -> None:
    mapped = parse_sockaddr(sin6("::ffff:127.0.0.1", 80))
    assert isinstance(mapped, SockaddrIn6)
    assert policy_address(mapped) == ipaddress.IPv4Address("127.0.0.1")
    assert destination_address(inet_sockaddr("0.0.0.0", 1)) == ipaddress.IPv4Address("127.0.0.1")
    assert destination_address(inet_sockaddr("::", 1)) == ipaddress.IPv6Address("::1")
    assert destination_address(inet_sockaddr("::ffff:0.0.0.0", 1)) == ipaddress.IPv4Address("127.0.0.1")
    assert destination_address(inet_sockaddr("8.8.8.8", 1)) == ipaddress.IPv4Address("8.8.8.8")


def test_with_address_into_in6_writes_mapped() -> None:
    sa = inet_sockaddr("::1", 5)
    moved = with_address(sa, ipaddress.IPv4Address("127.0.0.1"), 7)
    assert moved.address == ipaddress.IPv6Address("::ffff:127.0.0.1") and moved.port == 7


def test_builders_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        unix_pathname(b"")
    with pytest.raises(ValueError):
        unix_pathname(b"a" * 108)
    with pytest.raises(ValueError):
        inet_sockaddr("1.2.3.4", 70000)


@given(st.binary(min_size=0, max_size=140))
def test_roundtrip_any_bytes(raw: bytes) -> None:
    sa = parse_sockaddr(raw)
    if isinstance(sa, BadSockaddr):
        assert sa.errno == errno.EINVAL
        return
    assert encode_sockaddr(sa) == raw
    assert parse_sockaddr(encode_sockaddr(sa)) == sa


families = st.sampled_from([socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK, 0, 17])


@given(families, st.binary(min_size=0, max_size=126))
def test_roundtrip_by_family(family: int, body: bytes) -> None:
    raw = struct.pack("=H", family) + body
    sa = parse_sockaddr(raw)
    if not isinstance(sa, BadSockaddr):
        assert encode_sockaddr(sa) == raw


@given(st.ip_addresses(), st.integers(0, 65535))
def test_roundtrip_values(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> None:
    sa = inet_sockaddr(ip, port)
    assert parse_sockaddr(encode_sockaddr(sa)) == sa
    if isinstance(ip, ipaddress.IPv4Address):
        assert encode_sockaddr(sa) == sin(str(ip), port)
