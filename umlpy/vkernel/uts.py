"""uname(2) with the sandbox's hostname: ``--hostname`` (``umlpy`` under a virtual network).

glibc's gethostname(3) is uname(2) (sysdeps/unix/sysv/linux/gethostname.c), and so are
hostname(1), Python's socket.gethostname() and platform.node().  The call runs
natively; at its exit the tracer overwrites ``struct utsname``'s ``nodename`` (the
second of six 65-byte fields, <sys/utsname.h>) in the guest's buffer.  Only output is
written, so nothing can be raced.  uname stops only when the hostname is virtual (the
sandbox adds it to the trapped calls).

Not covered here: /proc/sys/kernel/hostname and /etc/hostname are files (the filesystem
layer's); sethostname(2) is refused by the table.
"""

from __future__ import annotations

from umlpy.tracer import memory
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Outcome, Rewrite
from umlpy.vkernel.state import Kernel

UTS_FIELD = 65  # __NEW_UTS_LEN + 1
NODENAME_OFFSET = UTS_FIELD


def sys_uname(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements uname(2): the host's answer with the virtual nodename."""
    if k.hostname is None:
        return PASS
    buf, tid = ctx.args[0], ctx.tid
    nodename = k.hostname.encode()[: UTS_FIELD - 1].ljust(UTS_FIELD, b"\0")

    def rename(ret: int) -> None:
        if ret == 0:
            try:
                memory.write(tid, buf + NODENAME_OFFSET, nodename)
            except OSError:
                pass  # the guest unmapped its buffer meanwhile: it reads nothing

    return Rewrite((), rename)
