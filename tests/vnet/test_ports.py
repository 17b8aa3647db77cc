"""--publish parsing and guest <-> host address rewriting."""

from __future__ import annotations

import errno
import ipaddress
import socket

import pytest

from umlpy.vnet.ports import BindPlan, BindRefused, PortStrategy, PortTable, Publish, parse_publish, plan_is_rewrite
from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import encode_sockaddr, inet_sockaddr, parse_sockaddr

ip = ipaddress.ip_address
TCP, UDP = Protocol.TCP, Protocol.UDP
ETH0 = frozenset({ip("10.0.2.15")})


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("8080:80", Publish(8080, 80, TCP, None)),
        ("5353:53/udp", Publish(5353, 53, UDP, None)),
        ("127.0.0.1:8080:80/tcp", Publish(8080, 80, TCP, ip("127.0.0.1"))),
        ("[::1]:8080:80", Publish(8080, 80, TCP, ip("::1"))),
        ("80", Publish(0, 80, TCP, None)),  # automatic host port
        ("53/udp", Publish(0, 53, UDP, None)),
        (":80", Publish(0, 80, TCP, None)),
        ("127.0.0.1::80", Publish(0, 80, TCP, ip("127.0.0.1"))),
        ("[::1]::80", Publish(0, 80, TCP, ip("::1"))),
    ],
)
def test_parse_publish(text: str, want: Publish) -> None:
    assert parse_publish(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "''"), ("x", "'x'"), ("0:80", "1-65535"), ("80:0", "1-65535"), ("[::1]:80", "expected [IPV6]"), ("a:80", "'a'"), ("1:2/sctp", "tcp or udp"),
     ("x.y:1:2", "not an IP address"), ("[::1]8080:80", "expected [IPV6]"), ("1:2:3:4", "expected")],
)
def test_parse_publish_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="bad --publish") as info:
        parse_publish(text)
    assert message in str(info.value)


def plan(table: PortTable, addr: str, port: int, proto: Protocol = TCP) -> BindPlan:
    p = table.plan_bind(inet_sockaddr(addr, port), proto)
    assert isinstance(p, BindPlan)
    return p


def test_isolated_bind_goes_to_loopback() -> None:
    t = PortTable(isolate=True, guest_addresses=ETH0)
    for addr, host in [("0.0.0.0", "127.0.0.1"), ("10.0.2.15", "127.0.0.1"), ("127.0.0.5", "127.0.0.1"),
                       ("::", "::1"), ("::ffff:0.0.0.0", "::ffff:127.0.0.1")]:
        p = plan(t, addr, 8080)
        assert p.host == inet_sockaddr(host, 8080), addr
    assert plan_is_rewrite(plan(t, "0.0.0.0", 1))
    assert not plan_is_rewrite(plan(t, "127.0.0.1", 1))


def test_host_mode_bind() -> None:
    t = PortTable(isolate=False, guest_addresses=ETH0)
    assert plan(t, "0.0.0.0", 80).host == inet_sockaddr("0.0.0.0", 80)
    assert plan(t, "10.0.2.15", 80).host == inet_sockaddr("0.0.0.0", 80)
    assert plan(t, "::1", 80).host == inet_sockaddr("::1", 80)


def test_bind_foreign_address_refused() -> None:
    r = PortTable(guest_addresses=ETH0).plan_bind(inet_sockaddr("192.0.2.2", 80), TCP)
    assert isinstance(r, BindRefused) and r.errno == errno.EADDRNOTAVAIL


def test_publish_binds_host_port() -> None:
    t = PortTable((parse_publish("18080:80"), parse_publish("127.0.0.1:5353:53/udp")), isolate=True)
    assert plan(t, "0.0.0.0", 80).host == inet_sockaddr("0.0.0.0", 18080)
    assert plan(t, "127.0.0.1", 80).host == inet_sockaddr("127.0.0.1", 18080)  # guest asked loopback only
    assert plan(t, "0.0.0.0", 53, UDP).host == inet_sockaddr("127.0.0.1", 5353)
    assert plan(t, "0.0.0.0", 53, TCP).host == inet_sockaddr("127.0.0.1", 53)  # not published for tcp


def test_ephemeral_symmetry() -> None:
    t = PortTable(isolate=True, strategy=PortStrategy.EPHEMERAL, guest_addresses=ETH0)
    p = plan(t, "0.0.0.0", 80)
    assert p.host == inet_sockaddr("127.0.0.1", 0)
    assert t.bound(p, 41000) == inet_sockaddr("0.0.0.0", 80)
    assert t.is_guest_service(TCP, ip("127.0.0.1"), 80)
    assert not t.is_guest_service(UDP, ip("127.0.0.1"), 80)
    for dest in ["127.0.0.1", "0.0.0.0", "10.0.2.15"]:
        r = t.route(inet_sockaddr(dest, 80), TCP)
        assert r.local and r.guest_service and r.address == ip("127.0.0.1")
        assert r.host == inet_sockaddr("127.0.0.1", 41000)
        assert t.to_guest(r.host, TCP) == inet_sockaddr("127.0.0.1", 80)
    # accept() peer addresses from ephemeral client ports are left alone
    assert t.to_guest(inet_sockaddr("127.0.0.1", 50000), TCP) == inet_sockaddr("127.0.0.1", 50000)
    # a closed port is not a guest service any more
    t.unbind(p, 41000)
    assert not t.is_guest_service(TCP, ip("127.0.0.1"), 80)
    assert t.route(inet_sockaddr("127.0.0.1", 80), TCP).host == inet_sockaddr("127.0.0.1", 80)


def test_specific_guest_address_shown_back() -> None:
    t = PortTable(isolate=True, strategy=PortStrategy.EPHEMERAL, guest_addresses=ETH0)
    p = plan(t, "10.0.2.15", 22)
    t.bound(p, 40022)
    assert t.to_guest(inet_sockaddr("127.0.0.1", 40022), TCP) == inet_sockaddr("10.0.2.15", 22)


def test_mapped_destination_keeps_in6_layout() -> None:
    t = PortTable(isolate=True, strategy=PortStrategy.EPHEMERAL)
    t.bound(plan(t, "0.0.0.0", 80), 41001)
    raw = encode_sockaddr(inet_sockaddr("::ffff:127.0.0.1", 80))
    dest = parse_sockaddr(raw)
    r = t.route(dest, TCP)  # type: ignore[arg-type]
    assert r.guest_service
    out = encode_sockaddr(r.host)
    assert len(out) == len(raw) and r.host == inet_sockaddr("::ffff:127.0.0.1", 41001)


def test_dual_stack_wildcard_serves_ipv4() -> None:
    t = PortTable(isolate=False)
    t.bound(plan(t, "::", 8000), 8000)
    assert t.is_guest_service(TCP, ip("127.0.0.1"), 8000)
    assert t.route(inet_sockaddr("127.0.0.1", 8000), TCP).guest_service


def test_remote_destination_untouched() -> None:
    t = PortTable(guest_addresses=ETH0)
    d = inet_sockaddr("93.184.216.34", 443)
    r = t.route(d, TCP)
    assert not r.local and r.host is d


def test_guest_port_zero_gets_host_choice() -> None:
    t = PortTable(isolate=True)
    with socket.socket() as s:
        p = plan(t, "0.0.0.0", 0)
        s.bind(("127.0.0.1", 0))  # what the handler would do with p.host
        host_port = s.getsockname()[1]
        assert t.bound(p, host_port) == inet_sockaddr("0.0.0.0", host_port)
        assert t.is_guest_service(TCP, ip("127.0.0.1"), host_port)
