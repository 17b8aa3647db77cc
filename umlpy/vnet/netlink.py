"""rtnetlink answers for the virtual interfaces, built with pyroute2's message classes.

A guest learns its interfaces through NETLINK_ROUTE: glibc's getifaddrs(3) and
if_nameindex(3) send an ``RTM_GETLINK`` dump then an ``RTM_GETADDR`` dump; ``ip route``
sends ``RTM_GETROUTE``. The vkernel (:mod:`umlpy.vkernel.nlroute`) hands the request
bytes the guest sent to :func:`answer_datagrams` and queues the datagrams returned for
the guest's recvmsg(2).

Following rtnetlink(7), netlink(7) and the kernel's ``netlink_rcv_skb`` /
``netlink_dump``:

* a buffer may hold several requests, each ``NLMSG_ALIGN``-ed; a header shorter than
  16 bytes or longer than the rest stops parsing (the kernel ignores the remainder);
  messages without ``NLM_F_REQUEST`` and control types (< 0x10) get no answer except an
  ack if ``NLM_F_ACK`` is set;
* a GET with ``NLM_F_DUMP`` is answered by ``NLM_F_MULTI`` messages and ``NLMSG_DONE``
  (whose payload is the int ``dump_done_errno``, 0); the request's ``rtgen_family``
  (first byte of the body, whether ``struct rtgenmsg`` or ``struct ifinfomsg``) filters
  addresses and routes; unknown GET dumps (neighbours, rules, ...) are empty;
* a non-dump ``RTM_GETLINK`` finds an interface by ``ifi_index`` or ``IFLA_IFNAME``
  (``ENODEV`` if none); other non-dump GETs get ``EOPNOTSUPP``; NEW/DEL/SET requests get
  ``EPERM`` (the guest may not reconfigure the network);
* errors and acks are ``NLMSG_ERROR`` with the negative errno followed by the request
  (``netlink_ack``: the whole request for an error, only its header, flagged
  ``NLM_F_CAPPED``, for an ack);
* replies carry ``nlmsg_pid`` = the *receiving socket's* port id
  (``NETLINK_CB(skb).portid``), not the request's ``nlmsg_pid`` (glibc sends 0 there and
  then checks replies against the port id from getsockname(2)). The caller passes it.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache, lru_cache

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    nlmsg,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from umlpy.vnet.interfaces import IFF, Interface, VirtualInterfaces

log = logging.getLogger(__name__)

NLMSG_HDRLEN = 16
# SKB_WITH_OVERHEAD(PAGE_SIZE) on x86-64: the size of the kernel's first dump skb, so
# readers with a one-page buffer (glibc) never see a truncated dump datagram.
NLMSG_GOODSIZE = 3776
NLMSG_MIN_TYPE = 0x10
IFA_F_PERMANENT = 0x80
INFINITY_LIFE_TIME = 0xFFFFFFFF


class RTM(IntEnum):
    """rtnetlink message types used here (<linux/rtnetlink.h>)."""

    NEWLINK = 16
    GETLINK = 18
    NEWADDR = 20
    GETADDR = 22
    NEWROUTE = 24
    GETROUTE = 26


class RTScope(IntEnum):
    UNIVERSE = 0
    LINK = 253
    HOST = 254


class RTN(IntEnum):
    UNICAST = 1
    LOCAL = 2
    BROADCAST = 3


RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
RTPROT_KERNEL = 2
RTPROT_BOOT = 3


class nlmsgdone(nlmsg):  # type: ignore[misc]
    """``NLMSG_DONE`` with its ``int`` payload (``dump_done_errno``)."""

    fields = (("dump_done_errno", "i"),)


class nlmsgerr_echo(nlmsg):  # type: ignore[misc]
    """``struct nlmsgerr``: the negative errno then the offending request's header."""

    fields = (("error", "i"), ("orig_length", "I"), ("orig_type", "H"), ("orig_flags", "H"),
              ("orig_seq", "I"), ("orig_pid", "I"))


@dataclass(frozen=True, slots=True)
class NetlinkRequest:
    """One request as the guest sent it."""

    type: int
    flags: int
    seq: int
    pid: int
    length: int
    family: int
    index: int = 0
    ifname: str | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    @property
    def is_dump(self) -> bool:
        return bool(self.flags & NLM_F_DUMP)


def parse_requests(data: bytes) -> list[NetlinkRequest]:
    """Split a guest's sendmsg buffer into requests (see the module docstring)."""
    out: list[NetlinkRequest] = []
    offset = 0
    while offset + NLMSG_HDRLEN <= len(data):
        head = nlmsg(data[offset : offset + NLMSG_HDRLEN])
        head.decode()
        h = head["header"]
        length = h["length"]
        if length < NLMSG_HDRLEN or offset + length > len(data):
            log.debug("netlink request with bad length %d at offset %d", length, offset)
            break
        body = data[offset + NLMSG_HDRLEN : offset + length]
        family = body[0] if body else 0
        index, ifname = 0, None
        if h["type"] == RTM.GETLINK and not h["flags"] & NLM_F_DUMP and len(body) >= 16:
            msg = ifinfmsg(data[offset : offset + length])
            msg.decode()
            index, ifname = msg["index"], msg.get_attr("IFLA_IFNAME")
        out.append(NetlinkRequest(h["type"], h["flags"], h["sequence_number"], h["pid"], length,
                                  family, index, ifname, data[offset : offset + length]))
        offset += (length + 3) & ~3
    return out


def _header(msg_type: int, flags: int, req: NetlinkRequest, portid: int) -> dict[str, int]:
    return {"type": msg_type, "flags": flags, "sequence_number": req.seq, "pid": portid}


def link_message(iface: Interface, req: NetlinkRequest, portid: int, flags: int) -> ifinfmsg:
    """``RTM_NEWLINK`` for one interface."""
    m = ifinfmsg()
    m["header"] = _header(RTM.NEWLINK, flags, req, portid)
    m["family"] = socket.AF_UNSPEC
    m["ifi_type"] = int(iface.link_type)
    m["index"] = iface.index
    m["flags"] = int(iface.flags)
    m["change"] = 0
    broadcast = "00:00:00:00:00:00" if iface.flags & IFF.LOOPBACK else "ff:ff:ff:ff:ff:ff"
    m["attrs"] = [
        ("IFLA_IFNAME", iface.name),
        ("IFLA_TXQLEN", iface.txqlen),
        ("IFLA_QDISC", "noqueue" if iface.flags & IFF.LOOPBACK else "fq_codel"),
        ("IFLA_OPERSTATE", "UNKNOWN" if iface.flags & IFF.LOOPBACK else "UP"),
        ("IFLA_LINKMODE", 0),
        ("IFLA_MTU", iface.mtu),
        ("IFLA_GROUP", 0),
        ("IFLA_CARRIER", 1),
        ("IFLA_ADDRESS", iface.mac_text),
        ("IFLA_BROADCAST", broadcast),
    ]
    return m


def address_messages(iface: Interface, req: NetlinkRequest, portid: int, flags: int) -> Iterator[ifaddrmsg]:
    """``RTM_NEWADDR`` for each address of ``iface`` in the requested family."""
    for addr in iface.addresses:
        family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        if req.family not in (socket.AF_UNSPEC, family):
            continue
        m = ifaddrmsg()
        m["header"] = _header(RTM.NEWADDR, flags, req, portid)
        m["family"] = family
        m["prefixlen"] = addr.network.prefixlen
        m["flags"] = IFA_F_PERMANENT
        m["scope"] = RTScope.HOST if addr.ip.is_loopback else RTScope.LINK if addr.ip.is_link_local else 0
        m["index"] = iface.index
        attrs: list[tuple[str, object]] = [("IFA_ADDRESS", str(addr.ip))]
        if addr.version == 4:
            attrs.append(("IFA_LOCAL", str(addr.ip)))
            if not addr.ip.is_loopback and addr.network.prefixlen < 31:
                attrs.append(("IFA_BROADCAST", str(addr.network.broadcast_address)))
            attrs.append(("IFA_LABEL", iface.name))
        attrs.append(("IFA_FLAGS", IFA_F_PERMANENT))
        attrs.append(("IFA_CACHEINFO", {"ifa_preferred": INFINITY_LIFE_TIME, "ifa_valid": INFINITY_LIFE_TIME,
                                        "cstamp": 0, "tstamp": 0}))
        m["attrs"] = attrs
        yield m


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One route of the virtual table (what ``ip route show table all`` would list)."""

    family: int
    dst: str | None
    dst_len: int
    table: int
    proto: int
    scope: int
    type: int
    oif: int
    gateway: str | None = None
    prefsrc: str | None = None
    priority: int | None = None


def routes(ifaces: VirtualInterfaces) -> list[RouteEntry]:
    """The routes Linux would derive from the interface table (kernel routes per
    address, local/broadcast entries in table local, default routes via gateways)."""
    out: list[RouteEntry] = []
    # Default routes first: the kernel dumps its FIB in key order, 0.0.0.0/0 before the rest.
    for iface in ifaces.interfaces:
        if iface.gateway4 is not None:
            out.append(RouteEntry(socket.AF_INET, None, 0, RT_TABLE_MAIN, RTPROT_BOOT, RTScope.UNIVERSE,
                                  RTN.UNICAST, iface.index, gateway=str(iface.gateway4)))
    for iface in ifaces.interfaces:
        for a in iface.ipv4():
            net, ip = a.network, str(a.ip)
            if not a.ip.is_loopback:
                out.append(RouteEntry(socket.AF_INET, str(net.network_address), net.prefixlen, RT_TABLE_MAIN,
                                      RTPROT_KERNEL, RTScope.LINK, RTN.UNICAST, iface.index, prefsrc=ip))
            else:
                out.append(RouteEntry(socket.AF_INET, str(net.network_address), net.prefixlen, RT_TABLE_LOCAL,
                                      RTPROT_KERNEL, RTScope.HOST, RTN.LOCAL, iface.index, prefsrc=ip))
            out.append(RouteEntry(socket.AF_INET, ip, 32, RT_TABLE_LOCAL, RTPROT_KERNEL, RTScope.HOST, RTN.LOCAL,
                                  iface.index, prefsrc=ip))
            if net.prefixlen < 31:
                out.append(RouteEntry(socket.AF_INET, str(net.broadcast_address), 32, RT_TABLE_LOCAL, RTPROT_KERNEL,
                                      RTScope.LINK, RTN.BROADCAST, iface.index, prefsrc=ip))
        for a6 in iface.ipv6():
            out.append(RouteEntry(socket.AF_INET6, str(a6.network.network_address), a6.network.prefixlen,
                                  RT_TABLE_MAIN, RTPROT_KERNEL, RTScope.UNIVERSE, RTN.UNICAST, iface.index,
                                  priority=256))
            out.append(RouteEntry(socket.AF_INET6, str(a6.ip), 128, RT_TABLE_LOCAL, RTPROT_KERNEL, RTScope.HOST,
                                  RTN.LOCAL, iface.index, priority=0))
        if iface.gateway6 is not None:
            out.append(RouteEntry(socket.AF_INET6, None, 0, RT_TABLE_MAIN, RTPROT_BOOT, RTScope.UNIVERSE,
                                  RTN.UNICAST, iface.index, gateway=str(iface.gateway6), priority=1024))
    return out


def route_message(r: RouteEntry, req: NetlinkRequest, portid: int, flags: int) -> rtmsg:
    """``RTM_NEWROUTE`` for one route."""
    m = rtmsg()
    m["header"] = _header(RTM.NEWROUTE, flags, req, portid)
    for key in ("family", "dst_len", "table", "proto", "scope", "type"):
        m[key] = int(getattr(r, key))
    m["src_len"], m["tos"], m["flags"] = 0, 0, 0
    attrs: list[tuple[str, object]] = [("RTA_TABLE", r.table)]
    if r.dst is not None:
        attrs.append(("RTA_DST", r.dst))
    if r.priority is not None:
        attrs.append(("RTA_PRIORITY", r.priority))
    if r.prefsrc is not None:
        attrs.append(("RTA_PREFSRC", r.prefsrc))
    if r.gateway is not None:
        attrs.append(("RTA_GATEWAY", r.gateway))
    attrs.append(("RTA_OIF", r.oif))
    m["attrs"] = attrs
    return m


@cache
def _error_class(payload: int) -> type[nlmsgerr_echo]:
    fields = nlmsgerr_echo.fields + ((("orig_payload", f"{payload}s"),) if payload else ())
    return type(f"nlmsgerr_echo_{payload}", (nlmsgerr_echo,), {"fields": fields})


def _error(req: NetlinkRequest, err: int, portid: int) -> nlmsgerr_echo:
    """NLMSG_ERROR as ``netlink_ack`` builds it: an error echoes the whole request, an ack
    (error 0) only its header and is flagged NLM_F_CAPPED."""
    payload = req.raw[NLMSG_HDRLEN:] if err else b""
    m = _error_class(len(payload))()
    m["header"] = {"type": NLMSG_ERROR, "flags": 0 if err else NLM_F_CAPPED, "sequence_number": req.seq,
                   "pid": portid}
    m["error"] = -err
    m["orig_length"], m["orig_type"], m["orig_flags"] = req.length, req.type, req.flags
    m["orig_seq"], m["orig_pid"] = req.seq, req.pid
    if payload:
        m["orig_payload"] = payload
    return m


def _dump(req: NetlinkRequest, ifaces: VirtualInterfaces, portid: int) -> list[nlmsg]:
    msgs: list[nlmsg] = []
    if req.type == RTM.GETLINK:
        msgs.extend(link_message(i, req, portid, NLM_F_MULTI) for i in ifaces.interfaces)
    elif req.type == RTM.GETADDR:
        for i in ifaces.interfaces:
            msgs.extend(address_messages(i, req, portid, NLM_F_MULTI))
    elif req.type == RTM.GETROUTE:
        msgs.extend(route_message(r, req, portid, NLM_F_MULTI) for r in routes(ifaces)
                    if req.family in (socket.AF_UNSPEC, r.family))
    done = nlmsgdone()
    done["header"] = _header(NLMSG_DONE, NLM_F_MULTI, req, portid)
    done["dump_done_errno"] = 0
    msgs.append(done)
    return msgs


def _one(req: NetlinkRequest, ifaces: VirtualInterfaces, portid: int) -> list[nlmsg]:
    kind = (req.type - RTM.NEWLINK) & 3
    if kind != 2:
        return [_error(req, errno.EPERM, portid)]
    if req.type != RTM.GETLINK:
        return [_error(req, errno.EOPNOTSUPP, portid)]
    iface = ifaces.by_index(req.index) if req.index else ifaces.by_name(req.ifname or "")
    if iface is None or (req.ifname is not None and iface.name != req.ifname):
        return [_error(req, errno.ENODEV, portid)]
    msgs: list[nlmsg] = [link_message(iface, req, portid, 0)]
    if req.flags & NLM_F_ACK:
        msgs.append(_error(req, 0, portid))
    return msgs


def answer(data: bytes, ifaces: VirtualInterfaces, *, portid: int) -> bytes:
    """All reply bytes for the requests in ``data``, in order, ready for recvmsg(2)."""
    return b"".join(answer_datagrams(data, ifaces, portid=portid))


def answer_datagrams(data: bytes, ifaces: VirtualInterfaces, *, portid: int,
                     limit: int = NLMSG_GOODSIZE) -> list[bytes]:
    """The replies to the requests in ``data`` as the kernel queues them: one datagram
    per non-dump reply, and each dump packed into datagrams of at most ``limit`` bytes
    (whole messages; one larger message gets a datagram of its own). A reader whose
    buffer holds ``limit`` bytes never sees MSG_TRUNC (glibc reads with one page).

    pyroute2 takes ~250 us to encode a dump, so replies are built once per request
    (with sequence number and port id 0) and cached; each use only sets those two
    header fields (and the echoed ones in NLMSG_ERROR), which is all that differs."""
    out: list[bytes] = []
    for req in parse_requests(data):
        key = req.raw[:8] + bytes(8) + req.raw[NLMSG_HDRLEN:]
        out.extend(_with_ids(d, req.seq, req.pid, portid) for d in _cached_replies(key, ifaces, limit))
    return out


_SEQ_PID = struct.Struct("=II")


def _with_ids(dgram: bytes, seq: int, req_pid: int, portid: int) -> bytes:
    """``dgram`` with every message's nlmsg_seq/nlmsg_pid set (netlink(7) header fields)."""
    buf = bytearray(dgram)
    off = 0
    while off + NLMSG_HDRLEN <= len(buf):
        length, msg_type = struct.unpack_from("=IH", buf, off)
        _SEQ_PID.pack_into(buf, off + 8, seq, portid)
        if msg_type == NLMSG_ERROR and length >= NLMSG_HDRLEN + 20:  # struct nlmsgerr echoes the request's
            _SEQ_PID.pack_into(buf, off + NLMSG_HDRLEN + 12, seq, req_pid)
        off += max((length + 3) & ~3, NLMSG_HDRLEN)
    return bytes(buf)


@lru_cache(maxsize=128)
def _cached_replies(request: bytes, ifaces: VirtualInterfaces, limit: int) -> tuple[bytes, ...]:
    return tuple(_replies(parse_requests(request)[0], ifaces, limit))


def _replies(req: NetlinkRequest, ifaces: VirtualInterfaces, limit: int) -> list[bytes]:
    """The reply datagrams to ``req``, with port id 0 (set by :func:`_with_ids`)."""
    msgs: list[nlmsg]
    dump = False
    if req.type < NLMSG_MIN_TYPE or not req.flags & NLM_F_REQUEST:
        msgs = [_error(req, 0, 0)] if req.flags & NLM_F_ACK else []
    elif req.is_dump and (req.type - RTM.NEWLINK) & 3 == 2:
        msgs, dump = _dump(req, ifaces, 0), True
    else:
        msgs = _one(req, ifaces, 0)
    out: list[bytes] = []
    chunk = bytearray()
    for m in msgs:
        m.encode()
        raw = bytes(m.data) + bytes(-len(m.data) % 4)
        if chunk and (not dump or len(chunk) + len(raw) > limit):
            out.append(bytes(chunk))
            chunk = bytearray()
        chunk += raw
    if chunk:
        out.append(bytes(chunk))
    return out

