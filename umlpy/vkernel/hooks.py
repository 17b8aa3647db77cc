"""Syscall hooks: Python callbacks at a call's entry and exit (the scripting API).

``Sandbox(config).run(argv, hooks=[Hook(...)])`` calls ``on_enter(call)``
and ``on_exit(call)`` for every call of the hook's syscalls (or every call,
``syscalls=None``).  A :class:`HookCall` shows the call (decoded arguments
from the trace decoders, raw registers, guest memory, the task) and records
what the hook wants; the dispatcher then applies it as an Outcome, so a
hook never writes a register itself.

Order, per trapped call (:meth:`umlpy.vkernel.dispatch.VirtualKernel.syscall`):

1. the observer (``umlpy trace``) sees the entry;
2. fault injection (``--inject``), else umlpy's own decision — the
   containment step: Pass, Rewrite (e.g. a path translated into the
   writable layer), Emulate, Deny;
3. the hooks' ``on_enter``, in list order, all seeing the same call;
4. what they asked is combined with step 2, never loosening it:

   * ``skip(retval)`` / ``fail(errno)``: the host call does not run (Emulate).
     A refused call (Deny) stays refused with its own errno.
   * ``set_arg(i, value)``: the call is *decided again* with the new
     arguments, exactly as if the guest had passed them; umlpy's own rewrite
     of that decision wins for the arguments it sets (a path the hook
     chose is still translated, a host path outside every binding is still
     refused).  Bytes (a path, a buffer) are copied into umlpy's read-only
     scratch region (:func:`umlpy.vkernel.scratch.place`), so no guest
     thread can change them before the kernel reads them.  Ignored for a
     refused call and for a call umlpy emulates (its arguments are not used).

5. at the syscall-exit stop: umlpy's own exit fix-ups, then the hooks'
   ``on_exit`` (and per-call ``at_exit`` callbacks), which may
   ``set_return(value)`` — except on a refused call, which stays refused.

A request that is ignored is recorded as a warning in the run's result.
An exception raised by a hook is a tracer failure: the guest tree is
killed and :meth:`Sandbox.run` raises it (fail closed).

On a process attached to (:func:`umlpy.sandbox.attach`) there is no
containment step: every call is decided Pass, the requests apply as they are
(:mod:`umlpy.vkernel.attached`), and :meth:`HookCall.detach` ends the run.

Hooks run in the tracer thread while the calling task is stopped; the other
tasks run until their next trapped call.  A hook that waits for a person
(``umlpy debug``) calls :meth:`HookCall.service_others` while it waits, so
only the stopped task waits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.outcome import Deny, Emulate, Outcome, Pass, Rewrite

if TYPE_CHECKING:
    from umlpy.vkernel.decode import Decoded

HookFn = Callable[["HookCall"], None]


@dataclass(frozen=True, slots=True)
class Hook:
    """Callbacks for the calls named in ``syscalls`` (None: every call).

    Naming every call makes the filter trap everything (as ``umlpy trace``
    does), which costs a stop per call.
    """

    syscalls: frozenset[str] | None
    on_enter: HookFn | None = None
    on_exit: HookFn | None = None

    @classmethod
    def of(cls, syscalls: str | Iterable[str] | None, *, on_enter: HookFn | None = None,
           on_exit: HookFn | None = None) -> Hook:
        """``Hook.of("openat", on_enter=f)``; a name, several, or None for all; unknown names raise ValueError."""
        if syscalls is None:
            return cls(None, on_enter, on_exit)
        names = frozenset([syscalls] if isinstance(syscalls, str) else syscalls)
        unknown = sorted(n for n in names if n not in x86_64.SYSCALL_NUMBERS)
        if unknown:
            raise ValueError(f"unknown syscall {unknown[0]!r}")
        return cls(names, on_enter, on_exit)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """The calling task: thread id and process id (thread-group id)."""

    tid: int
    pid: int


class HookError(Exception):
    """A hook asked for something that cannot be done (bad argument index, exit-only call at entry)."""


class HookCall:
    """One syscall as hooks see it; the same object at entry and at exit.

    Read: ``name``, ``nr``, ``phase`` ("enter" or "exit"), ``task``,
    ``raw_args``, ``args`` (decoded, strace's text per argument),
    ``decided`` (umlpy's own decision: "pass", "rewrite", "emulate",
    "deny"), ``refused``, ``retval`` (at exit), ``attached`` (the task
    was attached to, :func:`umlpy.sandbox.attach`, not started),
    :meth:`read_memory`, :meth:`read_string`, :meth:`regs`.  Change:
    :meth:`set_arg`, :meth:`skip`, :meth:`fail`, :meth:`set_return`,
    :meth:`at_exit`, :meth:`detach` (attached runs).
    """

    def __init__(self, ctx: SyscallContext, name: str, task: TaskInfo, decided: Outcome, *,
                 attached: bool = False) -> None:
        self._ctx = ctx
        self.name = name
        self.nr = ctx.nr
        self.task = task
        self.raw_args: tuple[int, ...] = tuple(ctx.args)
        self.decided = _kind(decided)
        self.refused = isinstance(decided, Deny)
        self.phase = "enter"
        self.attached = attached
        self.retval: int | None = None
        self._decoded: Decoded | None = None
        # requests, applied by the dispatcher
        self.new_args: dict[int, int | bytes] = {}
        self.skip_with: int | None = None
        self.new_return: int | None = None
        self.exit_fns: list[HookFn] = []
        self.detach_requested = False

    # -- reading -------------------------------------------------------------
    @property
    def tid(self) -> int:
        return self.task.tid

    @property
    def pid(self) -> int:
        return self.task.pid

    @property
    def decoded(self) -> Decoded:
        """The trace decoder's view of the entry (``decoded.text()`` is strace's ``name(args)``)."""
        if self._decoded is None:
            from umlpy.vkernel.decode import Env, Options, decode_enter  # ~25 ms: only when asked

            env = Env(self._ctx, self._ctx.tid, self.raw_args, Options(strsize=256))
            self._decoded = decode_enter(self.name, env)
        return self._decoded

    @property
    def args(self) -> list[str | None]:
        """Decoded arguments by index, as strace prints them at entry.

        None where strace omits the argument (open's mode without O_CREAT)
        and for out-arguments, which have no value before the call runs.
        """
        return list(self.decoded.parts)

    def result_text(self) -> str:
        """At exit: the return value as strace prints it (``3``, ``-1 ENOENT (No such file or directory)``)."""
        from umlpy.vkernel.decode import format_return

        return format_return(self.decoded, self.retval)

    def read_memory(self, addr: int, n: int) -> bytes:
        """``n`` bytes of the task's memory at ``addr`` (OSError if unmapped)."""
        return self._ctx.read(addr, n)

    def read_string(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string of the task's memory, without its NUL."""
        return self._ctx.read_cstring(addr, limit)

    def regs(self) -> Any:
        """The task's registers (``user_regs_struct``: ``rip``, ``rsp``, ``orig_rax`` …)."""
        return self._ctx.regs()

    # -- changing ----------------------------------------------------------------
    def set_arg(self, i: int, value: int | bytes | str) -> None:
        """Entry: run the call with argument ``i`` replaced.

        An int replaces the register; bytes or str (a path) are copied into
        umlpy's read-only scratch region, NUL-terminated, and the register
        points there.  The call is then decided again by umlpy.
        """
        self._entry_only("set_arg")
        if not 0 <= i < 6:
            raise HookError(f"{self.name}: no argument {i} (0..5)")
        if isinstance(value, str):
            value = os.fsencode(value)
        if isinstance(value, bytes) and not value.endswith(b"\0"):
            value += b"\0"
        self.new_args[i] = value

    def skip(self, retval: int) -> None:
        """Entry: do not run the call; the guest sees ``retval`` (a negative errno fails it)."""
        self._entry_only("skip")
        self.skip_with = retval

    def fail(self, err: int) -> None:
        """Entry: do not run the call; it fails with ``err`` (e.g. ``errno.ENOSPC``)."""
        self.skip(-abs(err))

    def set_return(self, retval: int) -> None:
        """Exit: the guest sees ``retval`` instead of the call's result."""
        if self.phase != "exit":
            raise HookError(f"{self.name}: set_return() is for exit hooks (use skip() at entry)")
        self.new_return = retval

    def at_exit(self, fn: HookFn) -> None:
        """Entry: also call ``fn(call)`` at this call's exit."""
        self._entry_only("at_exit")
        self.exit_fns.append(fn)

    def service_others(self) -> None:
        """While a hook waits (for input): let the other guest tasks' stops be handled."""
        self._ctx.service_others()

    def detach(self) -> None:
        """Attached runs: after this call, leave every task running untraced; ``attach()`` returns.

        What this call's hooks asked still applies; hooks later in the list
        do not run for it.  A started guest cannot be detached (without
        umlpy its seccomp filter would fail its trapped calls): HookError.
        """
        if not self.attached:
            raise HookError(f"{self.name}: detach() is for attached processes (umlpy.attach), not a started guest")
        self.detach_requested = True

    def kill_guest(self) -> None:
        """SIGKILL the whole guest tree; the run ends."""
        self._ctx.kill_guest()

    def _entry_only(self, what: str) -> None:
        if self.phase != "enter":
            raise HookError(f"{self.name}: {what}() is for entry hooks")


@dataclass(slots=True)
class HookSet:
    """The hooks of one run, indexed by syscall name."""

    hooks: tuple[Hook, ...]
    enter: dict[str, list[HookFn]] = field(default_factory=dict)
    exit: dict[str, list[HookFn]] = field(default_factory=dict)
    enter_all: list[HookFn] = field(default_factory=list)
    exit_all: list[HookFn] = field(default_factory=list)

    def __post_init__(self) -> None:
        for h in self.hooks:
            for fn, by_name, every in ((h.on_enter, self.enter, self.enter_all), (h.on_exit, self.exit, self.exit_all)):
                if fn is None:
                    continue
                if h.syscalls is None:
                    every.append(fn)
                else:
                    for n in h.syscalls:
                        by_name.setdefault(n, []).append(fn)

    @property
    def traps_all(self) -> bool:
        return any(h.syscalls is None for h in self.hooks)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(h.syscalls for h in self.hooks if h.syscalls is not None))

    def for_call(self, name: str) -> tuple[list[HookFn], list[HookFn]]:
        return self.enter_all + self.enter.get(name, []), self.exit_all + self.exit.get(name, [])


def combine(redecided: Outcome, hook_args: dict[int, int]) -> Outcome:
    """The Outcome for a call whose hook changed arguments and was decided again.

    umlpy's own rewrite of the new arguments wins where both set one;
    a refusal or an emulation of the new arguments stands.
    """
    match redecided:
        case Pass():
            return Rewrite(tuple(sorted(hook_args.items())))
        case Rewrite(args, on_exit, nr):
            merged = dict(hook_args)
            merged.update(dict(args))
            return Rewrite(tuple(sorted(merged.items())), on_exit, nr)
    return redecided


def _kind(o: Outcome) -> str:
    match o:
        case Pass():
            return "pass"
        case Rewrite():
            return "rewrite"
        case Emulate():
            return "emulate"
    return "deny"
