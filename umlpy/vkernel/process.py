"""Process-targeting syscalls: they may only ever reach the guest's own tree.

A call that names a pid outside the sandbox fails with ESRCH, exactly as if
that process did not exist (kill(2): "ESRCH: The target process or process
group does not exist"), so the guest learns nothing about the host.

Group-wide forms are emulated by the tracer over the guest's own tasks:
``kill(0, sig)``, ``kill(-pgrp, sig)`` and ``kill(-1, sig)`` would otherwise
reach umlpy itself and whatever else shares its process group (a pipeline's
other members, the shell's job).  pidfds are resolved to the pid they refer
to through /proc/PID/fdinfo before the check.

Signal scoping by Landlock (ABI 6) backs this up in the kernel, so a pid
reused between the check and the call still cannot reach the host.
"""

from __future__ import annotations

import errno
import os

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.args import pgid_of, s32
from umlpy.vkernel.outcome import PASS, Emulate, GuestError, Outcome, Rewrite
from umlpy.vkernel.state import Kernel
from umlpy.vkernel.task import CLONE_UNTRACED

PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1



def _require_guest_pid(k: Kernel, pid: int) -> None:
    """pid 0 means "the caller" in every call that uses this helper."""
    if pid != 0 and not k.in_tree(pid):
        raise GuestError(errno.ESRCH, f"pid {pid} is outside the sandbox")


def _pidfd_target(k: Kernel, tid: int, fd: int) -> int:
    """The pid a guest pidfd (or /proc/PID dirfd) refers to."""
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"Pid:"):
                    return int(line.split()[1])
        link = os.readlink(f"/proc/{tid}/fd/{fd}")
    except (OSError, ValueError) as e:
        raise GuestError(errno.EBADF) from e
    parts = link.split("/")
    if len(parts) == 3 and parts[1] == "proc" and parts[2].isdigit():
        return int(parts[2])
    raise GuestError(errno.EBADF)


def sys_kill(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements kill(2)."""
    pid, sig = s32(ctx.args[0]), s32(ctx.args[1])
    if pid > 0:
        _require_guest_pid(k, pid)
        return PASS
    if sig < 0 or sig > 64:
        raise GuestError(errno.EINVAL)
    caller = k.tgid_of(ctx.tid)
    if pid == -1:
        targets = [t for t in k.tgids() if t != caller]
    else:
        pgrp = pgid_of(caller) if pid == 0 else -pid
        targets = [t for t in k.tgids() if pgid_of(t) == pgrp]
    sent = 0
    for t in targets:
        try:
            os.kill(t, sig)
            sent += 1
        except OSError:
            pass
    if not sent:
        raise GuestError(errno.ESRCH)
    return Emulate(0)



def sys_tkill(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements tkill(2)."""
    tid = s32(ctx.args[0])
    if tid <= 0:
        raise GuestError(errno.EINVAL)
    _require_guest_pid(k, tid)
    return PASS


def sys_tgkill(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements tgkill(2) (and rt_tgsigqueueinfo, same first two args)."""
    tgid, tid = s32(ctx.args[0]), s32(ctx.args[1])
    if tgid <= 0 or tid <= 0:
        raise GuestError(errno.EINVAL)
    _require_guest_pid(k, tgid)
    _require_guest_pid(k, tid)
    return PASS


def sys_pid_first(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Calls whose first argument is a target pid, 0 meaning the caller.

    rt_sigqueueinfo, prlimit64, sched_set{affinity,scheduler,param,attr},
    get_robust_list, migrate_pages, move_pages, process_vm_{readv,writev},
    setpgid.
    """
    _require_guest_pid(k, s32(ctx.args[0]))
    return PASS


def sys_kcmp(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements kcmp(2): both pids must be the guest's."""
    _require_guest_pid(k, s32(ctx.args[0]))
    _require_guest_pid(k, s32(ctx.args[1]))
    return PASS


def sys_which_who(k: Kernel, ctx: SyscallContext) -> Outcome:
    """setpriority(2) / ioprio_set(2): only per-process targets in the guest.

    Group and user forms would reach umlpy and every process of the user.
    """
    which, who = s32(ctx.args[0]), s32(ctx.args[1])
    per_process = PRIO_PROCESS if ctx.nr == k.nr("setpriority") else IOPRIO_WHO_PROCESS
    if which != per_process:
        raise GuestError(errno.EPERM, "process-group and user targets are outside the sandbox")
    _require_guest_pid(k, who)
    return PASS


def sys_pidfd_open(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements pidfd_open(2)."""
    pid = s32(ctx.args[0])
    if pid <= 0:
        raise GuestError(errno.EINVAL)
    _require_guest_pid(k, pid)
    return PASS


def sys_pidfd_send_signal(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements pidfd_send_signal(2), emulated on the tracer's own copy of the pidfd.

    Checking the fd number and letting the kernel look it up again loses to
    a thread that dup2()s another pidfd over it in between; the tracer
    instead takes the open file itself (pidfd_getfd), checks what it refers
    to and sends the signal through it.  The receiver sees umlpy as sender.
    """
    fd, sig = s32(ctx.args[0]), s32(ctx.args[1])
    info_ptr, flags = ctx.args[2], ctx.args[3] & 0xFFFFFFFF
    try:
        copy = _ffi.grab_fd(ctx.tid, fd, k.tgid_of(ctx.tid))
    except OSError as e:
        raise GuestError(errno.EBADF) from e
    try:
        target = _pidfd_target(k, os.getpid(), copy)
        _require_guest_pid(k, target)
        info = ctx.read(info_ptr, 128) if info_ptr else None
        try:
            _ffi.pidfd_send_signal(copy, sig, info, flags)
        except OSError as e:
            raise GuestError(e.errno or errno.EINVAL) from e
    finally:
        os.close(copy)
    return Emulate(0)


def sys_pidfd_first(k: Kernel, ctx: SyscallContext) -> Outcome:
    """pidfd_getfd, process_madvise, process_mrelease.

    Checked by fd number: a racing dup2() could retarget the call between
    the check and the kernel's lookup.  All three need ptrace access to the
    target, which Landlock denies outside the guest's domain: that is the
    backstop until these are emulated too.
    """
    target = _pidfd_target(k, ctx.tid, s32(ctx.args[0]))
    _require_guest_pid(k, target)
    return PASS


def sys_clone(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements clone(2): CLONE_UNTRACED is stripped, so every child is traced.

    Also enforces the task limit with EAGAIN, as RLIMIT_NPROC would.
    """
    if k.over_task_limit():
        raise GuestError(errno.EAGAIN, "task limit reached")
    if k.max_tasks is not None:
        k.forking.add(ctx.tid)
    flags = ctx.args[0]
    if flags & CLONE_UNTRACED:
        return Rewrite(((0, flags & ~CLONE_UNTRACED),))
    return PASS


def sys_fork(k: Kernel, ctx: SyscallContext) -> Outcome:
    """fork(2)/vfork(2), trapped only to enforce the task limit."""
    if k.over_task_limit():
        raise GuestError(errno.EAGAIN, "task limit reached")
    k.forking.add(ctx.tid)
    return PASS


def sys_execve(k: Kernel, ctx: SyscallContext) -> Outcome:
    """execve(2)/execveat(2): note the path for the run report, then let it run.

    An execute-only image (mode 0111) makes the process non-dumpable, after
    which /proc/PID/exe is unreadable to an unprivileged tracer: the path
    asked for here is then the report's record of what ran.
    """
    task = k.tasks.get(ctx.tid)
    if task is not None:
        path_arg = 1 if ctx.nr == k.nr("execveat") else 0
        try:
            path = os.fsdecode(ctx.read_cstring(ctx.args[path_arg]))
            if not path.startswith("/"):
                path = os.path.join(os.readlink(f"/proc/{ctx.tid}/cwd"), path)
            task.exec_path = os.path.normpath(path)
        except OSError:
            task.exec_path = None
    return PASS

