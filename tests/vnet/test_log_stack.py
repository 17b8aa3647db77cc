"""Connection log and the VirtualNetwork facade, end to end with real sockets."""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import struct

import pytest

from umlpy.vnet.log import ConnectionLog
from umlpy.vnet.policy import Allow, Deny
from umlpy.vnet.ports import BindPlan, BindRefused, PortStrategy
from umlpy.vnet.rules import Protocol
from umlpy.vnet.sockaddr import BadSockaddr, encode_sockaddr, inet_sockaddr, parse_sockaddr, unix_pathname
from umlpy.vnet.stack import Verdict, VirtualNetwork

TCP, UDP = Protocol.TCP, Protocol.UDP
ip = ipaddress.ip_address


def raw(addr: str, port: int) -> bytes:
    return encode_sockaddr(inet_sockaddr(addr, port))


def resolver(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {"example.org": [ip("93.184.216.34")]}.get(name, [])


def test_log_folds_repeats_and_serialises() -> None:
    log = ConnectionLog()
    a = log.add(pid=5, op="send", family="AF_INET", address="8.8.8.8", port=53, protocol="udp", allowed=False,
                errno=errno.ENETUNREACH, reason="no route")
    b = log.add(pid=5, op="send", family="AF_INET", address="8.8.8.8", port=53, protocol="udp", allowed=False,
                errno=errno.ENETUNREACH, reason="no route")
    c = log.add(pid=5, op="connect", family="AF_INET6", address="::1", port=80, protocol="tcp", allowed=True,
                rule="allow [::1]:80", name="localhost")
    assert a == b != c and len(log) == 2 and log.records[0].count == 2
    log.account(c, sent=1500, received=2_500_000)
    log.account(c, sent=10)
    rec = log.records[c]
    assert (rec.bytes_sent, rec.bytes_received) == (1510, 2_500_000)
    data = json.loads(log.dumps())
    assert data[0]["errno_name"] == "ENETUNREACH" and data[1]["bytes_sent"] == 1510
    text = log.summary()
    assert text.splitlines()[0] == "network: 2 destinations, 1 allowed, 1 denied"
    assert "DENY  send    udp  8.8.8.8:53 x2" in text and "ENETUNREACH" in text
    assert "[::1]:80 (localhost)" in text and "recv 2.5 MB" in text and "sent 1.5 kB" in text
    assert ConnectionLog().summary() == "network: no connection attempts"


def test_summary_fits_a_screen() -> None:
    log = ConnectionLog()
    for port in range(100):
        log.add(pid=1, op="connect", family="AF_INET", address="1.1.1.1", port=port, protocol="tcp", allowed=True)
    lines = log.summary(max_lines=20).splitlines()
    assert len(lines) == 22 and "80 more" in lines[-1]


def test_facade_decisions_and_errors() -> None:
    net = VirtualNetwork.from_options("none", [("allow", "example.org:443/tcp")], resolver=resolver)
    v = net.connect(raw("93.184.216.34", 443), protocol=TCP, stream=True, pid=7)
    assert isinstance(v, Verdict) and v.allowed and v.host is None
    v = net.connect(raw("93.184.216.34", 80), protocol=TCP, stream=True, pid=7)
    assert isinstance(v, Verdict) and isinstance(v.decision, Deny) and v.decision.errno == errno.ENETUNREACH
    v = net.send(raw("127.0.0.53", 53), protocol=UDP)
    assert isinstance(v, Verdict) and isinstance(v.decision, Deny) and v.decision.errno == errno.ECONNREFUSED
    bad = net.connect(b"\x02\x00\x00", protocol=TCP, stream=True)
    assert isinstance(bad, BadSockaddr) and bad.errno == errno.EINVAL
    unix = net.connect(encode_sockaddr(unix_pathname(b"/run/x.sock")), protocol=TCP, stream=True)
    assert isinstance(unix, Verdict) and unix.allowed and unix.record is None
    vsock = net.connect(struct.pack("=H", socket.AF_VSOCK) + bytes(14), protocol=TCP, stream=True)
    assert isinstance(vsock, Verdict) and isinstance(vsock.decision, Deny)
    assert vsock.decision.errno == errno.EAFNOSUPPORT
    assert net.log.records[0].name == "example.org" and net.log.records[0].rule == "allow example.org:443/tcp"
    refused = net.bind(raw("192.0.2.1", 80), protocol=TCP)
    assert isinstance(refused, BindRefused) and refused.errno == errno.EADDRNOTAVAIL
    assert net.bind(encode_sockaddr(unix_pathname(b"/tmp/s")), protocol=TCP) is None


def test_bad_options_are_one_line() -> None:
    for args, msg in [(("wide",), "unknown network mode"), (("none", [("allow", "1.2.3.4:x")]), "bad network rule"),
                      (("none", [], ["x80"]), "bad --publish")]:
        with pytest.raises(ValueError, match=msg):
            VirtualNetwork.from_options(*args)  # type: ignore[arg-type]


def test_guest_loopback_pair_over_real_sockets() -> None:
    """A guest server on 0.0.0.0:80 and a client to 10.0.2.15:80 under mode none, with
    ephemeral host ports: the host sockets are bound/connected where the plan says."""
    net = VirtualNetwork.from_options("none", strategy=PortStrategy.EPHEMERAL)
    plan = net.bind(raw("0.0.0.0", 80), protocol=TCP)
    assert isinstance(plan, BindPlan)
    host_addr = parse_sockaddr(encode_sockaddr(plan.host))
    assert host_addr == inet_sockaddr("127.0.0.1", 0)
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        host_name = server.getsockname()
        guest_name = net.bound(plan, raw(*host_name))
        assert guest_name == raw("0.0.0.0", 80)
        v = net.connect(raw("10.0.2.15", 80), protocol=TCP, stream=True, pid=3)
        assert isinstance(v, Verdict) and isinstance(v.decision, Allow) and v.host is not None
        assert v.host == raw("127.0.0.1", host_name[1])
        dest = parse_sockaddr(v.host)
        client.connect((str(dest.address), dest.port))  # type: ignore[union-attr]
        conn, peer = server.accept()
        with conn:
            # the client's view of its peer and the server side's local name show port 80
            assert net.to_guest(raw(*client.getpeername()), TCP) == raw("127.0.0.1", 80)
            assert net.to_guest(raw(*conn.getsockname()), TCP) == raw("127.0.0.1", 80)
            assert net.to_guest(raw(*peer), TCP) == raw(*peer)  # ephemeral client port
        # an unbound loopback port is refused as if nothing listened
        closed = net.connect(raw("127.0.0.1", 81), protocol=TCP, stream=True)
        assert isinstance(closed, Verdict) and isinstance(closed.decision, Deny)
        assert closed.decision.errno == errno.ECONNREFUSED


def test_dns_learning_only_from_trusted_resolver() -> None:
    from tests.vnet.test_dns import cname_response

    def res(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return []
    net = VirtualNetwork.from_options("none", [("allow", "www.example.org:443")], resolver=res,
                                      trusted_resolvers=[ip("192.0.2.53")])
    pkt = cname_response()
    assert not net.observe_dns_answer(pkt, raw("127.0.0.1", 53))  # untrusted: could be the guest itself
    assert not net.observe_dns_answer(pkt, raw("192.0.2.53", 5353))  # not the DNS port
    assert not net.observe_dns_answer(b"junk", raw("192.0.2.53", 53))
    assert net.observe_dns_answer(pkt, raw("192.0.2.53", 53))
    v = net.connect(raw("1.2.3.4", 443), protocol=TCP, stream=True)
    assert isinstance(v, Verdict) and v.allowed
