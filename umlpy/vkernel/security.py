"""Calls that could weaken the sandbox itself: seccomp, prctl, personality.

* A guest seccomp filter is stacked under umlpy's.  Precedence is
  KILL > TRAP > ERRNO > USER_NOTIF > TRACE > LOG > ALLOW
  (kernel/seccomp.c), so a guest filter can only make its own calls fail,
  except through USER_NOTIF: a listener held by another guest process could
  answer CONTINUE and the call would run without umlpy's TRACE.  A filter
  returning USER_NOTIF without a listener just fails with ENOSYS, and the
  only way to get a listener is SECCOMP_FILTER_FLAG_NEW_LISTENER, a register
  argument: refusing that flag is race-free.
* prctl(PR_SET_DUMPABLE, 0) would make the guest's memory unreadable to an
  unprivileged tracer (ptrace_may_access checks dumpability even for the
  current tracer); it is emulated as success without being done.
  PR_SET_MM rewrites /proc/PID/exe and friends: refused.
* personality(2): the query and PER_LINUX/PER_LINUX32 with flags are fine;
  other execution domains are refused.
"""

from __future__ import annotations

import errno

from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Deny, Emulate, Outcome
from umlpy.vkernel.state import Kernel

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3

PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_MM = 35
PRCTL_TRAPPED = (PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_SET_MM)

PER_LINUX, PER_LINUX32, PER_QUERY = 0x0000, 0x0008, 0xFFFFFFFF


def sys_seccomp(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements seccomp(2): filters stack, listeners are refused."""
    op, flags = ctx.args[0] & 0xFFFFFFFF, ctx.args[1] & 0xFFFFFFFF
    if op == SECCOMP_SET_MODE_FILTER and flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return Deny(errno.EPERM, "seccomp user-notification listener would bypass the tracer")
    return PASS


def sys_prctl(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements the prctl(2) options the filter traps (PRCTL_TRAPPED)."""
    option = ctx.args[0] & 0xFFFFFFFF
    if option == PR_SET_DUMPABLE:
        return Emulate(0) if ctx.args[1] in (0, 1) else Emulate(-errno.EINVAL)
    if option == PR_SET_MM:
        return Deny(errno.EPERM, "PR_SET_MM")
    return PASS  # PR_SET_SECCOMP: a plain filter, no listener possible


def sys_personality(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements personality(2) for Linux execution domains only."""
    persona = ctx.args[0] & 0xFFFFFFFF
    if persona == PER_QUERY or (persona & 0xFF) in (PER_LINUX, PER_LINUX32):
        return PASS
    return Deny(errno.EINVAL, f"execution domain {persona & 0xFF:#x}")
