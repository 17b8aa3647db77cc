"""Virtual interfaces: rtnetlink answers (parsed back with pyroute2) and SIOCGIF* ioctls,
compared with the host kernel's own answers for ``lo``."""

from __future__ import annotations

import errno
import fcntl
import socket
import struct

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, nlmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.marshal import MarshalRtnl  # type: ignore[import-untyped]

from umlpy.vnet.ifreq import (
    IFREQ_SIZE,
    SIOC,
    IoctlError,
    ifconf_answer,
    ifreq_ioctl,
    pack_ifconf,
    pack_ifreq,
    parse_ifconf,
)
from umlpy.vnet.interfaces import IFF, NetConfig, VirtualInterfaces, check_hostname, parse_address, parse_mac
from umlpy.vnet.netlink import RTM, answer, answer_datagrams, parse_requests

DUMP = NLM_F_REQUEST | NLM_F_DUMP


def glibc_request(msg_type: int, seq: int, family: int = 0) -> bytes:
    """What glibc's __netlink_request sends: nlmsghdr + rtgenmsg + 3 pad bytes."""
    return struct.pack("=IHHII", 20, msg_type, DUMP, seq, 0) + bytes([family, 0, 0, 0])


def iproute2_getlink(seq: int, *, index: int = 0, name: str | None = None, flags: int = NLM_F_REQUEST) -> bytes:
    m = ifinfmsg()
    m["header"] = {"type": RTM.GETLINK, "flags": flags, "sequence_number": seq, "pid": 0}
    m["index"] = index
    m["attrs"] = [("IFLA_IFNAME", name)] if name else []
    m.encode()
    return bytes(m.data)


def parsed(data: bytes) -> list[nlmsg]:
    return list(MarshalRtnl().parse(data))


@pytest.fixture
def ifaces() -> VirtualInterfaces:
    return VirtualInterfaces()


def test_nameindex(ifaces: VirtualInterfaces) -> None:
    assert ifaces.nameindex() == [(1, "lo"), (2, "eth0")]
    assert VirtualInterfaces(NetConfig(eth0=False)).nameindex() == [(1, "lo")]
    host = socket.if_nameindex()
    assert (1, "lo") in host  # the host kernel numbers lo 1 as well


def test_getlink_dump_roundtrip(ifaces: VirtualInterfaces) -> None:
    msgs = parsed(answer(glibc_request(RTM.GETLINK, 7), ifaces, portid=4242))
    assert [m["header"]["type"] for m in msgs] == [RTM.NEWLINK, RTM.NEWLINK, 3]
    assert all(m["header"]["sequence_number"] == 7 and m["header"]["pid"] == 4242 for m in msgs)
    assert all(m["header"]["flags"] & 2 for m in msgs)  # NLM_F_MULTI
    links = [(m["index"], m.get_attr("IFLA_IFNAME")) for m in msgs[:2]]
    assert links == ifaces.nameindex()
    eth0 = msgs[1]
    assert eth0["ifi_type"] == 1 and eth0.get_attr("IFLA_ADDRESS") == "52:54:00:12:34:56"
    assert eth0.get_attr("IFLA_MTU") == 1500
    assert eth0["flags"] == int(IFF.UP | IFF.BROADCAST | IFF.RUNNING | IFF.MULTICAST | IFF.LOWER_UP)


def test_lo_matches_host_kernel(ifaces: VirtualInterfaces) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        s.send(iproute2_getlink(1, index=1))
        real = next(m for m in parsed(s.recv(65536)) if m["header"]["type"] == RTM.NEWLINK)
    ours = parsed(answer(iproute2_getlink(1, index=1), ifaces, portid=1))[0]
    for key in ("ifi_type", "index", "flags"):
        assert ours[key] == real[key], key
    for attr in ("IFLA_IFNAME", "IFLA_MTU", "IFLA_ADDRESS", "IFLA_BROADCAST"):
        assert ours.get_attr(attr) == real.get_attr(attr), attr


def test_getaddr_dump_with_family_filter(ifaces: VirtualInterfaces) -> None:
    both = parsed(answer(glibc_request(RTM.GETADDR, 8), ifaces, portid=1))
    got = [(m["index"], m["family"], m.get_attr("IFA_ADDRESS"), m["prefixlen"]) for m in both[:-1]]
    assert got == [(1, 2, "127.0.0.1", 8), (1, 10, "::1", 128), (2, 2, "10.0.2.15", 24)]
    assert both[2].get_attr("IFA_BROADCAST") == "10.0.2.255" and both[2].get_attr("IFA_LABEL") == "eth0"
    v6 = parsed(answer(glibc_request(RTM.GETADDR, 9, socket.AF_INET6), ifaces, portid=1))
    assert [m.get_attr("IFA_ADDRESS") for m in v6[:-1]] == ["::1"]


def test_getroute_dump(ifaces: VirtualInterfaces) -> None:
    cfg = NetConfig(address6="fd00::15/64", gateway6="fd00::2")
    msgs = parsed(answer(glibc_request(RTM.GETROUTE, 3), VirtualInterfaces(cfg), portid=1))[:-1]
    main = [(m["family"], m.get_attr("RTA_DST"), m["dst_len"], m.get_attr("RTA_GATEWAY"))
            for m in msgs if m["table"] == 254]
    assert (2, None, 0, "10.0.2.2") in main
    assert (2, "10.0.2.0", 24, None) in main
    assert (10, None, 0, "fd00::2") in main
    v4 = parsed(answer(glibc_request(RTM.GETROUTE, 3, socket.AF_INET), ifaces, portid=1))[:-1]
    assert {m["family"] for m in v4} == {2}


def test_several_requests_in_one_buffer(ifaces: VirtualInterfaces) -> None:
    data = glibc_request(RTM.GETLINK, 1) + glibc_request(RTM.GETADDR, 2)
    reqs = parse_requests(data)
    assert [(r.type, r.seq, r.is_dump) for r in reqs] == [(RTM.GETLINK, 1, True), (RTM.GETADDR, 2, True)]
    seqs = [m["header"]["sequence_number"] for m in parsed(answer(data, ifaces, portid=1))]
    assert seqs == [1, 1, 1, 2, 2, 2, 2]
    assert parse_requests(data[:30]) == reqs[:1]  # a truncated second message is ignored


def test_getlink_by_name_and_errors(ifaces: VirtualInterfaces) -> None:
    one = parsed(answer(iproute2_getlink(5, name="eth0", flags=NLM_F_REQUEST | NLM_F_ACK), ifaces, portid=9))
    assert one[0]["index"] == 2 and one[0]["header"]["flags"] == 0
    assert one[1]["header"]["type"] == 2 and one[1]["error"] == 0
    missing = parsed(answer(iproute2_getlink(6, index=77), ifaces, portid=9))
    assert missing[0]["header"]["type"] == 2 and missing[0]["error"] == -errno.ENODEV
    assert missing[0]["header"]["sequence_number"] == 6
    setlink = struct.pack("=IHHII", 32, RTM.NEWLINK + 3, NLM_F_REQUEST, 10, 0) + bytes(16)
    assert parsed(answer(setlink, ifaces, portid=9))[0]["error"] == -errno.EPERM
    getneigh = glibc_request(30, 11)
    assert [m["header"]["type"] for m in parsed(answer(getneigh, ifaces, portid=9))] == [3]


def ioctl_host(request: int, ifreq: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s.fileno(), request, ifreq)


@pytest.mark.parametrize("request_", [SIOC.SIOCGIFADDR, SIOC.SIOCGIFFLAGS, SIOC.SIOCGIFINDEX, SIOC.SIOCGIFNETMASK,
                                      SIOC.SIOCGIFMTU, SIOC.SIOCGIFHWADDR, SIOC.SIOCGIFBRDADDR, SIOC.SIOCGIFDSTADDR,
                                      SIOC.SIOCGIFTXQLEN, SIOC.SIOCGIFMETRIC])
def test_ifreq_lo_matches_host_kernel(ifaces: VirtualInterfaces, request_: SIOC) -> None:
    req = pack_ifreq("lo", b"")
    ours = ifreq_ioctl(request_, req, ifaces)
    assert ours == ioctl_host(request_, req)


def test_ifreq_name_and_errors(ifaces: VirtualInterfaces) -> None:
    req = pack_ifreq("", struct.pack("=i", 1))
    assert ifreq_ioctl(SIOC.SIOCGIFNAME, req, ifaces) == ioctl_host(SIOC.SIOCGIFNAME, req)
    eth0 = ifreq_ioctl(SIOC.SIOCGIFADDR, pack_ifreq("eth0", b""), ifaces)
    assert isinstance(eth0, bytes) and socket.inet_ntoa(eth0[20:24]) == "10.0.2.15"
    for request, ifreq, err in [
        (SIOC.SIOCGIFFLAGS, pack_ifreq("wlan0", b""), errno.ENODEV),
        (SIOC.SIOCGIFNAME, pack_ifreq("", struct.pack("=i", 99)), errno.ENODEV),
        (SIOC.SIOCSIFFLAGS, pack_ifreq("lo", b""), errno.EPERM),
        (0x1234, pack_ifreq("lo", b""), errno.ENOTTY),
        (SIOC.SIOCGIFADDR, b"lo", errno.EFAULT),
    ]:
        got = ifreq_ioctl(request, ifreq, ifaces)
        assert isinstance(got, IoctlError) and got.errno == err, (request, got)
    no_v4 = VirtualInterfaces(NetConfig(eth0=False))
    assert ifreq_ioctl(SIOC.SIOCGIFADDR, pack_ifreq("eth0", b""), no_v4) == IoctlError(errno.ENODEV, "no interface named 'eth0'")


def test_ifconf(ifaces: VirtualInterfaces) -> None:
    head, data = ifconf_answer(pack_ifconf(0, 0), ifaces)
    assert parse_ifconf(head) == (2 * IFREQ_SIZE, 0) and data == b""
    head, data = ifconf_answer(pack_ifconf(100, 0x7000), ifaces)  # room for two entries
    assert parse_ifconf(head) == (80, 0x7000)
    assert [d[:16].rstrip(b"\0") for d in (data[:40], data[40:])] == [b"lo", b"eth0"]
    head, data = ifconf_answer(pack_ifconf(39, 0x7000), ifaces)
    assert parse_ifconf(head) == (0, 0x7000) and data == b""
    # the first entry has the layout the host kernel uses for lo
    assert ifconf_answer(pack_ifconf(40, 1), ifaces)[1] == ioctl_host(SIOC.SIOCGIFADDR, pack_ifreq("lo", b""))


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="bad MAC address"):
        parse_mac("52:54:00:12:34")
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_mac("zz:54:00:12:34:56")
    with pytest.raises(ValueError, match="bad eth0 gateway"):
        VirtualInterfaces(NetConfig(gateway="10.9.9.9"))
    with pytest.raises(ValueError, match="bad eth0 address"):
        VirtualInterfaces(NetConfig(address="10.0.2.300/24"))
    with pytest.raises(ValueError, match="MTU"):
        VirtualInterfaces(NetConfig(mtu=10))
    assert VirtualInterfaces().local_addresses() == {__import__("ipaddress").ip_address("10.0.2.15")}


@pytest.mark.parametrize("index", [77, 1])
def test_error_and_ack_bytes_match_host_kernel(ifaces: VirtualInterfaces, index: int) -> None:
    req = iproute2_getlink(6, index=index, flags=NLM_F_REQUEST | NLM_F_ACK)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        portid = s.getsockname()[0]
        s.send(req)
        real = b""
        while not real.endswith(req[:16]) and (len(real) < 16 or real[4:6] != b"\x02\x00"):
            real += s.recv(65536)
    ours = answer(req, ifaces, portid=portid)
    last_real = [m for m in parsed(real) if m["header"]["type"] == 2][-1]
    last_ours = [m for m in parsed(ours) if m["header"]["type"] == 2][-1]
    assert last_ours["error"] == last_real["error"]
    tail = 36 if index == 1 else len(real)  # the ack is header-only; an error echoes everything
    assert ours[-tail:] == real[-tail:]


def test_dump_datagrams_are_whole_messages_within_limit() -> None:
    many = VirtualInterfaces(NetConfig(address6="fd00::15/64", gateway6="fd00::2"))
    data = glibc_request(RTM.GETROUTE, 4) + glibc_request(RTM.GETLINK, 5)
    whole = answer(data, many, portid=3)
    for limit in (3776, 300, 1):  # 1: every message alone
        dgrams = answer_datagrams(data, many, portid=3, limit=limit)
        assert b"".join(dgrams) == whole
        assert all(len(d) <= limit or len(parsed(d)) == 1 for d in dgrams)
        # no datagram mixes two requests' replies (the kernel queues each dump apart)
        assert all(len({m["header"]["sequence_number"] for m in parsed(d)}) == 1 for d in dgrams)
    assert len(answer_datagrams(data, many, portid=3)) == 2
    one = answer_datagrams(iproute2_getlink(6, index=1, flags=NLM_F_REQUEST | NLM_F_ACK), many, portid=3)
    assert len(one) == 2  # the reply and its ack: two datagrams, as netlink_ack sends them


def test_default_route_listed_first(ifaces: VirtualInterfaces) -> None:
    msgs = parsed(answer(glibc_request(RTM.GETROUTE, 3, socket.AF_INET), ifaces, portid=1))
    assert msgs[0].get_attr("RTA_GATEWAY") == "10.0.2.2" and msgs[0]["dst_len"] == 0


def test_parse_address() -> None:
    assert parse_address("10.0.2.15/24") == ("10.0.2.15/24", "10.0.2.2")
    assert parse_address("192.168.7.9/24") == ("192.168.7.9/24", "192.168.7.1")
    assert parse_address("192.168.7.1/24") == ("192.168.7.1/24", "192.168.7.2")
    assert parse_address("10.9.9.9/32") == ("10.9.9.9/32", None)
    for bad, why in [("10.0.2.15", "prefix"), ("10.0.2.0/24", "network address"), ("10.0.2.255/24", "broadcast"),
                     ("fd00::1/64", "IPv4"), ("127.0.0.5/8", "unicast"), ("10.0.2.300/24", "IPv4")]:
        with pytest.raises(ValueError, match=why):
            parse_address(bad)


def test_check_hostname() -> None:
    assert check_hostname("build-7.example") == "build-7.example"
    for bad in ("", "a" * 65, "-x", "x-", "a..b", "sp ace", "ünï"):
        with pytest.raises(ValueError, match="bad --hostname"):
            check_hostname(bad)


def test_new_getters_and_setters(ifaces: VirtualInterfaces) -> None:
    txq = ifreq_ioctl(SIOC.SIOCGIFTXQLEN, pack_ifreq("eth0", b""), ifaces)
    assert isinstance(txq, bytes) and struct.unpack_from("=i", txq, 16) == (1000,)
    for request in (SIOC.SIOCADDRT, SIOC.SIOCSIFMTU, SIOC.SIOCBRADDBR, SIOC.SIOCSARP):
        got = ifreq_ioctl(request, pack_ifreq("lo", b""), ifaces)
        assert isinstance(got, IoctlError) and got.errno == errno.EPERM
    ethtool = ifreq_ioctl(SIOC.SIOCETHTOOL, pack_ifreq("eth0", b""), ifaces)
    assert isinstance(ethtool, IoctlError) and ethtool.errno == errno.EOPNOTSUPP
    assert isinstance(got := ifreq_ioctl(SIOC.SIOCETHTOOL, pack_ifreq("wlan0", b""), ifaces), IoctlError)
    assert got.errno == errno.ENODEV
    arp = ifreq_ioctl(SIOC.SIOCGARP, bytes(68), ifaces)
    assert isinstance(arp, IoctlError) and arp.errno == errno.ENXIO


def test_cached_replies_carry_each_requests_ids(ifaces: VirtualInterfaces) -> None:
    """Replies are built once and reused: sequence numbers and port ids must still be
    the current request's, including the request header an error echoes."""
    for seq, portid in [(1, 10), (99, 4242), (1, 10)]:
        msgs = parsed(answer(glibc_request(RTM.GETADDR, seq), ifaces, portid=portid))
        assert {(m["header"]["sequence_number"], m["header"]["pid"]) for m in msgs} == {(seq, portid)}
        bad = iproute2_getlink(seq, index=77)
        bad = bad[:12] + struct.pack("=I", 555) + bad[16:]  # the request's own nlmsg_pid
        err = answer(bad, ifaces, portid=portid)
        assert struct.unpack_from("=IIiIHHII", err, 8)[:3] == (seq, portid, -errno.ENODEV)
        assert struct.unpack_from("=II", err, 28) == (seq, 555)  # the echoed request header
