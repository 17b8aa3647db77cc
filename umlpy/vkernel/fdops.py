"""ioctl(2), fcntl(2) and mknod(2) requests that reach beyond the guest.

The seccomp filter stops these calls only for the request numbers listed
here (``ioctl``'s request and ``fcntl``'s command are registers; the kernel
compares them as ``unsigned int``/``int``, so the filter reads the low 32
bits), so ordinary ioctls and fcntls run natively.

* TIOCSTI / TIOCLINUX push input into a terminal the guest shares with the
  user's shell (tty_ioctl(4)); TIOCCONS redirects the console: refused.
* USERFAULTFD_IOC_NEW (/dev/userfaultfd) is userfaultfd(2) by another door:
  refused like the syscall, since a stalled page would wedge the tracer.
* FIFREEZE / FITHAW freeze a whole host filesystem: refused.
* FS_IOC_SETFLAGS / FS_IOC_FSSETXATTR change inode flags (immutable,
  append-only) through any fd, even read-only; Landlock has no right for
  them: refused until the filesystem layer can tell guest files apart.
* FIOSETOWN / SIOCSPGRP and fcntl F_SETOWN_EX take the owner through a
  pointer the guest could change after a check: refused.  fcntl F_SETOWN
  takes it in a register and is checked: SIGIO/SIGURG may only be routed to
  the guest's own processes or process groups.
* mknod/mknodat of character and block devices would open raw host
  devices: refused (the mode is a register).
"""

from __future__ import annotations

import errno
import os
import stat

from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel import netcalls
from umlpy.vkernel.args import pgid_of, s32
from umlpy.vkernel.outcome import PASS, Deny, GuestError, Outcome
from umlpy.vkernel.state import Kernel

TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TIOCCONS = 0x541D
USERFAULTFD_IOC_NEW = 0xAA00
FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
FS_IOC_SETFLAGS = 0x40086602
FS_IOC32_SETFLAGS = 0x40046602
FS_IOC_FSSETXATTR = 0x401C5820
FIOSETOWN = 0x8901
SIOCSPGRP = 0x8902

_IOCTL_REFUSED = {
    TIOCSTI: "TIOCSTI would type into the user's terminal",
    TIOCLINUX: "TIOCLINUX can inject console input",
    TIOCCONS: "TIOCCONS redirects the host console",
    USERFAULTFD_IOC_NEW: "userfaultfd can stall the tracer",
    FIFREEZE: "FIFREEZE would freeze a host filesystem",
    FITHAW: "FITHAW",
    FS_IOC_SETFLAGS: "inode flags (chattr) on host files",
    FS_IOC32_SETFLAGS: "inode flags (chattr) on host files",
    FS_IOC_FSSETXATTR: "inode flags (chattr) on host files",
    FIOSETOWN: "signal routing through a pointer argument",
    SIOCSPGRP: "signal routing through a pointer argument",
}
IOCTL_TRAPPED = tuple(_IOCTL_REFUSED)

F_SETOWN = 8
F_SETOWN_EX = 15
FCNTL_TRAPPED = (F_SETOWN, F_SETOWN_EX)

MKNOD_DEVICE_BIT = 0o020000  # set in S_IFCHR and S_IFBLK (and the invalid S_IFLNK)


def sys_ioctl(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements the ioctl(2) requests in IOCTL_TRAPPED (all refused) and, under a
    virtual network, netdevice(7)'s (:mod:`umlpy.vkernel.netdev`)."""
    req = ctx.args[1] & 0xFFFFFFFF
    if req in netcalls.SIOC_TRAPPED:
        return netcalls.sys_ioctl_netdev(k, ctx)
    reason = _IOCTL_REFUSED.get(req)
    if reason is None:
        return PASS
    return Deny(errno.EPERM, reason)


def sys_fcntl(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements fcntl(2) F_SETOWN (checked) and F_SETOWN_EX (refused)."""
    cmd = ctx.args[1] & 0xFFFFFFFF
    if cmd == F_SETOWN_EX:
        return Deny(errno.EPERM, "F_SETOWN_EX takes its owner through a pointer")
    if cmd != F_SETOWN:
        return PASS
    owner = s32(ctx.args[2])
    if owner == 0:
        return PASS
    if owner > 0:
        if not k.in_tree(owner):
            raise GuestError(errno.ESRCH)
        return PASS
    pgrp = -owner
    if pgrp == os.getpgrp() or not any(pgid_of(t) == pgrp for t in k.tgids()):
        # umlpy's own group includes umlpy and the user's pipeline.
        raise GuestError(errno.ESRCH)
    return PASS



def sys_mknod(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements mknod(2)/mknodat(2): no device nodes."""
    mode_arg = 2 if ctx.nr == k.nr("mknodat") else 1
    kind = stat.S_IFMT(ctx.args[mode_arg] & 0xFFFFFFFF)
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return Deny(errno.EPERM, "device nodes would open raw host devices")
    return PASS
