"""Socket addresses as frozen values, parsed from and encoded to the guest's raw bytes.

A syscall handler reads ``addrlen`` bytes of ``struct sockaddr`` from guest memory and
calls :func:`parse_sockaddr`; it gets back either a value (:class:`SockaddrIn`,
:class:`SockaddrIn6`, :class:`SockaddrUn`, :class:`SockaddrNl`, :class:`SockaddrUnspec`,
:class:`SockaddrOpaque`) or a :class:`BadSockaddr` carrying the errno the kernel would
return. :func:`encode_sockaddr` gives the exact bytes back: ``encode(parse(b)) == b`` for
every accepted ``b`` (bytes the kernel ignores, such as ``sin_zero`` or anything past the
structure when ``addrlen`` is larger, are kept in a ``tail`` that does not take part in
equality). A rewritten address therefore keeps the guest's ``addrlen``.

Layouts and length rules followed (x86-64):

* ip(7) ``sockaddr_in``: family u16 host order, port u16 network order, 4-byte address,
  8 bytes ``sin_zero``. ``addrlen < 16`` is EINVAL (``inet_bind``, ``tcp_v4_connect``,
  ``udp_sendmsg``).
* ipv6(7) ``sockaddr_in6``: family, port (BE), ``sin6_flowinfo`` (BE u32), 16-byte
  address, ``sin6_scope_id`` (host-order u32). The kernel accepts the 24-byte RFC 2133
  form without scope id (``SIN6_LEN_RFC2133``); shorter is EINVAL.
* unix(7) ``sockaddr_un``: family + ``sun_path[108]``; ``addrlen`` 2 is an *unnamed*
  socket (what getsockname(2) reports for an unbound socket; bind(2) with it autobinds,
  connect(2) with it is EINVAL — the handler decides per call); ``sun_path[0] == 0``
  is an *abstract* name whose every byte up to ``addrlen`` counts; otherwise a
  *pathname* ending at the first NUL (or at ``addrlen``). ``addrlen > 110`` is EINVAL.
* netlink(7) ``sockaddr_nl``: family, u16 pad, ``nl_pid`` u32, ``nl_groups`` u32;
  shorter than 12 is EINVAL.
* ``AF_UNSPEC``: only the family is meaningful (connect(2) with it dissolves an
  association); the rest is kept as tail.
* Any other family is kept opaque.
* Common to all (``move_addr_to_kernel`` in net/socket.c): fewer than 2 bytes or more
  than ``sizeof(struct sockaddr_storage)`` (128) is EINVAL. An ``addrlen`` of 0 means "no
  address" for sendto(2)/sendmsg(2); handlers must check that before calling here.

Policy helpers: :func:`policy_address` folds an IPv4-mapped IPv6 address
(``::ffff:127.0.0.1``) to its IPv4 address, and :func:`destination_address` also maps the
unspecified addresses ``0.0.0.0`` and ``::`` (and ``::ffff:0.0.0.0``) to loopback,
because connecting to them reaches services bound on 127.0.0.1 / ::1.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import struct
from dataclasses import dataclass, field
from enum import IntEnum

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SOCKADDR_STORAGE_SIZE = 128
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28
SIN6_LEN_RFC2133 = 24
SOCKADDR_UN_SIZE = 110
UNIX_PATH_MAX = 108
SOCKADDR_NL_SIZE = 12
_FAMILY = struct.Struct("=H")


class AddressFamily(IntEnum):
    """The ``sa_family`` values this module decodes (values from <bits/socket.h>)."""

    AF_UNSPEC = 0
    AF_UNIX = 1
    AF_INET = 2
    AF_INET6 = 10
    AF_NETLINK = 16


@dataclass(frozen=True, slots=True)
class BadSockaddr:
    """Bytes that are not a valid address: the guest gets ``-errno``, as connect(2) would."""

    errno: int
    reason: str


@dataclass(frozen=True, slots=True)
class SockaddrIn:
    """ip(7) ``struct sockaddr_in``."""

    address: ipaddress.IPv4Address
    port: int
    tail: bytes = field(default=bytes(8), compare=False, repr=False)

    family = AddressFamily.AF_INET


@dataclass(frozen=True, slots=True)
class SockaddrIn6:
    """ipv6(7) ``struct sockaddr_in6``; ``rfc2133`` marks the 24-byte form without scope id."""

    address: ipaddress.IPv6Address
    port: int
    flowinfo: int = 0
    scope_id: int = 0
    tail: bytes = field(default=b"", compare=False, repr=False)
    rfc2133: bool = field(default=False, compare=False, repr=False)

    family = AddressFamily.AF_INET6


class UnixKind(IntEnum):
    """The three kinds of unix(7) address."""

    UNNAMED = 0
    PATHNAME = 1
    ABSTRACT = 2


@dataclass(frozen=True, slots=True)
class SockaddrUn:
    """unix(7) ``struct sockaddr_un``.

    ``name`` is the path (without its NUL) for PATHNAME, the bytes after the leading NUL for
    ABSTRACT, and empty for UNNAMED. ``tail`` holds what followed a pathname's end.
    """

    kind: UnixKind
    name: bytes = b""
    tail: bytes = field(default=b"\0", compare=False, repr=False)

    family = AddressFamily.AF_UNIX


@dataclass(frozen=True, slots=True)
class SockaddrNl:
    """netlink(7) ``struct sockaddr_nl``."""

    pid: int
    groups: int = 0
    pad: int = field(default=0, compare=False, repr=False)
    tail: bytes = field(default=b"", compare=False, repr=False)

    family = AddressFamily.AF_NETLINK


@dataclass(frozen=True, slots=True)
class SockaddrUnspec:
    """``AF_UNSPEC``: only the family counts."""

    tail: bytes = field(default=b"", compare=False, repr=False)

    family = AddressFamily.AF_UNSPEC


@dataclass(frozen=True, slots=True)
class SockaddrOpaque:
    """A family this module does not decode; the bytes after the family are kept as is."""

    family: int
    data: bytes


Sockaddr = SockaddrIn | SockaddrIn6 | SockaddrUn | SockaddrNl | SockaddrUnspec | SockaddrOpaque
InetSockaddr = SockaddrIn | SockaddrIn6


def _bad(reason: str, err: int = errno.EINVAL) -> BadSockaddr:
    return BadSockaddr(err, reason)


def parse_sockaddr(data: bytes) -> Sockaddr | BadSockaddr:
    """Decode ``data`` (exactly ``addrlen`` bytes read from the guest)."""
    n = len(data)
    if n < _FAMILY.size:
        return _bad(f"addrlen {n} is shorter than sa_family")
    if n > SOCKADDR_STORAGE_SIZE:
        return _bad(f"addrlen {n} exceeds sizeof(struct sockaddr_storage)")
    (family,) = _FAMILY.unpack_from(data)
    match family:
        case AddressFamily.AF_INET:
            if n < SOCKADDR_IN_SIZE:
                return _bad(f"sockaddr_in needs {SOCKADDR_IN_SIZE} bytes, got {n}")
            return SockaddrIn(ipaddress.IPv4Address(data[4:8]), int.from_bytes(data[2:4], "big"), data[8:])
        case AddressFamily.AF_INET6:
            if n < SIN6_LEN_RFC2133:
                return _bad(f"sockaddr_in6 needs {SIN6_LEN_RFC2133} bytes, got {n}")
            port, flowinfo = struct.unpack_from("!HI", data, 2)
            address = ipaddress.IPv6Address(data[8:24])
            if n < SOCKADDR_IN6_SIZE:
                return SockaddrIn6(address, port, flowinfo, 0, data[24:], rfc2133=True)
            (scope_id,) = struct.unpack_from("=I", data, 24)
            return SockaddrIn6(address, port, flowinfo, scope_id, data[28:])
        case AddressFamily.AF_UNIX:
            return _parse_un(data)
        case AddressFamily.AF_NETLINK:
            if n < SOCKADDR_NL_SIZE:
                return _bad(f"sockaddr_nl needs {SOCKADDR_NL_SIZE} bytes, got {n}")
            pad, pid, groups = struct.unpack_from("=HII", data, 2)
            return SockaddrNl(pid, groups, pad, data[12:])
        case AddressFamily.AF_UNSPEC:
            return SockaddrUnspec(data[2:])
        case _:
            return SockaddrOpaque(family, data[2:])


def _parse_un(data: bytes) -> SockaddrUn | BadSockaddr:
    if len(data) > SOCKADDR_UN_SIZE:
        return _bad(f"sockaddr_un addrlen {len(data)} exceeds {SOCKADDR_UN_SIZE}")
    path = data[2:]
    if not path:
        return SockaddrUn(UnixKind.UNNAMED, b"", b"")
    if path[0] == 0:
        return SockaddrUn(UnixKind.ABSTRACT, path[1:], b"")
    end = path.find(b"\0")
    if end < 0:
        return SockaddrUn(UnixKind.PATHNAME, path, b"")
    return SockaddrUn(UnixKind.PATHNAME, path[:end], path[end:])


def encode_sockaddr(sa: Sockaddr) -> bytes:
    """The bytes of ``sa``, including the tail kept by :func:`parse_sockaddr`."""
    fam = _FAMILY.pack(int(sa.family))
    match sa:
        case SockaddrIn():
            return fam + sa.port.to_bytes(2, "big") + sa.address.packed + sa.tail
        case SockaddrIn6():
            head = fam + struct.pack("!HI", sa.port, sa.flowinfo) + sa.address.packed
            if sa.rfc2133:
                return head + sa.tail
            return head + struct.pack("=I", sa.scope_id) + sa.tail
        case SockaddrUn():
            if sa.kind is UnixKind.UNNAMED:
                return fam
            if sa.kind is UnixKind.ABSTRACT:
                return fam + b"\0" + sa.name
            return fam + sa.name + sa.tail
        case SockaddrNl():
            return fam + struct.pack("=HII", sa.pad, sa.pid, sa.groups) + sa.tail
        case SockaddrUnspec():
            return fam + sa.tail
        case SockaddrOpaque():
            return fam + sa.data


def unix_pathname(path: bytes) -> SockaddrUn:
    """A pathname address as getsockname(2) reports it (NUL-terminated).

    Raises ValueError when ``path`` is empty, holds a NUL, or does not fit ``sun_path``.
    """
    if not path or b"\0" in path or len(path) >= UNIX_PATH_MAX:
        raise ValueError(f"not a unix(7) pathname: {path!r}")
    return SockaddrUn(UnixKind.PATHNAME, path, b"\0")


def unix_abstract(name: bytes) -> SockaddrUn:
    """An abstract-namespace address (the leading NUL is implied)."""
    if len(name) > UNIX_PATH_MAX - 1:
        raise ValueError(f"abstract name too long: {len(name)} bytes")
    return SockaddrUn(UnixKind.ABSTRACT, name)


def inet_sockaddr(address: IPAddress | str, port: int) -> InetSockaddr:
    """A ``sockaddr_in`` or ``sockaddr_in6`` for ``address`` (as the kernel would report it)."""
    ip = ipaddress.ip_address(address)
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} out of range")
    if isinstance(ip, ipaddress.IPv4Address):
        return SockaddrIn(ip, port)
    return SockaddrIn6(ip, port)


def with_address(sa: InetSockaddr, address: IPAddress, port: int) -> InetSockaddr:
    """``sa`` with address and port replaced, keeping flowinfo, scope id, tail and length.

    An IPv4 address put into a ``sockaddr_in6`` is written IPv4-mapped.
    """
    if isinstance(sa, SockaddrIn):
        if not isinstance(address, ipaddress.IPv4Address):
            raise TypeError(f"cannot put {address} into a sockaddr_in")
        return SockaddrIn(address, port, sa.tail)
    if isinstance(address, ipaddress.IPv4Address):
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    return SockaddrIn6(address, port, sa.flowinfo, sa.scope_id, sa.tail, rfc2133=sa.rfc2133)


def policy_address(sa: InetSockaddr) -> IPAddress:
    """The address policy decisions use: IPv4-mapped IPv6 folded to IPv4."""
    if isinstance(sa, SockaddrIn6) and sa.address.ipv4_mapped is not None:
        return sa.address.ipv4_mapped
    return sa.address


LOOPBACK4 = ipaddress.IPv4Address("127.0.0.1")
LOOPBACK6 = ipaddress.IPv6Address("::1")


def destination_address(sa: InetSockaddr) -> IPAddress:
    """Where a connect/sendto to ``sa`` really goes: like :func:`policy_address`, and
    the unspecified address (``0.0.0.0``, ``::``) means this host's loopback."""
    ip = policy_address(sa)
    if ip.is_unspecified:
        return LOOPBACK4 if isinstance(ip, ipaddress.IPv4Address) else LOOPBACK6
    return ip


def is_inet(sa: Sockaddr | BadSockaddr) -> bool:
    """True for ``sockaddr_in`` and ``sockaddr_in6`` values."""
    return isinstance(sa, SockaddrIn | SockaddrIn6)


def to_python(sa: InetSockaddr) -> tuple[str, int] | tuple[str, int, int, int]:
    """The tuple form the ``socket`` module uses (for tests and logs)."""
    if isinstance(sa, SockaddrIn):
        return (str(sa.address), sa.port)
    return (str(sa.address), sa.port, sa.flowinfo, sa.scope_id)

