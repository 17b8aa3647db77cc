"""Syscall injection: make a task stopped at a seccomp stop run a call of ours.

The classic technique (PRoot's and gVisor's ptrace platforms use the same
idea), done from a seccomp stop:

1. Save the task's registers.  At a seccomp stop the task is inside the
   kernel at syscall entry: ``rip`` points just past the two-byte
   ``syscall`` instruction (``0f 05``), ``orig_rax`` holds the number and
   ``rax`` is ``-ENOSYS``.
2. Write the injected number into ``orig_rax`` and its arguments into
   ``rdi, rsi, rdx, r10, r8, r9``.  After a TRACE stop the kernel re-reads
   the number and *re-runs the seccomp filters* on the changed call
   (kernel/seccomp.c, ``__seccomp_filter``: "Recheck the syscall, since it
   may have changed").  On that recheck TRACE means allow, but ERRNO and
   KILL from any stacked filter still apply.  So the injected call must not
   be refused by umlpy's own filter — mmap and mseal are native (ALLOW) in
   the syscall table, and :mod:`umlpy.vkernel.scratch` relies on that — and
   a guest that stacked its own filter refusing them makes the injection
   fail with that filter's errno, which the caller must treat as failure.
3. Resume with PTRACE_SYSCALL: the next stop is the injected call's
   syscall-exit stop, where ``rax`` is its result.  The tracer's existing
   exit-callback machinery (:meth:`SyscallContext.on_exit`) does this.
4. Restore the saved registers with ``rip -= 2`` and ``rax`` = the original
   number.  Returning to user mode the task executes ``syscall`` again: the
   *original* call re-enters the kernel and traps a second time, now in a
   world where the injected call has happened.  The caller makes that
   re-entry recognisable (the virtual kernel keeps a per-task marker).

Signals: a signal that arrives meanwhile is delivered after the exit stop,
on the restored registers; ``rax`` then holds a small positive number, not
an ``-ERESTART*`` code, so the kernel's restart logic leaves ``rip`` alone
and the handler returns to the rewound ``syscall``.  If the handler never
returns (longjmp), the original call simply never re-executes, as if the
signal had arrived just before it.

Only the x86-64 ``syscall`` instruction is rewound.  ``int 0x80`` (``cd 80``)
and ``sysenter`` are the i386 ABI, which the virtual kernel refuses before
any handler runs; injection refuses them too.  If another guest thread
rewrites the code bytes between the check and the re-execution, the task
runs whatever the guest put there — its own code, still under the filter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext

log = logging.getLogger(__name__)

SYSCALL_INSN = b"\x0f\x05"
INT80_INSN = b"\xcd\x80"
_ENOSYS = 38
_ARG_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")
_MASK = 0xFFFFFFFFFFFFFFFF


class InjectError(Exception):
    """The task is not at a point where a call can be injected."""


def inject(ctx: SyscallContext, nr: int, args: Sequence[int], done: Callable[[int], None]) -> None:
    """Run ``nr(*args)`` in the task instead of its trapped call, then re-run that call.

    Must be called while the task sits at the seccomp stop ``ctx`` describes,
    before anything else changed its registers or asked for its exit stop.
    ``done(result)`` is called at the injected call's exit stop (``result``
    is the raw return value: ``-errno`` on failure), after the original
    registers have been restored with ``rip`` rewound.  Raises InjectError
    when the stop is not an x86-64 ``syscall`` instruction.
    """
    if ctx.arch != _ffi.AUDIT_ARCH_X86_64:
        raise InjectError("only the x86-64 syscall ABI can be injected into")
    if ctx._exit_cb is not None:
        raise InjectError("the trapped call already has an exit callback")
    if len(args) > len(_ARG_REGS):
        raise InjectError("at most six arguments")
    tid = ctx.tid
    saved = _ffi.new_regs()
    _ffi.getregs(tid, saved)
    if saved.orig_rax != ctx.nr or saved.rip != ctx.ip:
        raise InjectError("registers do not match the seccomp stop")
    try:
        insn = ctx.read(saved.rip - 2, 2)
    except OSError as e:
        raise InjectError(f"cannot read the syscall instruction: {e}") from e
    if insn != SYSCALL_INSN:
        what = "int 0x80" if insn == INT80_INSN else insn.hex()
        raise InjectError(f"trapped instruction is {what}, not syscall")

    regs = type(saved).from_buffer_copy(saved)
    regs.orig_rax = nr & _MASK
    regs.rax = -_ENOSYS & _MASK
    for name, value in zip(_ARG_REGS, args):
        setattr(regs, name, value & _MASK)
    _ffi.setregs(tid, regs)

    def at_exit(result: int) -> None:
        saved.rip = (saved.rip - 2) & _MASK
        saved.rax = saved.orig_rax
        _ffi.setregs(tid, saved)
        log.debug("tid %d: injected syscall %d returned %#x; call %d re-runs", tid, nr, result, ctx.nr)
        done(result)

    ctx.on_exit(at_exit)
