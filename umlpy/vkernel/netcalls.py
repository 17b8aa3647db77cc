"""Socket-call entry points, light enough to import at start-up.

The policy implementation (:mod:`umlpy.vkernel.net`) and the virtual
network it drives (:mod:`umlpy.vnet`, ~17 ms of imports) load on the first
socket call that actually stops — most guests (compilers, archivers,
find) never make one, and every run would otherwise pay for it.
"""

from __future__ import annotations

import socket
from types import ModuleType

from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import Outcome
from umlpy.vkernel.state import Kernel

LOCAL_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK)
# Families created natively when the virtual network decides connect/bind/send.
VNET_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK, socket.AF_INET, socket.AF_INET6)
# Families whose socket(2) runs without a stop under the virtual network
# (AF_NETLINK stops: NETLINK_ROUTE is answered by umlpy.vkernel.nlroute).
NATIVE_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)
# ioctl(2) requests that name a network device or change the host's network
# (umlpy.vnet.ifreq.SIOC, kept here as numbers: this module loads at start-up).
# Under --net none/loopback they are answered from the virtual interfaces.
SIOC_TRAPPED = (
    0x890B, 0x890C, 0x8910, 0x8911, 0x8912, 0x8913, 0x8914, 0x8915, 0x8916, 0x8917, 0x8918,
    0x8919, 0x891A, 0x891B, 0x891C, 0x891D, 0x891E, 0x8921, 0x8922, 0x8923, 0x8924, 0x8927,
    0x8931, 0x8932, 0x8933, 0x8934, 0x8935, 0x8936, 0x8937, 0x8942, 0x8943, 0x8946, 0x8947,
    0x8948, 0x8949, 0x8953, 0x8954, 0x8955, 0x8970, 0x8971, 0x89A0, 0x89A1, 0x89A2, 0x89A3,
)
# Calls trapped when the virtual network is on (sendto only with an address).
VNET_CALLS = ("connect", "bind", "listen", "sendmsg", "sendmmsg", "getsockname", "getpeername")
# Calls trapped when the virtual network is on and their address pointer is not NULL.
ACCEPT_CALLS = ("accept", "accept4")


def _impl() -> ModuleType:
    from umlpy.vkernel import net

    return net


def sys_socket(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_socket(k, ctx)  # type: ignore[no-any-return]


def sys_connect(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_connect(k, ctx)  # type: ignore[no-any-return]


def sys_bind(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_bind(k, ctx)  # type: ignore[no-any-return]


def sys_listen(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_listen(k, ctx)  # type: ignore[no-any-return]


def sys_sendto(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_sendto(k, ctx)  # type: ignore[no-any-return]


def sys_sendmsg(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_sendmsg(k, ctx)  # type: ignore[no-any-return]


def sys_sendmmsg(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_sendmmsg(k, ctx)  # type: ignore[no-any-return]


def sys_getsockname(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_getsockname(k, ctx)  # type: ignore[no-any-return]


def sys_getpeername(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_getpeername(k, ctx)  # type: ignore[no-any-return]


def sys_accept(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _impl().sys_accept(k, ctx)  # type: ignore[no-any-return]


def sys_ioctl_netdev(k: Kernel, ctx: SyscallContext) -> Outcome:
    from umlpy.vkernel import netdev

    return netdev.sys_ioctl(k, ctx)
