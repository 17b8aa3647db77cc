"""The handler of an attached run: observe, and apply hooks with nothing virtualized.

Tasks seized with PTRACE_SEIZE (``umlpy trace -p``, :func:`umlpy.sandbox.attach`)
have no seccomp filter: the tracer resumes them with PTRACE_SYSCALL and
sees every syscall's entry and exit stop (:class:`umlpy.tracer.loop.Tracer`
in attach mode).  Nothing is refused or rewritten by umlpy: every call's own
decision is Pass, and what hooks ask (:mod:`umlpy.vkernel.hooks`) is applied
here, the one place of an attached run that writes guest registers:

* ``skip(retval)``: at the syscall-entry stop ``orig_rax`` becomes -1, so the
  kernel runs nothing and keeps ``rax`` (arch/x86/entry/common.c,
  ``do_syscall_64``); the exit stop sets ``rax`` again, as strace's
  injection does, so the result holds on kernels that reset it.
* ``set_arg(i, int)``: the register.
* ``set_arg(i, bytes)``: copied onto the task's own stack, below the 128-byte
  red zone the x86-64 ABI reserves under ``rsp``.  The thread is inside the
  syscall, so nothing of its own uses that memory before the kernel has
  read it.  (A call restarted after a signal handler re-enters and is seen
  by the hooks again.)  Another thread could change the bytes meanwhile;
  that matters not here, where umlpy contains nothing.
* ``set_return(value)`` at the exit stop.
* ``detach()``: once the call's requests are applied, :class:`Detach` is
  raised out of the tracer loop, which detaches every task (loop.py: any
  exception in attach mode detaches), and the caller returns.

An exception in a hook detaches every task too (it is not umlpy's to
kill) and propagates.
"""

from __future__ import annotations

import errno
import os
import resource

from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel.dispatch import Observer
from umlpy.vkernel.hooks import HookCall, HookSet, TaskInfo
from umlpy.vkernel.outcome import Pass
from umlpy.vkernel.table import i386_name, x86_64_name

CLONE_THREAD = 0x00010000
RED_ZONE = 128  # bytes below rsp the x86-64 ABI leaves to the function (System V psABI 3.2.2)
MAX_STACK_DATA = 64 * 1024  # a hook's bytes placed on the stack, all arguments of one call


class Detach(Exception):
    """A hook asked to detach: every task is left running, untraced."""


class AttachedHandler:
    """Implements :class:`umlpy.tracer.loop.Handler` for seized tasks."""

    def __init__(self, observer: Observer | None = None, hooks: HookSet | None = None) -> None:
        self.o = observer
        self.hooks = hooks
        self.warnings: list[str] = []
        self._tgid: dict[int, int] = {}

    # -- Handler -----------------------------------------------------------------
    def syscall(self, ctx: SyscallContext) -> None:
        o = self.o
        wants_exit = o is not None and o.syscall_enter(ctx) is not False
        call = self._enter_hooks(ctx) if self.hooks is not None else None
        if wants_exit:
            assert o is not None
            ctx.on_exit(lambda ret: o.syscall_exit(ctx, ret))
        if call is not None and call.detach_requested:
            raise Detach

    def task_created(self, parent: int, child: int, flags: int) -> None:
        self._tgid[child] = self.tgid_of(parent) if flags & CLONE_THREAD else child
        if self.o is not None:
            self.o.task_created(parent, child, flags)

    def task_exec(self, tid: int, former_tid: int) -> None:
        self._tgid.pop(former_tid, None)
        self._tgid[tid] = tid
        if self.o is not None:
            self.o.task_exec(tid, former_tid)

    def task_gone(self, tid: int, status: Exited | Killed, rusage: resource.struct_rusage | None) -> None:
        self._tgid.pop(tid, None)
        memory.forget(tid)
        if self.o is not None:
            self.o.task_gone(tid, status)

    def signal(self, tid: int, sig: int) -> int:
        if self.o is not None:
            self.o.signal(tid, sig)
        return sig

    def group_stop(self, tid: int, sig: int) -> None:
        if self.o is not None:
            self.o.group_stop(tid, sig)

    # -- hooks ---------------------------------------------------------------------
    def tgid_of(self, tid: int) -> int:
        """The thread group of ``tid``: known from clone events, else /proc (tasks seized at the start)."""
        tgid = self._tgid.get(tid)
        if tgid is None:
            tgid = _proc_tgid(tid)
            self._tgid[tid] = tgid
        return tgid

    def _enter_hooks(self, ctx: SyscallContext) -> HookCall | None:
        assert self.hooks is not None
        name = _name(ctx)
        enter, exits = self.hooks.for_call(name)
        if not enter and not exits:
            return None
        call = HookCall(ctx, name, TaskInfo(ctx.tid, self.tgid_of(ctx.tid)), Pass(), attached=True)
        call.exit_fns.extend(exits)
        for fn in enter:
            fn(call)
            if call.detach_requested:
                break
        if call.skip_with is not None:
            self._skip(ctx, call.skip_with)
        elif call.new_args:
            self._set_args(ctx, call)
        if call.exit_fns and not call.detach_requested:
            ctx.on_exit(lambda ret: self._exit_hooks(ctx, call, ret))
        return call

    def _exit_hooks(self, ctx: SyscallContext, call: HookCall, ret: int) -> int | None:
        call.phase, call.retval, call.new_return = "exit", ret, None
        for fn in call.exit_fns:
            fn(call)
            if call.detach_requested:
                break
        if call.detach_requested:
            if call.new_return is not None:
                ctx.skip(call.new_return)  # the loop will not get to set it
            raise Detach
        return call.new_return

    def _skip(self, ctx: SyscallContext, retval: int) -> None:
        ctx.skip(retval)
        ctx.on_exit(lambda _ret: retval)

    def _set_args(self, ctx: SyscallContext, call: HookCall) -> None:
        data = sum(len(v) for v in call.new_args.values() if isinstance(v, bytes))
        if data > MAX_STACK_DATA:
            self._warn(f"hook: {call.name} (pid {call.pid}): {data} bytes of arguments is too much; "
                       "the call failed with ENAMETOOLONG")
            self._skip(ctx, -errno.ENAMETOOLONG)
            return
        regs: dict[int, int] = {}
        addr = ctx.sp - RED_ZONE
        for i, v in sorted(call.new_args.items()):
            if isinstance(v, bytes):
                addr = (addr - len(v)) & ~0xF
                try:
                    memory.write(ctx.tid, addr, v)
                except OSError as e:
                    self._warn(f"hook: {call.name} (pid {call.pid}): cannot write the new argument {i} "
                               f"onto the stack ({os.strerror(e.errno or errno.EFAULT)}); the call failed with EFAULT")
                    self._skip(ctx, -errno.EFAULT)
                    return
                regs[i] = addr
            else:
                regs[i] = v & 0xFFFFFFFFFFFFFFFF
        ctx.set_args(regs)

    def _warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)


def _proc_tgid(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid


def _name(ctx: SyscallContext) -> str:
    if ctx.arch == _ffi.AUDIT_ARCH_X86_64:
        return x86_64_name(ctx.nr)
    if ctx.arch == _ffi.AUDIT_ARCH_I386:
        return "i386:" + i386_name(ctx.nr)
    return f"syscall_{ctx.nr}"
