"""Fault injection: make chosen syscalls fail, return a value, or raise a signal.

The rule language follows strace's ``-e inject=`` (strace(1), "Tampering"):

    SET:error=ERRNO|retval=N[:signal=SIG][:when=EXPR]

where SET is a comma-separated list of syscall names and EXPR counts the
matching calls from 1: ``N`` (only the Nth), ``N+`` (the Nth and every one
after), ``N+S`` (the Nth and every Sth after), ``N..M`` and ``N..M+S``.
umlpy adds predicates on arguments, matched before counting:

* ``path=GLOB`` — the call's path argument (fnmatch; open, openat, stat
  family, access, execve, unlink, mkdir, …);
* ``fd=N`` — the first argument as a file descriptor.

``error=`` and ``retval=`` skip the call (the host never runs it);
``signal=`` alone lets the call run and delivers the signal to the caller.
The injected calls are trapped by the filter, so the rest still run natively.

Rules are tried in order and the first that matches (and whose ``when``
counts it) decides.  Policy profiles (:mod:`umlpy.profile`) add three
actions on the same matching: ``deny`` (a :class:`Deny` naming the rule, so
the call is reported as refused), ``log`` (the call runs and is recorded in
:attr:`Injector.logged`) and ``allow`` (the call is decided as usual).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal as _signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.outcome import Deny, Emulate, Outcome
from umlpy.vkernel.table import x86_64_name

NR_TGKILL = x86_64.SYSCALL_NUMBERS["tgkill"]

# Which argument holds the path, for the path= predicate.
PATH_ARG = {
    "open": 0, "creat": 0, "openat": 1, "openat2": 1, "stat": 0, "lstat": 0, "newfstatat": 1, "statx": 1,
    "access": 0, "faccessat": 1, "faccessat2": 1, "execve": 0, "execveat": 1, "unlink": 0, "unlinkat": 1,
    "mkdir": 0, "mkdirat": 1, "rmdir": 0, "readlink": 0, "readlinkat": 1, "chdir": 0, "truncate": 0,
    "chmod": 0, "fchmodat": 1, "chown": 0, "lchown": 0, "fchownat": 1, "rename": 0, "renameat": 1,
    "renameat2": 1, "link": 0, "linkat": 1, "symlink": 1, "symlinkat": 2, "utimensat": 1, "statfs": 0,
}


@dataclass(frozen=True, slots=True)
class When:
    first: int = 1
    last: int | None = None  # None: open-ended (with a step) or exactly ``first`` (without)
    step: int = 0

    def __call__(self, n: int) -> bool:
        if n < self.first or (self.last is not None and n > self.last):
            return False
        if self.step == 0:
            return n == self.first if self.last is None else True
        return (n - self.first) % self.step == 0


@dataclass(frozen=True, slots=True)
class InjectRule:
    names: frozenset[str]
    retval: int | None = None  # the value the guest sees (error=E becomes -E)
    signal: int = 0
    when: When = When(1, None, 1)
    path: str | None = None
    fd: int | None = None
    action: str = "inject"  # inject | deny | log | allow (profiles)
    label: str = ""  # the rule as written, for reports


MAX_LOGGED = 1000


@dataclass(frozen=True, slots=True)
class Logged:
    """A call a ``log`` rule matched."""

    tid: int
    syscall: str
    path: str | None
    rule: str


@dataclass(slots=True)
class Injector:
    rules: tuple[InjectRule, ...]
    counts: dict[int, int] = field(default_factory=dict)
    injected: int = 0
    logged: list[Logged] = field(default_factory=list)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(r.names for r in self.rules))

    def check(self, ctx: SyscallContext, tgid: int) -> Outcome | None:
        """The injected outcome for this call, or None to let it be decided normally."""
        name = x86_64_name(ctx.nr)
        for i, rule in enumerate(self.rules):
            if name not in rule.names:
                continue
            matched, path = self._matches(rule, name, ctx)
            if not matched:
                continue
            self.counts[i] = n = self.counts.get(i, 0) + 1
            if not rule.when(n):
                continue
            if rule.action == "allow":
                return None
            if rule.action == "log":
                if len(self.logged) < MAX_LOGGED:
                    self.logged.append(Logged(ctx.tid, name, path, rule.label))
                return None
            if rule.action == "deny":
                return Deny(-(rule.retval or -1), f"profile rule '{rule.label}'")
            self.injected += 1
            if rule.signal:
                try:  # to the calling thread, as strace's signal= does
                    _ffi.raw_syscall(NR_TGKILL, tgid, ctx.tid, rule.signal)
                except OSError:
                    pass
            return Emulate(rule.retval) if rule.retval is not None else None
        return None

    @staticmethod
    def _matches(rule: InjectRule, name: str, ctx: SyscallContext) -> tuple[bool, str | None]:
        """Does ``rule`` cover this call, and the path argument it read (if any)."""
        return predicates_match(rule, name, ctx.args, ctx.read_cstring)


def predicates_match(rule: InjectRule, name: str, args: Sequence[int],
                     read_cstring: Callable[[int], bytes]) -> tuple[bool, str | None]:
    """The argument predicates (``path=``, ``fd=``) of ``rule`` on one call; and the path read.

    Shared with ``umlpy debug --break`` (:mod:`umlpy.debug`).
    """
    if rule.fd is not None and (args[0] & 0xFFFFFFFF) != (rule.fd & 0xFFFFFFFF):
        return False, None
    if rule.path is not None:
        i = PATH_ARG.get(name)
        if i is None:
            return False, None
        try:
            path = os.fsdecode(read_cstring(args[i]))
        except OSError:
            return False, None
        return fnmatch.fnmatchcase(path, rule.path), path
    return True, None


def parse_rule(text: str) -> InjectRule:
    """Parse ``SET:error=E|retval=N[:signal=S][:when=EXPR][:path=GLOB][:fd=N]``; ValueError says what is wrong."""
    head, *parts = text.split(":")
    names = frozenset(n.strip() for n in head.split(",") if n.strip())
    if not names:
        raise ValueError(f"--inject {text!r}: no syscall named")
    unknown = sorted(n for n in names if n not in x86_64.SYSCALL_NUMBERS)
    if unknown:
        raise ValueError(f"--inject {text!r}: unknown syscall {unknown[0]!r}")
    retval: int | None = None
    sig = 0
    when = When(1, None, 1)
    path: str | None = None
    fd: int | None = None
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"--inject {text!r}: expected KEY=VALUE, got {part!r}")
        if key == "error":
            e = getattr(errno, value, None) if not value.isdigit() else int(value)
            if not isinstance(e, int) or not 0 < e < 4096:
                raise ValueError(f"--inject {text!r}: unknown errno {value!r}")
            retval = -e
        elif key == "retval":
            retval = _int(text, value)
        elif key == "signal":
            s = getattr(_signal, value if value.startswith("SIG") else "SIG" + value, None)
            sig = int(s) if s is not None else _int(text, value)
            if not 0 < sig < 65:
                raise ValueError(f"--inject {text!r}: bad signal {value!r}")
        elif key == "when":
            when = _when(text, value)
        elif key == "path":
            path = value
        elif key == "fd":
            fd = _int(text, value)
        else:
            raise ValueError(f"--inject {text!r}: unknown key {key!r} (error, retval, signal, when, path, fd)")
    if retval is None and not sig:
        raise ValueError(f"--inject {text!r}: needs error=, retval= or signal=")
    return InjectRule(names, retval, sig, when, path, fd)


def _int(text: str, value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise ValueError(f"--inject {text!r}: not a number: {value!r}") from None


def parse_when(text: str, value: str) -> When:
    """``N``, ``N+``, ``N+S``, ``N..M``, ``N..M+S``; ValueError names ``text``."""
    return _when(text, value)


def _when(text: str, value: str) -> When:
    first_s, plus, step_s = value.partition("+")
    lo, dots, hi = first_s.partition("..")
    first = _int(text, lo)
    last = _int(text, hi) if dots else None
    step = (_int(text, step_s) if step_s else 1) if plus else 0
    if first < 1 or (last is not None and last < first) or step < 0:
        raise ValueError(f"--inject {text!r}: bad when={value!r}")
    return When(first, last, step)
