"""SocketViews and VirtualNetwork.sockname/peername: host names shown in the guest's view."""

from __future__ import annotations

import ipaddress

from umlpy.vnet.ports import BindPlan, PortStrategy, PortTable, Publish, Published
from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import encode_sockaddr, inet_sockaddr, parse_sockaddr, to_python
from umlpy.vnet.stack import VirtualNetwork
from umlpy.vnet.views import SocketViews

TCP = Protocol.TCP
ETH0 = frozenset({ipaddress.ip_address("10.0.2.15")})
S = inet_sockaddr


def table(*publishes: Publish, strategy: PortStrategy = PortStrategy.SAME) -> PortTable:
    return PortTable(publishes, isolate=True, strategy=strategy, guest_addresses=ETH0)


def bind(t: PortTable, views: SocketViews, sock: int, addr: str, port: int, host_port: int) -> None:
    plan = t.plan_bind(S(addr, port), TCP)
    assert isinstance(plan, BindPlan)
    views.bound(sock, t.bound(plan, host_port), S(str(plan.host.address), host_port))


def test_wildcard_listener_reads_back_wildcard_and_guest_port() -> None:
    t = table(Publish(18080, 80))
    v = SocketViews(t)
    bind(t, v, 1, "0.0.0.0", 80, 18080)
    assert v.local(1, S("0.0.0.0", 18080), None, TCP) == S("0.0.0.0", 80)  # published: host wildcard
    t2 = table()
    v2 = SocketViews(t2)
    bind(t2, v2, 1, "0.0.0.0", 8000, 8000)
    assert v2.local(1, S("127.0.0.1", 8000), None, TCP) == S("0.0.0.0", 8000)


def test_port_zero_bind_shows_the_port_the_host_picked() -> None:
    t = table(strategy=PortStrategy.EPHEMERAL)
    v = SocketViews(t)
    bind(t, v, 1, "0.0.0.0", 0, 40001)
    assert v.local(1, S("127.0.0.1", 40001), None, TCP) == S("0.0.0.0", 40001)


def test_guest_pair_through_eth0_address() -> None:
    t = table(strategy=PortStrategy.EPHEMERAL)
    v = SocketViews(t)
    bind(t, v, 1, "0.0.0.0", 80, 40001)  # server: guest :80 is host 127.0.0.1:40001
    route = t.route(S("10.0.2.15", 80), TCP)
    assert route.host == S("127.0.0.1", 40001)
    client_local = S("127.0.0.1", 50000)
    v.connected(2, S("10.0.2.15", 80), route.host, client_local)
    # the client
    assert v.peer(2, route.host, client_local, TCP) == S("10.0.2.15", 80)
    assert v.local(2, client_local, route.host, TCP) == S("10.0.2.15", 50000)
    # the accepted socket (id 3): local is what the client asked for, peer the source it used
    assert v.local(3, S("127.0.0.1", 40001), client_local, TCP) == S("10.0.2.15", 80)
    assert v.peer(3, client_local, S("127.0.0.1", 40001), TCP) == S("10.0.2.15", 50000)
    v.forget(2)
    assert v.peer(3, client_local, S("127.0.0.1", 40001), TCP) == S("127.0.0.1", 50000)
    assert len(v) == 1


def test_connect_to_unspecified_reads_back_loopback() -> None:
    t = table()
    v = SocketViews(t)
    v.connected(1, S("0.0.0.0", 80), S("127.0.0.1", 80), S("127.0.0.1", 50000))
    assert v.peer(1, S("127.0.0.1", 80), S("127.0.0.1", 50000), TCP) == S("127.0.0.1", 80)
    v6 = S("::ffff:0.0.0.0", 80)
    v.connected(2, v6, S("::ffff:127.0.0.1", 80))
    assert v.peer(2, S("::ffff:127.0.0.1", 80), None, TCP) == S("::ffff:127.0.0.1", 80)


def test_stale_record_is_ignored_when_the_host_name_changed() -> None:
    """A recorded connect whose host peer is no longer the socket's (reconnected
    elsewhere natively, e.g. AF_UNSPEC then a new connect) falls back to the port table."""
    t = table()
    v = SocketViews(t)
    v.connected(1, S("10.0.2.15", 80), S("127.0.0.1", 80))
    assert v.peer(1, S("127.0.0.1", 81), None, TCP) == S("127.0.0.1", 81)


def test_unknown_sockets_go_through_the_port_table() -> None:
    t = table(Publish(18080, 80))
    v = SocketViews(t)
    plan = t.plan_bind(S("127.0.0.1", 80), TCP)
    assert isinstance(plan, BindPlan)
    t.bound(plan, 18080)
    assert v.local(9, S("127.0.0.1", 18080), S("127.0.0.1", 50000), TCP) == S("127.0.0.1", 80)
    assert v.peer(9, S("127.0.0.1", 50000), S("127.0.0.1", 18080), TCP) == S("127.0.0.1", 50000)


def test_stack_bytes_round_trip_and_ipv6_scope_kept() -> None:
    net = VirtualNetwork.from_options("none", publish=["18080:80"])
    plan = net.bind(encode_sockaddr(S("0.0.0.0", 80)), protocol=TCP)
    assert isinstance(plan, BindPlan)
    host = encode_sockaddr(S("0.0.0.0", 18080))
    net.note_bound(7, net.bound(plan, host), host)
    got = parse_sockaddr(net.sockname(7, host, None, TCP))
    assert to_python(got) == ("0.0.0.0", 80)  # type: ignore[arg-type]
    raw6 = encode_sockaddr(S("fe80::1", 5))
    assert net.peername(8, raw6, None, TCP) == raw6  # nothing maps: the very same bytes
    assert net.ports.published == [Published(80, TCP, ipaddress.ip_address("0.0.0.0"), 18080)]
    assert str(net.ports.published[0]) == "guest port 80/tcp at 0.0.0.0:18080"
