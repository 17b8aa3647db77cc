"""The tracer: one blocking ``wait4(-1, __WALL | __WNOTHREAD)`` loop.

Every stop is decoded once (:mod:`umlpy.tracer.stops`) and handled by a
``match``.  The tracer knows tasks, stops, registers and guest memory; what a
syscall *means* is the handler's business (:class:`Handler`, implemented by
the virtual kernel).

Task bookkeeping follows ptrace(2):

* New tasks are auto-attached (TRACEFORK/VFORK/CLONE).  A child's first stop
  may be reported before its parent's PTRACE_EVENT_{FORK,CLONE}; such a child
  is held stopped until its parent's event tells us who it is.
* A non-leader thread that execs takes over the leader's tid; the event
  message holds its former tid, which disappears without an exit report.
* Group-stops under PTRACE_SEIZE are parked with PTRACE_LISTEN, so job control
  (SIGSTOP / SIGCONT, Ctrl-Z in a terminal) works as without a tracer.
* Any ptrace call may fail with ESRCH when a task was SIGKILLed meanwhile:
  that is not an error, its death is reported by wait later.

``__WNOTHREAD`` makes each tracer thread wait only for its own tracees, so
several sandboxes can run in one process, one thread each.

Fail closed: if anything raises inside the loop, every guest task is
SIGKILLed and reaped before the exception propagates.  If the tracer
process dies, PTRACE_O_EXITKILL kills the guest.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from umlpy.tracer import _ffi, memory
from umlpy.tracer.stops import (
    EventStop,
    ExecEvent,
    Exited,
    ExitEvent,
    GroupStop,
    Killed,
    NewChildEvent,
    SeccompStop,
    SignalStop,
    Stop,
    SyscallStop,
    VforkDoneEvent,
    decode,
)

log = logging.getLogger(__name__)

# Not TRACEEXIT: an extra stop per task exit that nothing here needs
# (exit statuses come from wait); ExitEvent is still handled if it occurs.
SEIZE_OPTIONS = (
    _ffi.PTRACE_O_EXITKILL
    | _ffi.PTRACE_O_TRACESECCOMP
    | _ffi.PTRACE_O_TRACEFORK
    | _ffi.PTRACE_O_TRACEVFORK
    | _ffi.PTRACE_O_TRACECLONE
    | _ffi.PTRACE_O_TRACEEXEC
    | _ffi.PTRACE_O_TRACESYSGOOD
)

_WAIT_FLAGS = _ffi.__WALL | _ffi.__WNOTHREAD
# status >> 8 of a stopped task (its low byte is 0x7f): a seccomp stop, and a
# syscall-enter/exit stop under PTRACE_O_TRACESYSGOOD (see stops.decode).
_SECCOMP_STOP = (_ffi.PTRACE_EVENT_SECCOMP << 8) | signal.SIGTRAP
_SYSCALL_STOP = signal.SIGTRAP | 0x80

# Syscall numbers the tracer itself must know to decode clone flags at a
# PTRACE_EVENT_{FORK,VFORK,CLONE} stop (orig_rax holds the call's number).
_X86_64_CLONE, _X86_64_FORK, _X86_64_VFORK, _X86_64_CLONE3 = 56, 57, 58, 435
_I386_CLONE, _I386_FORK, _I386_VFORK = 120, 2, 190
CLONE_VM = 0x100
CLONE_VFORK = 0x4000


class InternalError(Exception):
    """An invariant of the tracer broke; the guest has been killed."""


class SyscallContext:
    """One trapped syscall of one task, as seen at its seccomp stop.

    Handlers read ``nr``/``args``/``arch`` and guest memory; the virtual
    kernel's dispatcher uses the mutators to apply its decision.
    """

    __slots__ = ("_exit_cb", "_tracer", "arch", "args", "ip", "nr", "sp", "tid")

    def __init__(self, tracer: Tracer, tid: int, arch: int, nr: int, args: tuple[int, ...], ip: int, sp: int):
        self._tracer = tracer
        self.tid = tid
        self.arch = arch
        self.nr = nr
        self.args = args
        self.ip = ip
        self.sp = sp
        self._exit_cb: Callable[[int], int | None] | None = None

    # -- guest memory ------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        return memory.read(self.tid, addr, size)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        return memory.read_cstring(self.tid, addr, limit)

    def write(self, addr: int, data: bytes) -> None:
        memory.write(self.tid, addr, data)

    def regs(self) -> Any:
        """A fresh copy of the task's registers (for debuggers and backtraces)."""
        regs = _ffi.new_regs()
        _ffi.getregs(self.tid, regs)
        return regs

    def service_others(self) -> None:
        """Handle the other tasks' pending stops while this one stays stopped.

        For handlers that wait for a person (``umlpy debug``'s prompt): this
        task is held in its stop, every other guest task keeps running.  It
        may re-enter the handler for other tasks' calls; never blocks.
        """
        self._tracer.service()

    def kill_guest(self) -> None:
        """SIGKILL every guest task (``quit`` at a debugger prompt)."""
        self._tracer.kill_all()

    # -- mutators (dispatcher only) -----------------------------------------
    def skip(self, retval: int) -> None:
        """Do not run the syscall; the guest sees ``retval`` (e.g. -errno)."""
        regs = self._tracer.scratch_regs()
        _ffi.getregs(self.tid, regs)
        regs.orig_rax = 0xFFFFFFFFFFFFFFFF
        regs.rax = retval & 0xFFFFFFFFFFFFFFFF
        _ffi.setregs(self.tid, regs)

    def set_args(self, args: dict[int, int], nr: int | None = None) -> None:
        """Replace some argument registers (and the call, if ``nr``) before the host kernel runs it.

        A changed number is not re-trapped: after a SECCOMP_RET_TRACE stop the
        kernel re-runs the filter but lets a second TRACE through.
        """
        if nr is None and len(args) == 1 and self.arch != _ffi.AUDIT_ARCH_I386:
            # The common rewrite (one path pointer): one ptrace call, not two.
            ((i, v),) = args.items()
            _ffi.pokeuser(self.tid, _ARG_OFFSETS_X86_64[i], v)
            return
        regs = self._tracer.scratch_regs()
        _ffi.getregs(self.tid, regs)
        if nr is not None:
            regs.orig_rax = nr
        names = _ARG_REGS_I386 if self.arch == _ffi.AUDIT_ARCH_I386 else _ARG_REGS_X86_64
        for i, v in args.items():
            setattr(regs, names[i], v & 0xFFFFFFFFFFFFFFFF)
        _ffi.setregs(self.tid, regs)

    def on_exit(self, cb: Callable[[int], int | None]) -> None:
        """Call ``cb(retval)`` at the syscall-exit stop; a non-None result replaces it.

        Several callbacks run in the order registered, each seeing the
        previous one's result.
        """
        prev = self._exit_cb
        if prev is None:
            self._exit_cb = cb
            return

        def chained(ret: int) -> int | None:
            r1 = prev(ret)
            cur = ret if r1 is None else r1
            r2 = cb(cur)
            return r2 if r2 is not None else r1

        self._exit_cb = chained


_ARG_REGS_X86_64 = ("rdi", "rsi", "rdx", "r10", "r8", "r9")
_ARG_REGS_I386 = ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp")
# Their offsets in struct user_regs_struct (arch/x86/include/asm/user_64.h).
_ARG_OFFSETS_X86_64 = (112, 104, 96, 56, 72, 64)


class Handler(Protocol):
    """What the tracer calls; implemented by the virtual kernel."""

    def syscall(self, ctx: SyscallContext) -> None: ...

    def task_created(self, parent: int, child: int, flags: int) -> None: ...

    def task_exec(self, tid: int, former_tid: int) -> None: ...

    def task_gone(self, tid: int, status: Exited | Killed, rusage: resource.struct_rusage | None) -> None:
        """``tid`` was reaped; ``rusage`` is what wait4(2) returned with it (None if unknown)."""

    def signal(self, tid: int, sig: int) -> int: ...

    def group_stop(self, tid: int, sig: int) -> None: ...


@dataclass(slots=True)
class Task:
    tid: int
    exit_cb: Callable[[int], int | None] | None = None
    listening: bool = False


@dataclass(slots=True)
class TraceOutcome:
    """How the main process ended, plus tracer counters."""

    status: Exited | Killed
    rusage: object | None
    stops: int = 0
    tasks_seen: int = 1
    peak_tasks: int = 1
    leftovers_killed: int = 0


@dataclass(slots=True)
class Tracer:
    handler: Handler
    main_pid: int
    kill_on_exit: bool = True
    tasks: dict[int, Task] = field(default_factory=dict)
    _regs: Any = None
    _info: _ffi.SyscallInfoReader = field(default_factory=_ffi.SyscallInfoReader)
    _early: dict[int, Stop] = field(default_factory=dict)
    _main_status: Exited | Killed | None = None
    _main_rusage: object | None = None
    _stops: int = 0
    _seen: int = 1
    _peak: int = 1
    _leftovers: int = 0
    _killing: bool = False
    # Attach mode (``umlpy trace -p``): tasks were seized, not started, so
    # there is no seccomp filter — every syscall is seen through
    # PTRACE_SYSCALL stops — and failure or Ctrl-C detaches instead of killing.
    attached: tuple[int, ...] = ()

    def run(self) -> TraceOutcome:
        """Run until every guest task is gone (or the main one, with kill_on_exit)."""
        self.tasks[self.main_pid] = Task(self.main_pid)
        for tid in self.attached:
            self.tasks[tid] = Task(tid)
        try:
            self._loop()
        except BaseException:
            if self.attached:
                self.detach_all()
            else:
                self.kill_all()
                self._drain()
            raise
        assert self._main_status is not None
        return TraceOutcome(
            self._main_status, self._main_rusage, self._stops, self._seen, self._peak, self._leftovers
        )

    def kill_all(self) -> None:
        """SIGKILL every known guest task (safe from any thread).

        From then on every task that appears (a fork in flight, an orphan
        adopted late) is killed on sight, so nothing escapes the sweep.
        """
        self._killing = True
        for tid in list(self.tasks) + list(self._early):
            try:
                os.kill(tid, signal.SIGKILL)
            except OSError:
                pass

    def _drain(self) -> None:
        while True:
            try:
                os.wait4(-1, _WAIT_FLAGS)
            except ChildProcessError:
                return
            except InterruptedError:
                continue

    def _loop(self) -> None:
        while True:
            try:
                tid, status, rusage = os.wait4(-1, _WAIT_FLAGS)
            except ChildProcessError:
                if self._main_status is None:
                    raise InternalError("guest vanished without an exit status") from None
                return
            self._dispatch(tid, status, rusage)

    def _dispatch(self, tid: int, status: int, rusage: resource.struct_rusage | None) -> None:
        """One wait status, from the loop or from :meth:`service`."""
        self._stops += 1
        try:
            # The two stops of every traced call, recognised from the raw
            # status (no Stop value, no match): they are nearly all stops.
            if status & 0xFF == 0x7F and tid in self.tasks:
                hi = status >> 8
                if hi == _SECCOMP_STOP:
                    self._seccomp(tid)
                    return
                if hi == _SYSCALL_STOP and not self.attached:
                    self._syscall_exit(tid)
                    return
            stop = decode(tid, status)
            if tid not in self.tasks and not self._unknown(stop):
                return
            self._handle(stop, rusage)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
            # The task died under us (SIGKILL); wait will report it.

    def service(self) -> None:
        """Handle every stop already pending, without blocking (see SyscallContext.service_others)."""
        while True:
            try:
                tid, status, rusage = os.wait4(-1, _WAIT_FLAGS | os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if tid == 0:
                return
            self._dispatch(tid, status, rusage)

    def _unknown(self, stop: Stop) -> bool:
        """A stop from a tid we have not been told about yet; True to handle it now."""
        match stop:
            case Exited() | Killed():
                self._early.pop(stop.tid, None)
                return False
            case _:
                # New child reporting before its parent's fork event: hold it.
                self._early[stop.tid] = stop
                if self._killing:
                    _kill(stop.tid)
                return False

    def detach_all(self) -> None:
        """Attach mode: leave every task running, untraced (PTRACE_DETACH needs a stop)."""
        pending: set[int] = set()
        for tid in set(self.tasks) | set(self._early):
            try:
                _ffi.detach(tid, 0)  # succeeds if it sits in a stop we already consumed
            except OSError:
                pending.add(tid)
        for tid in pending:
            try:
                _ffi.interrupt(tid)
            except OSError:
                pass
        while pending:
            try:
                tid, status = os.waitpid(-1, _WAIT_FLAGS)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            stop = decode(tid, status)
            pending.discard(tid)
            if isinstance(stop, Exited | Killed):
                continue
            try:  # a signal caught in its delivery stop is handed back, not lost
                _ffi.detach(tid, stop.sig if isinstance(stop, SignalStop) else 0)
            except OSError:
                pass

    def _resume(self, tid: int, sig: int = 0) -> None:
        task = self.tasks.get(tid)
        if self.attached or (task is not None and task.exit_cb is not None):
            _ffi.syscall_resume(tid, sig)
        else:
            _ffi.cont(tid, sig)

    def _handle(self, stop: Stop, rusage: resource.struct_rusage | None) -> None:
        match stop:
            case SeccompStop(tid):
                self._seccomp(tid)
            case SyscallStop(tid):
                if self.attached and self._syscall_entry(tid):
                    return
                self._syscall_exit(tid)
            case NewChildEvent(tid, kind):
                self._new_child(tid, kind)
            case ExecEvent(tid):
                former = _ffi.geteventmsg(tid)
                memory.forget(tid)  # a cached /proc/TID/mem names the old address space
                if former != tid:
                    memory.forget(former)
                    # A non-leader exec'd: it now owns the leader's tid.
                    task = self.tasks.pop(former, None) or Task(tid)
                    task.tid = tid
                    self.tasks[tid] = task
                self.handler.task_exec(tid, former)
                self._resume(tid)
            case ExitEvent(tid) | VforkDoneEvent(tid):
                self._resume(tid)
            case GroupStop(tid, sig):
                self.tasks[tid].listening = True
                _ffi.listen(tid)
                # After LISTEN: a handler that stops umlpy itself (job control)
                # leaves the guest parked where SIGCONT alone resumes it.
                self.handler.group_stop(tid, sig)
            case EventStop(tid):
                # Attach stop of a new task, PTRACE_INTERRUPT, or the re-trap after
                # a PTRACE_LISTEN ended by SIGCONT.
                self.tasks[tid].listening = False
                self._resume(tid)
            case SignalStop(tid, sig):
                deliver = self.handler.signal(tid, sig)
                self._resume(tid, deliver)
            case Exited(tid) | Killed(tid):
                self._gone(stop, rusage)

    def _seccomp(self, tid: int) -> None:
        info = self._info.call(tid)
        if info[0] != _ffi.PTRACE_SYSCALL_INFO_SECCOMP:
            raise InternalError(f"seccomp stop without seccomp info (op {info[0]})")
        ctx = SyscallContext(self, tid, info[1], info[4], info[5:], info[2], info[3])
        self.handler.syscall(ctx)
        task = self.tasks.get(tid)
        if task is None:
            return  # killed while a hook held it (SyscallContext.service_others)
        task.exit_cb = ctx._exit_cb
        if task.exit_cb is not None or self.attached:
            _ffi.syscall_resume(tid, 0)
        else:
            _ffi.cont(tid, 0)

    def _syscall_exit(self, tid: int) -> None:
        task = self.tasks[tid]
        cb, task.exit_cb = task.exit_cb, None
        if cb is not None:
            op, rval = self._info.exit(tid)
            if op == _ffi.PTRACE_SYSCALL_INFO_EXIT:
                new = cb(rval)
                if tid not in self.tasks:
                    return  # killed while an exit hook held it
                if new is not None:
                    regs = self.scratch_regs()
                    _ffi.getregs(tid, regs)
                    regs.rax = new & 0xFFFFFFFFFFFFFFFF
                    _ffi.setregs(tid, regs)
        self._resume(tid)

    def _syscall_entry(self, tid: int) -> bool:
        """Attach mode: a syscall-entry stop goes to the handler; False if it is an exit."""
        info = self._info.call(tid)
        if info[0] != _ffi.PTRACE_SYSCALL_INFO_ENTRY:
            return False
        ctx = SyscallContext(self, tid, info[1], info[4], info[5:], info[2], info[3])
        self.handler.syscall(ctx)
        self.tasks[tid].exit_cb = ctx._exit_cb
        self._resume(tid)
        return True

    def _new_child(self, tid: int, kind: int) -> None:
        child = _ffi.geteventmsg(tid)
        if self._killing:
            _kill(child)
        flags = self._clone_flags(tid, kind)
        self.tasks[child] = Task(child)
        self._seen += 1
        self._peak = max(self._peak, len(self.tasks))
        self.handler.task_created(tid, child, flags)
        held = self._early.pop(child, None)
        if held is not None:
            self._handle(held, None)
        self._resume(tid)

    def scratch_regs(self) -> Any:
        if self._regs is None:
            self._regs = _ffi.new_regs()
        return self._regs

    def _clone_flags(self, tid: int, kind: int) -> int:
        # At a fork/clone event stop the parent is still inside the call:
        # orig_rax is its number and the argument registers are intact.
        if kind == _ffi.PTRACE_EVENT_VFORK:
            return CLONE_VM | CLONE_VFORK
        nr = _ffi.peekuser(tid, _ffi.REG_ORIG_RAX)
        if nr == _X86_64_CLONE:
            return _ffi.peekuser(tid, _ffi.REG_RDI) & 0xFFFFFFFF
        if nr == _I386_CLONE and kind == _ffi.PTRACE_EVENT_CLONE:
            return _ffi.peekuser(tid, _ffi.REG_RBX) & 0xFFFFFFFF
        if nr == _X86_64_CLONE3:
            try:
                return int.from_bytes(memory.read(tid, _ffi.peekuser(tid, _ffi.REG_RDI), 8), "little")
            except OSError:
                return 0
        return 0  # fork(), or a clone3 we let through: nothing shared

    def _gone(self, stop: Exited | Killed, rusage: resource.struct_rusage | None) -> None:
        tid = stop.tid
        self.tasks.pop(tid, None)
        memory.forget(tid)
        self.handler.task_gone(tid, stop, rusage)
        if self._early:
            self._adopt_orphans()
        if tid == self.main_pid:
            self._main_status = stop
            self._main_rusage = rusage
            if self.kill_on_exit and self.tasks:
                self._leftovers = len(self.tasks)
                log.info("main process ended; killing %d leftover task(s)", len(self.tasks))
                self.kill_all()

    def _adopt_orphans(self) -> None:
        """Release held children whose parent died before reporting their fork."""
        for child in list(self._early):
            parent = _parent_of(child)
            if parent is not None and parent in self.tasks:
                continue
            held = self._early.pop(child)
            if self._killing:
                _kill(child)
            self.tasks[child] = Task(child)
            self._seen += 1
            self.handler.task_created(parent or self.main_pid, child, 0)
            self._handle(held, None)


def _kill(tid: int) -> None:
    try:
        os.kill(tid, signal.SIGKILL)
    except OSError:
        pass


def _parent_of(tid: int) -> int | None:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
