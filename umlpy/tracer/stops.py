"""Decode one wait status into one value.

Under PTRACE_SEIZE a tracee reports (ptrace(2), "Stopped states"):

* ``WIFEXITED`` / ``WIFSIGNALED``: the task is gone.
* ``status >> 16 == PTRACE_EVENT_SECCOMP``: a seccomp RET_TRACE stop.
* ``status >> 16 == PTRACE_EVENT_{FORK,VFORK,CLONE,EXEC,EXIT,VFORK_DONE}``.
* ``status >> 16 == PTRACE_EVENT_STOP``: a group-stop if WSTOPSIG is a stop
  signal, otherwise a new-child attach stop or a PTRACE_INTERRUPT stop.
* ``WSTOPSIG == SIGTRAP | 0x80``: a syscall-enter/exit stop (TRACESYSGOOD).
* anything else: a signal-delivery stop for WSTOPSIG.

The loop matches on these classes; nothing else inspects raw statuses.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from umlpy.tracer import _ffi

_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})


@dataclass(frozen=True, slots=True)
class Exited:
    tid: int
    code: int


@dataclass(frozen=True, slots=True)
class Killed:
    tid: int
    sig: int
    core: bool


@dataclass(frozen=True, slots=True)
class SeccompStop:
    tid: int


@dataclass(frozen=True, slots=True)
class SyscallStop:
    """Syscall-enter or -exit stop (only when resumed with PTRACE_SYSCALL)."""

    tid: int


@dataclass(frozen=True, slots=True)
class NewChildEvent:
    """fork/vfork/clone in the parent; ``kind`` is the PTRACE_EVENT_* value."""

    tid: int
    kind: int


@dataclass(frozen=True, slots=True)
class ExecEvent:
    tid: int


@dataclass(frozen=True, slots=True)
class ExitEvent:
    tid: int


@dataclass(frozen=True, slots=True)
class VforkDoneEvent:
    tid: int


@dataclass(frozen=True, slots=True)
class GroupStop:
    tid: int
    sig: int


@dataclass(frozen=True, slots=True)
class EventStop:
    """PTRACE_EVENT_STOP that is not a group-stop: attach or interrupt."""

    tid: int


@dataclass(frozen=True, slots=True)
class SignalStop:
    """Signal-delivery stop: ``sig`` is about to be delivered unless suppressed."""

    tid: int
    sig: int


Stop = (
    Exited
    | Killed
    | SeccompStop
    | SyscallStop
    | NewChildEvent
    | ExecEvent
    | ExitEvent
    | VforkDoneEvent
    | GroupStop
    | EventStop
    | SignalStop
)


def decode(tid: int, status: int) -> Stop:
    """Turn ``waitpid``'s status for ``tid`` into a Stop value."""
    if os.WIFEXITED(status):
        return Exited(tid, os.WEXITSTATUS(status))
    if os.WIFSIGNALED(status):
        return Killed(tid, os.WTERMSIG(status), os.WCOREDUMP(status))
    sig = os.WSTOPSIG(status)
    event = status >> 16
    if event == 0:
        if sig == signal.SIGTRAP | 0x80:
            return SyscallStop(tid)
        return SignalStop(tid, sig)
    if event == _ffi.PTRACE_EVENT_SECCOMP:
        return SeccompStop(tid)
    if event in (_ffi.PTRACE_EVENT_FORK, _ffi.PTRACE_EVENT_VFORK, _ffi.PTRACE_EVENT_CLONE):
        return NewChildEvent(tid, event)
    if event == _ffi.PTRACE_EVENT_EXEC:
        return ExecEvent(tid)
    if event == _ffi.PTRACE_EVENT_EXIT:
        return ExitEvent(tid)
    if event == _ffi.PTRACE_EVENT_VFORK_DONE:
        return VforkDoneEvent(tid)
    if event == _ffi.PTRACE_EVENT_STOP and sig in _STOP_SIGNALS:
        return GroupStop(tid, sig)
    return EventStop(tid)
