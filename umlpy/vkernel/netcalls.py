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
# Calls trapped when the virtual network is on (sendto only with an address).
VNET_CALLS = ("connect", "bind", "listen", "sendmsg", "sendmmsg", "getsockname", "getpeername")


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
