"""netdevice(7) ioctls under ``--net none``/``loopback``: the virtual interfaces answer.

The filter stops ioctl(2) for the request numbers in
:data:`umlpy.vkernel.netcalls.SIOC_TRAPPED` (a register, so race-free) only when the
network is virtual.  The call is then emulated whole, never passed on: a guest thread
swapping the fd after the check gains nothing, and as root a SIOCSIF*/SIOCADDRT could
otherwise reconfigure the host.  On a socket (any family, as in the kernel's
``sock_ioctl`` -> ``dev_ioctl`` fallback) the answer comes from
:mod:`umlpy.vnet.ifreq`; on any other fd these requests fail with ENOTTY, which is
what a file or device without socket ioctls returns.
"""

from __future__ import annotations

import errno
import os
import stat

from umlpy.tracer import memory
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Deny, Emulate, GuestError, Outcome
from umlpy.vkernel.state import Kernel
from umlpy.vnet.ifreq import IFCONF_SIZE, IFREQ_SIZE, SIOC, IoctlError, ifconf_answer, ifreq_ioctl


def sys_ioctl(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements the netdevice(7) requests of ioctl(2) on the virtual interfaces."""
    if not k.virtual_interfaces:
        return PASS
    assert k.vnet is not None
    fd, request, arg = ctx.args[0] & 0xFFFFFFFF, ctx.args[1] & 0xFFFFFFFF, ctx.args[2]
    try:
        st = os.stat(f"/proc/{ctx.tid}/fd/{fd}")
    except OSError:
        raise GuestError(errno.EBADF) from None
    if not stat.S_ISSOCK(st.st_mode):
        return Emulate(-errno.ENOTTY)
    ifaces = k.vnet.interfaces
    if request == SIOC.SIOCGIFCONF:
        ifconf = _read(ctx, arg, IFCONF_SIZE)
        new, entries = ifconf_answer(ifconf, ifaces)
        _write(ctx, int.from_bytes(new[8:16], "little"), entries)
        _write(ctx, arg, new)
        return Emulate(0)
    got = ifreq_ioctl(request, _read(ctx, arg, IFREQ_SIZE), ifaces)
    if isinstance(got, IoctlError):
        if got.errno == errno.EPERM:
            return Deny(errno.EPERM, f"--net {k.net_mode}: {got.reason}")
        return Emulate(-got.errno)
    _write(ctx, arg, got)
    return Emulate(0)


def _read(ctx: SyscallContext, addr: int, size: int) -> bytes:
    try:
        return memory.read(ctx.tid, addr, size)
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None


def _write(ctx: SyscallContext, addr: int, data: bytes) -> None:
    if not data:
        return
    try:
        memory.write(ctx.tid, addr, data)
    except (OSError, OverflowError):
        raise GuestError(errno.EFAULT) from None
