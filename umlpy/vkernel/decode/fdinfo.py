"""What an fd is, for ``-yy``: socket endpoints and device numbers (strace's socketutils.c).

``/proc/TID/fd/N`` says ``socket:[INODE]`` and no more.  The protocol comes
from the fd's ``system.sockprotoname`` xattr (``TCP``, ``UDPv6``,
``UNIX-STREAM``, ``NETLINK`` …, the kernel's ``proto->name``), then:

* TCP/UDP (v4 and v6): an ``inet_diag`` dump finds the inode and gives
  ``local->remote`` (``/proc/TID/net/{tcp,udp}[6]`` if that fails; it lacks
  bound, unlistening sockets); a socket that is merely created prints as
  ``TCP:[INODE]``;
* UNIX: a ``NETLINK_SOCK_DIAG`` query by inode (``unix_diag``, see
  sock_diag(7)) gives the peer's inode and the bound name, which
  ``/proc/net/unix`` lacks;
* NETLINK: ``/proc/TID/net/netlink`` gives the protocol and the port id.

The format is strace's: ``TCP:[127.0.0.1:40000->127.0.0.1:80]``,
``UDPv6:[[::1]:53]``, ``UNIX-STREAM:[1234->1235,"/run/x.sock"]``,
``NETLINK:[ROUTE:4242]``.  Unlike strace, which caches the first answer per
inode, every lookup is fresh: a socket connected after a first look shows
its peer.  Devices print as ``/dev/null<char 1:3>``.
"""

from __future__ import annotations

import os
import socket
import stat
import struct

from umlpy.vkernel.decode.strings import quote

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_UDIAG_SHOW_NAME, _UDIAG_SHOW_PEER = 1, 4
_UNIX_DIAG_NAME, _UNIX_DIAG_PEER = 0, 2

_NETLINK_PROTOCOLS = {
    0: "ROUTE", 1: "UNUSED", 2: "USERSOCK", 3: "FIREWALL", 4: "SOCK_DIAG", 5: "NFLOG", 6: "XFRM",
    7: "SELINUX", 8: "ISCSI", 9: "AUDIT", 10: "FIB_LOOKUP", 11: "CONNECTOR", 12: "NETFILTER",
    13: "IP6_FW", 14: "DNRTMSG", 15: "KOBJECT_UEVENT", 16: "GENERIC", 18: "SCSITRANSPORT", 19: "ECRYPTFS",
    20: "RDMA", 21: "CRYPTO", 22: "SMC",
}
_DIAG_PROTOCOLS = {"TCP": (socket.AF_INET, 6), "TCPv6": (socket.AF_INET6, 6), "UDP": (socket.AF_INET, 17),
                   "UDPv6": (socket.AF_INET6, 17), "UDPLITE": (socket.AF_INET, 136),
                   "UDPLITEv6": (socket.AF_INET6, 136)}
_INET_TABLES = {"TCP": "tcp", "TCPv6": "tcp6", "UDP": "udp", "UDPv6": "udp6", "UDPLITE": "udplite",
                "UDPLITEv6": "udplite6"}


def describe(tid: int, fd: int, link: str) -> str:
    """``link`` (the fd's /proc symlink) with what ``-yy`` adds; ``link`` itself if nothing."""
    if link.startswith("socket:[") and link.endswith("]"):
        try:
            inode = int(link[8:-1])
        except ValueError:
            return link
        return _socket(tid, fd, inode) or link
    if link.startswith("/"):
        try:
            st = os.stat(f"/proc/{tid}/fd/{fd}")
        except OSError:
            return link
        kind = "char" if stat.S_ISCHR(st.st_mode) else "block" if stat.S_ISBLK(st.st_mode) else None
        if kind is not None:
            return f"{link}<{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}>"
    return link


def _socket(tid: int, fd: int, inode: int) -> str | None:
    try:
        proto = os.getxattr(f"/proc/{tid}/fd/{fd}", "system.sockprotoname").rstrip(b"\0").decode()
    except (OSError, UnicodeDecodeError):
        return None
    detail: str | None = None
    if proto in _INET_TABLES:
        detail = _inet(tid, proto, inode)
    elif proto.startswith("UNIX"):
        detail = _unix(inode)
    elif proto == "NETLINK":
        detail = _netlink(tid, inode)
    return f"{proto}:[{detail if detail is not None else inode}]"


def _endpoints(family: int, src: bytes, sport: int, dst: bytes, dport: int) -> str:
    """strace's ``local->remote``: the peer only once it has a port or an address."""
    def one(a: bytes, port: int) -> str:
        ip = socket.inet_ntop(family, a)
        return f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"

    text = one(src, sport)
    if dport or any(dst):
        text += "->" + one(dst, dport)
    return text


def _inet(tid: int, proto: str, inode: int) -> str | None:
    found = _inet_diag(proto, inode)
    return found if found is not None else _inet_proc(tid, proto, inode)


def _inet_diag(proto: str, inode: int) -> str | None:
    """Dump the protocol's sockets with inet_diag (sock_diag(7)) and pick ``inode``.

    The dump, unlike /proc/net/tcp, includes sockets that are bound but
    not listening (TCP_BOUND_INACTIVE), as strace shows them.
    """
    family, protocol = _DIAG_PROTOCOLS[proto]
    # struct inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed inet_diag_sockid
    req = struct.pack("<BBBBI", family, protocol, 0, 0, 0xFFFFFFFF) + bytes(48)
    msg = struct.pack("<IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 0x301, 1, 0) + req  # REQUEST|DUMP
    alen = 4 if family == socket.AF_INET else 16
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG) as s:
            s.send(msg)
            while True:
                data = s.recv(1 << 16)
                off = 0
                while off + 16 <= len(data):
                    length, mtype = struct.unpack_from("<IH", data, off)
                    if mtype in (_NLMSG_DONE, _NLMSG_ERROR) or length < 16:
                        return None
                    # struct inet_diag_msg: family, state, timer, retrans, sockid (48 bytes) … inode at 68
                    body = off + 16
                    if struct.unpack_from("<I", data, body + 68)[0] == inode:
                        sport, dport = struct.unpack_from(">HH", data, body + 4)
                        src, dst = data[body + 8: body + 8 + alen], data[body + 24: body + 24 + alen]
                        return _endpoints(family, src, sport, dst, dport)
                    off += (length + 3) & ~3
                if not data:
                    return None
    except OSError:
        return None


def _inet_proc(tid: int, proto: str, inode: int) -> str | None:
    """The same from ``/proc/TID/net/*`` (listening and connected sockets only)."""
    table = _INET_TABLES.get(proto)
    if table is None:
        return None
    try:
        with open(f"/proc/{tid}/net/{table}") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    want = str(inode)
    for row in rows:
        cols = row.split()
        if len(cols) < 10 or cols[9] != want:
            continue
        (la, lp), (ra, rp) = cols[1].split(":"), cols[2].split(":")
        family = socket.AF_INET if len(la) == 8 else socket.AF_INET6
        return _endpoints(family, _host_words(la), int(lp, 16), _host_words(ra), int(rp, 16))
    return None


def _host_words(hexaddr: str) -> bytes:
    """A /proc/net address column (32-bit words in host order) as network-order bytes."""
    raw = bytes.fromhex(hexaddr)
    return b"".join(raw[k:k + 4][::-1] for k in range(0, len(raw), 4))


def _netlink(tid: int, inode: int) -> str | None:
    try:
        with open(f"/proc/{tid}/net/netlink") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        cols = row.split()
        if len(cols) >= 10 and cols[9] == str(inode):
            proto, portid = int(cols[1]), int(cols[2])
            if portid == 0:
                return None  # not bound: sock_diag would not list it either
            return f"{_NETLINK_PROTOCOLS.get(proto, str(proto))}:{portid}"
    return None


def _unix(inode: int) -> str | None:
    # struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]
    req = struct.pack("<BBHIII II", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, inode,
                      _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER, 0xFFFFFFFF, 0xFFFFFFFF)
    msg = struct.pack("<IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 1, 1, 0) + req  # NLM_F_REQUEST
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG) as s:
            s.send(msg)
            data = s.recv(65536)
    except OSError:
        return None
    if len(data) < 32:
        return None
    length, mtype = struct.unpack_from("<IH", data, 0)
    if mtype == _NLMSG_ERROR or length > len(data):
        return None
    # struct unix_diag_msg (16 bytes) after the 16-byte nlmsghdr, then attributes.
    (ino,) = struct.unpack_from("<I", data, 20)
    if ino != inode:
        return None
    peer, name = 0, b""
    off = 32
    while off + 4 <= length:
        alen, atype = struct.unpack_from("<HH", data, off)
        if alen < 4:
            break
        body = data[off + 4: off + alen]
        if atype == _UNIX_DIAG_PEER and len(body) >= 4:
            (peer,) = struct.unpack_from("<I", body)
        elif atype == _UNIX_DIAG_NAME:
            name = body
        off += (alen + 3) & ~3
    if not peer and not name:
        return None
    text = str(inode) + (f"->{peer}" if peer else "")
    if name:
        text += ",@" + quote(name[1:].split(b"\0")[0]) if name[:1] == b"\0" else "," + quote(name.split(b"\0")[0])
    return text
