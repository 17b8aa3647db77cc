"""Socket creation under the network policy.

Until the virtual network (umlpy/vnet) is wired into connect/sendto/bind,
``--net none`` is enforced at the only point that needs no guest memory:
socket(2)'s ``domain`` is a register, so the check cannot be raced.  Under
``none`` only AF_UNIX and AF_NETLINK sockets can be created; any other
family fails with EACCES, as an LSM refusing the socket would (socket(2):
"EACCES: Permission to create a socket of the specified type and/or
protocol is denied").  The seccomp filter lets AF_UNIX/AF_NETLINK through
natively and stops only for the others, so ordinary programs pay nothing.

This is stricter than the intended ``none`` (issue: the guest's own
loopback client/server pairs should keep working); it errs on the safe side.
"""

from __future__ import annotations

import errno
import socket

from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Deny, Outcome
from umlpy.vkernel.state import Kernel

LOCAL_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK)


def sys_socket(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements socket(2) under the network policy."""
    family = ctx.args[0] & 0xFFFFFFFF
    if k.net_mode == "none" and family not in LOCAL_FAMILIES:
        return Deny(errno.EACCES, f"--net none: address family {_family_name(family)}")
    return PASS


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)
