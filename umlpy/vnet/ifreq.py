"""netdevice(7) ioctls answered from the virtual interfaces: ``struct ifreq`` / ``ifconf``.

Older code (and busybox, net-tools, some language runtimes) asks interfaces through
ioctls on any socket instead of netlink. The vkernel reads the guest's 40-byte
``struct ifreq`` (or 16-byte ``struct ifconf``), calls :func:`ifreq_ioctl` /
:func:`ifconf_answer`, and writes the returned bytes back.

Layouts (x86-64, <net/if.h>): ``struct ifreq`` is ``char ifr_name[16]`` and a 24-byte
union holding ``struct sockaddr`` (``ifr_addr``, ``ifr_netmask``, ``ifr_broadaddr``,
``ifr_hwaddr``), ``short ifr_flags``, ``int ifr_ifindex`` or ``int ifr_mtu``.
``struct ifconf`` is ``int ifc_len``, 4 bytes of padding, ``char *ifc_buf``.

Behaviour follows net/core/dev_ioctl.c and net/ipv4/devinet.c: the name is cut at
``IFNAMSIZ - 1``; an unknown name or index is ``ENODEV``; an AF_INET query on an
interface without an IPv4 address is ``EADDRNOTAVAIL``; SIOCGIFCONF lists one entry per
IPv4 address, and with a NULL buffer only reports the length needed; requests that change
the host (SIOCSIF*, routes, ARP, bridges) are ``EPERM``; ethtool/MII/ARP queries on a
virtual device are ``EOPNOTSUPP``; anything else is ``ENOTTY``.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from dataclasses import dataclass
from enum import IntEnum

from umlpy.vnet.interfaces import Interface, VirtualInterfaces

log = logging.getLogger(__name__)

IFNAMSIZ = 16
IFREQ_SIZE = 40
_IFREQ_NAME = struct.Struct("16s")
_IFCONF = struct.Struct("=i4xQ")
IFCONF_SIZE = _IFCONF.size


class SIOC(IntEnum):
    """Socket ioctl numbers that name a network device or the host's tables
    (<linux/sockios.h>, <linux/ethtool.h>'s SIOCETHTOOL).  Per-socket ones (SIOCGSTAMP,
    SIOCINQ, ...) are not here: they concern the guest's own socket."""

    SIOCADDRT = 0x890B
    SIOCDELRT = 0x890C
    SIOCGIFNAME = 0x8910
    SIOCSIFLINK = 0x8911
    SIOCGIFCONF = 0x8912
    SIOCGIFFLAGS = 0x8913
    SIOCSIFFLAGS = 0x8914
    SIOCGIFADDR = 0x8915
    SIOCSIFADDR = 0x8916
    SIOCGIFDSTADDR = 0x8917
    SIOCSIFDSTADDR = 0x8918
    SIOCGIFBRDADDR = 0x8919
    SIOCSIFBRDADDR = 0x891A
    SIOCGIFNETMASK = 0x891B
    SIOCSIFNETMASK = 0x891C
    SIOCGIFMETRIC = 0x891D
    SIOCSIFMETRIC = 0x891E
    SIOCGIFMTU = 0x8921
    SIOCSIFMTU = 0x8922
    SIOCSIFNAME = 0x8923
    SIOCSIFHWADDR = 0x8924
    SIOCGIFHWADDR = 0x8927
    SIOCADDMULTI = 0x8931
    SIOCDELMULTI = 0x8932
    SIOCGIFINDEX = 0x8933
    SIOCSIFPFLAGS = 0x8934
    SIOCGIFPFLAGS = 0x8935
    SIOCDIFADDR = 0x8936
    SIOCSIFHWBROADCAST = 0x8937
    SIOCGIFTXQLEN = 0x8942
    SIOCSIFTXQLEN = 0x8943
    SIOCETHTOOL = 0x8946
    SIOCGMIIPHY = 0x8947
    SIOCGMIIREG = 0x8948
    SIOCSMIIREG = 0x8949
    SIOCDARP = 0x8953
    SIOCGARP = 0x8954
    SIOCSARP = 0x8955
    SIOCGIFMAP = 0x8970
    SIOCSIFMAP = 0x8971
    SIOCBRADDBR = 0x89A0
    SIOCBRDELBR = 0x89A1
    SIOCBRADDIF = 0x89A2
    SIOCBRDELIF = 0x89A3


# Requests that change the host (CAP_NET_ADMIN): refused, the guest may not reconfigure.
_SETTERS = {SIOC.SIOCADDRT, SIOC.SIOCDELRT, SIOC.SIOCSIFLINK, SIOC.SIOCSIFFLAGS, SIOC.SIOCSIFADDR,
            SIOC.SIOCSIFDSTADDR, SIOC.SIOCSIFBRDADDR, SIOC.SIOCSIFNETMASK, SIOC.SIOCSIFMETRIC, SIOC.SIOCSIFMTU,
            SIOC.SIOCSIFNAME, SIOC.SIOCSIFHWADDR, SIOC.SIOCADDMULTI, SIOC.SIOCDELMULTI, SIOC.SIOCSIFPFLAGS,
            SIOC.SIOCDIFADDR, SIOC.SIOCSIFHWBROADCAST, SIOC.SIOCSIFTXQLEN, SIOC.SIOCSMIIREG, SIOC.SIOCDARP,
            SIOC.SIOCSARP, SIOC.SIOCSIFMAP, SIOC.SIOCBRADDBR, SIOC.SIOCBRDELBR, SIOC.SIOCBRADDIF, SIOC.SIOCBRDELIF}


@dataclass(frozen=True, slots=True)
class IoctlError:
    """The ioctl fails with ``-errno``."""

    errno: int
    reason: str


def ifreq_name(ifreq: bytes) -> str:
    """``ifr_name`` as the kernel reads it (terminated at IFNAMSIZ - 1)."""
    raw = ifreq[: IFNAMSIZ - 1]
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _sockaddr_in(address: bytes) -> bytes:
    return struct.pack("=H2x4s8x", socket.AF_INET, address)


def pack_ifreq(name: str, union: bytes) -> bytes:
    """A ``struct ifreq`` with ``name`` and the first bytes of the union set."""
    if len(union) > IFREQ_SIZE - IFNAMSIZ:
        raise ValueError("ifreq union is 24 bytes")
    return _IFREQ_NAME.pack(name.encode()) + union.ljust(IFREQ_SIZE - IFNAMSIZ, b"\0")


def _inet(iface: Interface, which: SIOC) -> bytes | IoctlError:
    v4 = iface.ipv4()
    if not v4:
        return IoctlError(errno.EADDRNOTAVAIL, f"{iface.name} has no IPv4 address")
    a = v4[0]
    if which is SIOC.SIOCGIFADDR:
        return _sockaddr_in(a.ip.packed)
    if which is SIOC.SIOCGIFNETMASK:
        return _sockaddr_in(a.network.netmask.packed)
    if which is SIOC.SIOCGIFDSTADDR:  # not point-to-point: the kernel reports ifa_address
        return _sockaddr_in(a.ip.packed)
    if a.ip.is_loopback:  # IFF_BROADCAST unset: the kernel reports 0.0.0.0
        return _sockaddr_in(bytes(4))
    return _sockaddr_in(a.network.broadcast_address.packed)


def ifreq_ioctl(request: int, ifreq: bytes, ifaces: VirtualInterfaces) -> bytes | IoctlError:
    """Answer one ``struct ifreq`` ioctl; returns the 40 bytes to copy back to the guest."""
    if len(ifreq) < IFREQ_SIZE:
        return IoctlError(errno.EFAULT, f"struct ifreq needs {IFREQ_SIZE} bytes")
    if request in _SETTERS:
        return IoctlError(errno.EPERM, "the guest may not reconfigure interfaces")
    if request == SIOC.SIOCGIFNAME:
        (index,) = struct.unpack_from("=i", ifreq, IFNAMSIZ)
        found = ifaces.by_index(index)
        if found is None:
            return IoctlError(errno.ENODEV, f"no interface with index {index}")
        return _IFREQ_NAME.pack(found.name.encode()) + ifreq[IFNAMSIZ:IFREQ_SIZE]
    if request == SIOC.SIOCGARP:  # struct arpreq: the virtual link has no neighbours
        return IoctlError(errno.ENXIO, "no ARP entry")
    try:
        which = SIOC(request)
    except ValueError:
        return IoctlError(errno.ENOTTY, f"ioctl 0x{request:x} is not a netdevice request")
    name = ifreq_name(ifreq)
    iface = ifaces.by_name(name.split(":", 1)[0]) if which in _INET else ifaces.by_name(name)
    if iface is None:
        return IoctlError(errno.ENODEV, f"no interface named {name!r}")
    match which:
        case SIOC.SIOCGIFFLAGS:
            union = struct.pack("=H", int(iface.flags) & 0xFFFF)
        case SIOC.SIOCGIFINDEX:
            union = struct.pack("=i", iface.index)
        case SIOC.SIOCGIFMTU:
            union = struct.pack("=i", iface.mtu)
        case SIOC.SIOCGIFTXQLEN:
            union = struct.pack("=i", iface.txqlen)
        case SIOC.SIOCGIFMETRIC | SIOC.SIOCGIFPFLAGS | SIOC.SIOCGIFMAP:
            union = b""  # metric 0, no private flags, no ISA-era I/O map
        case SIOC.SIOCGIFHWADDR:
            union = struct.pack("=H6s8x", int(iface.link_type), iface.mac)
        case SIOC.SIOCGIFADDR | SIOC.SIOCGIFNETMASK | SIOC.SIOCGIFBRDADDR | SIOC.SIOCGIFDSTADDR:
            got = _inet(iface, which)
            if isinstance(got, IoctlError):
                return got
            union = got
        case _:  # ethtool, MII, ARP: no such hardware or table behind a virtual device
            return IoctlError(errno.EOPNOTSUPP, f"{which.name} is not supported on {name}")
    return pack_ifreq(name, union)


_INET = {SIOC.SIOCGIFADDR, SIOC.SIOCGIFNETMASK, SIOC.SIOCGIFBRDADDR, SIOC.SIOCGIFDSTADDR}


def ifconf_entries(ifaces: VirtualInterfaces) -> list[bytes]:
    """One ``struct ifreq`` per IPv4 address, in interface order (SIOCGIFCONF)."""
    return [pack_ifreq(i.name, _sockaddr_in(a.ip.packed)) for i in ifaces.interfaces for a in i.ipv4()]


def parse_ifconf(data: bytes) -> tuple[int, int]:
    """``(ifc_len, ifc_buf)`` from the guest's 16-byte ``struct ifconf``."""
    if len(data) < IFCONF_SIZE:
        raise ValueError(f"struct ifconf needs {IFCONF_SIZE} bytes")
    ifc_len, buf = _IFCONF.unpack_from(data)
    return ifc_len, buf


def pack_ifconf(ifc_len: int, buf: int) -> bytes:
    return _IFCONF.pack(ifc_len, buf)


def ifconf_answer(ifconf: bytes, ifaces: VirtualInterfaces) -> tuple[bytes, bytes]:
    """SIOCGIFCONF: ``(new struct ifconf, bytes to write at ifc_buf)``.

    With a NULL ``ifc_buf`` the new ``ifc_len`` is the size needed and nothing is written;
    otherwise as many whole entries as fit in ``ifc_len`` are written and ``ifc_len``
    becomes the number of bytes used.
    """
    ifc_len, buf = parse_ifconf(ifconf)
    entries = ifconf_entries(ifaces)
    if buf == 0:
        return pack_ifconf(len(entries) * IFREQ_SIZE, 0), b""
    fit = max(ifc_len, 0) // IFREQ_SIZE
    data = b"".join(entries[:fit])
    return pack_ifconf(len(data), buf), data
