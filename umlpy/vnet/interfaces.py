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
