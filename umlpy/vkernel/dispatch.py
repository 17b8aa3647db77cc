"""The dispatcher: the tracer's Handler, applying Outcomes to the guest.

For each trapped call it identifies the ABI from PTRACE_GET_SYSCALL_INFO
(never from SECCOMP_RET_DATA, which a guest filter can forge), looks the
call up in the table, runs the handler and applies the Outcome.  It is the
only place that writes guest registers.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
import stat
from collections.abc import Callable, Mapping
from typing import Protocol

from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel import scratch
from umlpy.vkernel.hooks import HookCall, HookSet, TaskInfo, combine
from umlpy.vkernel.inject import Injector
from umlpy.vkernel.outcome import Deny, Emulate, GuestError, Outcome, Pass, Rewrite
from umlpy.vkernel.proctree import Usage, read_cmdline
from umlpy.vkernel.state import Denial, Kernel
from umlpy.vkernel.table import BY_NR, POLICY_HANDLERS, TASK_CREATION, Trap, i386_name, x86_64_name
from umlpy.vkernel.task import CLONE_THREAD, Reentry, Task

log = logging.getLogger(__name__)


class Observer(Protocol):
    """Sees every trapped call and task event (``umlpy trace``, API hooks).

    ``syscall_enter`` runs before the handler decides; returning False means
    "not interested in this call's exit" and saves the exit stop.
    ``syscall_exit`` runs at the syscall-exit stop with the final return
    value.  Observers must not write guest registers; they may read guest
    memory (and the task's siginfo in ``signal``, while it is stopped).
    """

    def syscall_enter(self, ctx: SyscallContext) -> bool | None: ...

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None: ...

    def task_created(self, parent: int, child: int, flags: int) -> None: ...

    def task_exec(self, tid: int, former_tid: int) -> None: ...

    def task_gone(self, tid: int, status: Exited | Killed) -> None: ...

    def signal(self, tid: int, sig: int) -> None: ...

    def group_stop(self, tid: int, sig: int) -> None: ...


HandlerFn = Callable[[Kernel, SyscallContext], Outcome]

# Injections one call may cause before it fails (creating a scratch region
# takes two); a bound, so the tracer can never loop on one call.
MAX_INJECTIONS = 4


class VirtualKernel:
    """Implements :class:`umlpy.tracer.loop.Handler`.

    ``handlers`` (x86-64 number -> handler) take precedence over the table:
    the scratch guard's memory-map checks and test seams use it.  A call
    whose handler needs a scratch region (:mod:`umlpy.vkernel.scratch`)
    first gets a syscall injected, then re-executes; the re-entry is
    neither counted nor shown to the observer twice.
    """

    def __init__(
        self,
        kernel: Kernel,
        *,
        trace_all: bool = False,
        observer: Observer | None = None,
        handlers: Mapping[int, HandlerFn] | None = None,
        scratch_guard: scratch.Guard = scratch.Guard.SEAL,
        injector: Injector | None = None,
        hooks: HookSet | None = None,
    ) -> None:
        self.k = kernel
        self.injector = injector
        self.hooks = hooks
        # tid -> the hooks' requests for a call re-executing after a scratch
        # region was created for them (the hooks do not run twice).
        self._hooked: dict[int, HookCall] = {}
        self.trace_all = trace_all
        self.observer = observer
        self.handlers = dict(handlers or {})
        self.scratch_guard = scratch_guard
        self._uid = os.getuid()
        self.main_pid = 0
        self._launching = False
        # The filesystem layer (and the vfs it imports, a fifth of umlpy's
        # start-up) is loaded only by sandboxes that have one.
        self._fs_handlers: Mapping[str, HandlerFn] = {}
        if kernel.vfs is not None:
            from umlpy.vkernel import fs

            self._fs_handlers = fs.HANDLERS

    # -- tracer callbacks ----------------------------------------------------
    def start(self, pid: int, *, on_guest_stop: Callable[[int], None] | None = None) -> None:
        """The guest's main process is ``pid``; ``on_guest_stop(sig)`` runs when it group-stops."""
        self.main_pid = pid
        self.on_guest_stop = on_guest_stop
        # Until its first exec the main process is umlpy's own launcher (Python,
        # which may still allocate after the filter is in): observers see
        # only the exec itself, as strace shows a traced program from its execve.
        self._launching = True
        self.k.tasks[pid] = Task(pid, pid)
        self.k.tree.started(pid, None)

    def syscall(self, ctx: SyscallContext) -> None:
        self.k.current_tid = ctx.tid
        task = self.k.tasks.get(ctx.tid)
        obs = self.observer
        if self._launching and ctx.tid == self.main_pid and x86_64_name(ctx.nr) not in ("execve", "execveat"):
            obs = None
        again = None
        if task is not None and task.reentry is not None:
            again, task.reentry = task.reentry, None
            if again.nr != ctx.nr or again.ip != ctx.ip:
                again = None  # a signal handler's call came first
        if again is None:
            self.k.trapped += 1
            self.k.forking.discard(ctx.tid)  # its previous call, if a fork, is over
            wants_exit = obs is not None and obs.syscall_enter(ctx) is not False
        else:
            wants_exit = again.wants_exit
        injected = None
        if self.injector is not None and again is None:
            injected = self.injector.check(ctx, self.k.tgid_of(ctx.tid))
        hooked: HookCall | None = None
        try:
            outcome = injected if injected is not None else self._decide_safely(ctx)
            if self.hooks is not None:
                outcome, hooked = self._run_hooks(ctx, task, outcome, fresh=again is None)
        except scratch.ScratchNeeded:
            tries = again.attempts if again is not None else 0
            grown = self._grow_scratch(task, ctx, tries, wants_exit)
            if grown is None:
                return  # injected: the call re-executes and traps again
            outcome = grown
        if hooked is not None and isinstance(outcome, Deny):
            hooked.refused = True  # its exit hooks cannot make it succeed
        self._apply(ctx, outcome)
        if hooked is not None:
            self._hook_exit(ctx, hooked)
        if wants_exit:
            assert obs is not None
            ctx.on_exit(lambda ret: obs.syscall_exit(ctx, ret))

    def task_created(self, parent: int, child: int, flags: int) -> None:
        ptask = self.k.tasks.get(parent) or Task(parent, parent)
        self.k.forking.discard(parent)
        self.k.tasks[child] = ptask.clone(child, flags)
        if not flags & CLONE_THREAD:
            self.k.tree.started(child, ptask.tgid)
        if self.k.max_tasks is not None and len(self.k.tasks) > self.k.max_tasks:
            # Hard cap behind the EAGAIN check (e.g. a clone3 or an untrapped path).
            self.k.warn(f"task limit {self.k.max_tasks} reached: a new task was killed")
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        if self.observer is not None:
            self.observer.task_created(parent, child, flags)

    def task_exec(self, tid: int, former_tid: int) -> None:
        if former_tid == self.main_pid:
            self._launching = False
        task = self.k.tasks.pop(former_tid, None) or Task(tid, tid)
        if former_tid != tid:
            # The other threads of the group are gone; the leader's tid is reused.
            for t in [t for t in self.k.tasks.values() if t.tgid == task.tgid]:
                del self.k.tasks[t.tid]
        scratch.release(task)
        memory.forget(former_tid)
        memory.forget(tid)
        task.exec(tid)
        self.k.tasks[tid] = task
        foreign = None
        if self.k.vfs is not None:
            from umlpy.vkernel import fs

            foreign = fs.foreign_image(self.k.vfs, tid)
        if foreign is not None:
            self.k.warn(f"exec loaded {os.fsdecode(foreign)!r}, outside the guest's view (a race): killed")
            try:
                os.kill(tid, signal.SIGKILL)
            except OSError:
                pass
        exe = self._note_exec(tid)
        self.k.tree.exec(task.tgid, read_cmdline(tid) or [], exe)
        if self.observer is not None:
            self.observer.task_exec(tid, former_tid)

    def task_gone(self, tid: int, status: Exited | Killed, rusage: resource.struct_rusage | None) -> None:
        task = self.k.tasks.pop(tid, None)
        if task is not None:
            scratch.release(task)
        if task is None or task.tgid == tid:
            self.k.tree.ended(tid, exit_code=status.code if isinstance(status, Exited) else None,
                              signal=status.sig if isinstance(status, Killed) else None,
                              usage=Usage.from_rusage(rusage) if rusage is not None else None)
        memory.forget(tid)
        self.k.forking.discard(tid)
        self._hooked.pop(tid, None)
        if self.observer is not None:
            self.observer.task_gone(tid, status)

    def signal(self, tid: int, sig: int) -> int:
        if self.observer is not None:
            self.observer.signal(tid, sig)
        return sig

    def group_stop(self, tid: int, sig: int) -> None:
        if self.observer is not None:
            self.observer.group_stop(tid, sig)
        if self.on_guest_stop is not None and tid == self.main_pid:
            self.on_guest_stop(sig)

    # -- hooks (umlpy.vkernel.hooks) ------------------------------------------------
    def _run_hooks(self, ctx: SyscallContext, task: Task | None, decided: Outcome, *,
                   fresh: bool) -> tuple[Outcome, HookCall | None]:
        """Run the entry hooks after umlpy's decision; the Outcome that results (never looser)."""
        assert self.hooks is not None
        name = _name(ctx)
        call = self._hooked.pop(ctx.tid, None)
        if call is not None and (fresh or call.nr != ctx.nr):
            call = None  # a re-entry that did not happen (a signal handler's call came first)
        if call is None:
            enter, exits = self.hooks.for_call(name)
            if not enter and not exits:
                return decided, None
            call = HookCall(ctx, name, TaskInfo(ctx.tid, self.k.tgid_of(ctx.tid)), decided)
            call.exit_fns.extend(exits)
            for fn in enter:
                fn(call)
            if self.k.current_tid != ctx.tid:
                self.k.current_tid = ctx.tid  # a hook let other tasks run meanwhile
        if call.skip_with is not None:
            if isinstance(decided, Deny):
                self.k.warn(f"hook: {name} (pid {call.pid}) was refused by umlpy ({decided.reason}); "
                            "the hook's skip() was ignored")
                return decided, call
            return Emulate(call.skip_with), call
        if not call.new_args:
            return decided, call
        if isinstance(decided, Deny | Emulate):
            why = f"refused by umlpy ({decided.reason})" if isinstance(decided, Deny) else "emulated by umlpy"
            self.k.warn(f"hook: {name} (pid {call.pid}) was {why}; the hook's set_arg() was ignored")
            return decided, call
        regs: dict[int, int] = {}
        for i, v in call.new_args.items():
            if isinstance(v, bytes):
                if task is None:
                    return Emulate(-errno.ENOMEM), call
                try:
                    regs[i] = scratch.place(task, ctx, v)
                except scratch.ScratchNeeded:
                    self._hooked[ctx.tid] = call
                    raise
                except GuestError as e:
                    return Emulate(-e.errno), call
            else:
                regs[i] = v & 0xFFFFFFFFFFFFFFFF
        # Decide again, as if the guest had passed these arguments.
        original = ctx.args
        ctx.args = tuple(regs.get(i, a) for i, a in enumerate(original))
        try:
            redecided = self._decide_safely(ctx)
        except scratch.ScratchNeeded:
            self._hooked[ctx.tid] = call
            raise
        finally:
            ctx.args = original
        return combine(redecided, regs), call

    def _hook_exit(self, ctx: SyscallContext, call: HookCall) -> None:
        if not call.exit_fns:
            return

        def at_exit(ret: int) -> int | None:
            call.phase, call.retval, call.new_return = "exit", ret, None
            for fn in call.exit_fns:
                fn(call)
            if call.new_return is None:
                return None
            if call.refused:
                self.k.warn(f"hook: {call.name} (pid {call.pid}) was refused by umlpy; "
                            "the hook's set_return() was ignored")
                return None
            return call.new_return

        ctx.on_exit(at_exit)

    # -- internals -------------------------------------------------------------
    def _decide_safely(self, ctx: SyscallContext) -> Outcome:
        """:meth:`_decide`, with a failure the guest should see turned into its errno."""
        try:
            return self._decide(ctx)
        except GuestError as e:
            return Emulate(-e.errno)
        except (OSError, OverflowError) as e:
            # A guest pointer the tracer could not read or write: the
            # kernel would have failed the call with EFAULT too.
            if isinstance(e, OSError) and e.errno != errno.EFAULT:
                raise
            return Emulate(-errno.EFAULT)

    def _grow_scratch(self, task: Task | None, ctx: SyscallContext, tries: int, wants_exit: bool) -> Outcome | None:
        """Inject the next step of creating a scratch region; None when injected."""
        if task is None or tries >= MAX_INJECTIONS:
            return Emulate(-errno.ENOMEM)
        try:
            scratch.grow(self.k, task, ctx, self.scratch_guard)
        except GuestError as e:
            return Emulate(-e.errno)
        task.reentry = Reentry(ctx.nr, ctx.ip, wants_exit, tries + 1)
        return None

    def _decide(self, ctx: SyscallContext) -> Outcome:
        if ctx.arch != _ffi.AUDIT_ARCH_X86_64:
            self.k.note_unimplemented(_abi(ctx), _name(ctx))
            return Deny(errno.ENOSYS, "the i386 ABI (int 0x80) is refused")
        if self.handlers:
            h = self.handlers.get(ctx.nr)
            if h is not None:
                return h(self.k, ctx)
        entry = BY_NR.get(ctx.nr)
        if entry is None:
            self.k.note_unimplemented(_abi(ctx), _name(ctx))
            return Deny(errno.ENOSYS, "unknown or x32 syscall number")
        if self._fs_handlers:
            fh = self._fs_handlers.get(entry.name)
            if fh is not None:
                return fh(self.k, ctx)
        if entry.trap is Trap.REFUSED:
            return Deny(entry.errno, entry.note)
        if entry.handler is not None and entry.trap is not Trap.NATIVE:
            return entry.handler(self.k, ctx)
        h = TASK_CREATION.get(entry.name) or POLICY_HANDLERS.get(entry.name)
        if h is not None:
            return h(self.k, ctx)
        return Pass()

    def _apply(self, ctx: SyscallContext, outcome: Outcome) -> None:
        match outcome:
            case Pass():
                pass
            case Emulate(retval):
                ctx.skip(retval)
            case Deny(err, reason):
                self.k.record_denial(Denial(ctx.tid, _abi(ctx), _name(ctx), err, reason))
                log.info("denied %s (tid %d): %s", _name(ctx), ctx.tid, reason)
                ctx.skip(-err)
            case Rewrite(args, on_exit, nr):
                if args or nr is not None:
                    ctx.set_args(dict(args), nr)
                if on_exit is not None:
                    ctx.on_exit(on_exit)

    def _note_exec(self, tid: int) -> str | None:
        """Record the exec (warnings for set-id or unreadable images); the program's guest path."""
        task = self.k.tasks.get(tid)
        asked = task.exec_path if task is not None else None
        if task is not None:
            task.exec_path = None
        try:
            exe = os.readlink(f"/proc/{tid}/exe")
            st = os.stat(exe)
        except OSError:
            if asked is not None:
                # Non-dumpable image (e.g. mode 0111): record what was asked for.
                self.k.execs.append((tid, asked))
                if self.k.vfs is not None:
                    # Its paths cannot be read, so cannot be translated: fail closed.
                    self.k.warn(f"{asked}: execute-only image: umlpy cannot read this process's memory to "
                                "translate its paths, so it was killed (run umlpy as root, or use --host-fs)")
                    try:
                        os.kill(tid, signal.SIGKILL)
                    except OSError:
                        pass
                else:
                    self.k.warn(f"{asked}: unreadable executable image; umlpy cannot inspect this process's memory")
            return asked
        self.k.execs.append((tid, exe))
        if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and st.st_uid != self._uid:
            self.k.warn(f"{exe}: set-user/group-ID bit ignored (no_new_privs); it runs with your privileges")
        if self.k.vfs is not None:
            guest = self.k.vfs.to_guest(os.fsencode(exe))
            return os.fsdecode(guest) if guest is not None else exe
        return exe


def _abi(ctx: SyscallContext) -> str:
    if ctx.arch == _ffi.AUDIT_ARCH_X86_64:
        return "x32" if ctx.nr & 0x40000000 else "x86_64"
    return "i386" if ctx.arch == _ffi.AUDIT_ARCH_I386 else f"{ctx.arch:#x}"


def _name(ctx: SyscallContext) -> str:
    if ctx.arch == _ffi.AUDIT_ARCH_X86_64:
        return x86_64_name(ctx.nr)
    if ctx.arch == _ffi.AUDIT_ARCH_I386:
        return "i386:" + i386_name(ctx.nr)
    return f"syscall_{ctx.nr}"
