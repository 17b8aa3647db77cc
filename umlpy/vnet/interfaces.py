"""The guest's virtual network interfaces: ``lo`` and (optionally) ``eth0``.

The guest must not learn the host's interfaces, addresses or routes. It sees a loopback
``lo`` (index 1, 127.0.0.1/8 and ::1/128, MTU 65536, ARPHRD_LOOPBACK) and an Ethernet
``eth0`` (index 2) whose address, prefix, gateway, MAC and MTU come from
:class:`NetConfig`. The defaults are QEMU user-mode networking's (10.0.2.15/24 via
10.0.2.2, MAC 52:54:00:12:34:56), which software already knows as "a NATed VM".

Flags follow netdevice(7) (``IFF_*`` from <linux/if.h>, ``IFF_LOWER_UP`` from
<linux/if.h> too); link types follow <linux/if_arp.h>. :mod:`umlpy.vnet.netlink` turns
this model into rtnetlink(7) answers and :mod:`umlpy.vnet.ifreq` into netdevice(7)
ioctl answers.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from umlpy.vnet.sockaddr import IPAddress

log = logging.getLogger(__name__)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class IFF(IntFlag):
    """Interface flags, netdevice(7) SIOCGIFFLAGS and rtnetlink ``ifi_flags``."""

    UP = 0x1
    BROADCAST = 0x2
    DEBUG = 0x4
    LOOPBACK = 0x8
    POINTOPOINT = 0x10
    NOTRAILERS = 0x20
    RUNNING = 0x40
    NOARP = 0x80
    PROMISC = 0x100
    ALLMULTI = 0x200
    MULTICAST = 0x1000
    LOWER_UP = 0x10000


class ARPHRD(IntEnum):
    """Link types (<linux/if_arp.h>)."""

    ETHER = 1
    LOOPBACK = 772


@dataclass(frozen=True, slots=True)
class Interface:
    """One virtual interface. ``gateway4``/``gateway6`` give it a default route."""

    index: int
    name: str
    link_type: ARPHRD
    mac: bytes
    mtu: int
    flags: IFF
    addresses: tuple[IPInterface, ...] = ()
    gateway4: ipaddress.IPv4Address | None = None
    gateway6: ipaddress.IPv6Address | None = None
    txqlen: int = 1000

    @property
    def mac_text(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)

    def ipv4(self) -> tuple[ipaddress.IPv4Interface, ...]:
        return tuple(a for a in self.addresses if isinstance(a, ipaddress.IPv4Interface))

    def ipv6(self) -> tuple[ipaddress.IPv6Interface, ...]:
        return tuple(a for a in self.addresses if isinstance(a, ipaddress.IPv6Interface))


def parse_mac(text: str) -> bytes:
    """``52:54:00:12:34:56`` -> 6 bytes; ValueError with the reason otherwise."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"bad MAC address {text!r}: expected six hex pairs like 52:54:00:12:34:56")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"bad MAC address {text!r}: not hexadecimal") from None


@dataclass(frozen=True, slots=True)
class NetConfig:
    """User-visible settings of the virtual network."""

    hostname: str = "umlpy"
    eth0: bool = True
    address: str = "10.0.2.15/24"
    gateway: str | None = "10.0.2.2"
    address6: str | None = None
    gateway6: str | None = None
    mac: str = "52:54:00:12:34:56"
    mtu: int = 1500


def parse_address(text: str) -> tuple[str, str | None]:
    """``--ip ADDR/PREFIX`` -> (eth0 address, gateway), ValueError with the reason otherwise.

    The gateway is QEMU's 10.0.2.2 when it lies in the new network, else the network's
    first host address (its second, if the first is eth0's own); a /32 has none.
    """
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(f"bad --ip {text!r}: expected an IPv4 ADDR/PREFIX like 10.0.2.15/24") from None
    if "/" not in text:
        raise ValueError(f"bad --ip {text!r}: give the prefix length too, e.g. {text}/24")
    net = iface.network
    if iface.ip in (net.network_address, net.broadcast_address) and net.prefixlen < 31:
        which = "network" if iface.ip == net.network_address else "broadcast"
        raise ValueError(f"bad --ip {text!r}: that is the network's {which} address")
    if iface.ip.is_loopback or iface.ip.is_multicast or iface.ip.is_unspecified:
        raise ValueError(f"bad --ip {text!r}: not a unicast address for eth0")
    default = ipaddress.IPv4Address("10.0.2.2")
    hosts = [h for h in (net.hosts() if net.prefixlen < 32 else []) if h != iface.ip][:1]
    gateway = default if default in net and default != iface.ip and net.prefixlen < 31 else hosts[0] if hosts else None
    return str(iface), None if gateway is None else str(gateway)


def check_hostname(name: str) -> str:
    """A hostname as sethostname(2) would take it and resolvers expect (RFC 1123
    labels, at most 64 bytes); ValueError with the reason otherwise."""
    if not 0 < len(name) <= 64:
        raise ValueError(f"bad --hostname {name!r}: must be 1-64 characters")
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-" or \
                not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            raise ValueError(f"bad --hostname {name!r}: use letters, digits and '-' in dot-separated labels")
    return name


LO = Interface(
    1, "lo", ARPHRD.LOOPBACK, bytes(6), 65536,
    IFF.UP | IFF.LOOPBACK | IFF.RUNNING | IFF.LOWER_UP,
    (ipaddress.IPv4Interface("127.0.0.1/8"), ipaddress.IPv6Interface("::1/128")),
)


class VirtualInterfaces:
    """The interface table a guest sees, by index and by name."""

    def __init__(self, config: NetConfig | None = None) -> None:
        self.config = config or NetConfig()
        self.interfaces: tuple[Interface, ...] = (LO,)
        if self.config.eth0:
            self.interfaces += (self._eth0(self.config),)

    @staticmethod
    def _eth0(c: NetConfig) -> Interface:
        try:
            v4 = ipaddress.IPv4Interface(c.address)
            addresses: tuple[IPInterface, ...] = (v4,)
            gw4 = ipaddress.IPv4Address(c.gateway) if c.gateway else None
            gw6 = None
            if c.address6:
                addresses += (ipaddress.IPv6Interface(c.address6),)
                gw6 = ipaddress.IPv6Address(c.gateway6) if c.gateway6 else None
        except ValueError as e:
            raise ValueError(f"bad eth0 address setting: {e}") from None
        if gw4 is not None and gw4 not in v4.network:
            raise ValueError(f"bad eth0 gateway {gw4}: not inside {v4.network}")
        if not 68 <= c.mtu <= 65535:
            raise ValueError(f"bad eth0 MTU {c.mtu}: must be 68-65535")
        flags = IFF.UP | IFF.BROADCAST | IFF.RUNNING | IFF.MULTICAST | IFF.LOWER_UP
        return Interface(2, "eth0", ARPHRD.ETHER, parse_mac(c.mac), c.mtu, flags, addresses, gw4, gw6)

    @property
    def hostname(self) -> str:
        return self.config.hostname

    def by_index(self, index: int) -> Interface | None:
        return next((i for i in self.interfaces if i.index == index), None)

    def by_name(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def nameindex(self) -> list[tuple[int, str]]:
        """What ``socket.if_nameindex()`` returns in the guest."""
        return [(i.index, i.name) for i in self.interfaces]

    def local_addresses(self) -> frozenset[IPAddress]:
        """Non-loopback addresses the guest owns (for :class:`umlpy.vnet.ports.PortTable`)."""
        return frozenset(a.ip for i in self.interfaces for a in i.addresses if not a.ip.is_loopback)
