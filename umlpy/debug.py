"""``umlpy debug [--break SPEC]... -- CMD``: stop the guest at chosen syscalls and inspect it.

A breakpoint SPEC uses the fault-injection language (:mod:`umlpy.vkernel.inject`)
without an action::

    NAMES[:path=GLOB][:fd=N][:when=EXPR][:pid=P]

NAMES is a syscall set as for ``trace -e trace=`` (``openat``,
``openat,stat``, ``%file``); ``when`` counts the calls that match the rest
(``when=3``: only the third; ``when=2+``: from the second on); ``pid``
matches a process id or a thread id.  Without ``--break`` the guest stops
once, at the command's own execve.

Built on the hooks API (:mod:`umlpy.vkernel.hooks`): each breakpoint is an
entry hook, so what the prompt changes goes through umlpy's own decision
like any hook's request.  At the prompt (see :data:`HELP`) the stopped task
waits in its syscall stop; the tracer keeps serving the other guest tasks
while it waits for a line (:meth:`HookCall.service_others`), so they run
on.  A breakpoint another task hits meanwhile opens its own prompt; the
earlier one continues after it.

Commands are read from ``--input FILE``, else from the terminal
(``/dev/tty``), else from stdin (so a pipe can drive it; the guest then
should not read stdin too).  The prompt and its answers go to the terminal,
else to stderr.  End of input detaches (as ``detach``).

``detach`` keeps the guest under umlpy: the seccomp filter sends its
trapped calls to the tracer, and without one they would fail with ENOSYS,
so "detach" means "no more breakpoints, run to the end".  ``quit`` kills
the guest tree (exit status 137, as for SIGKILL).  On a process attached
to (``umlpy trace -p PID --break SPEC``) every call stops, and ``detach``,
``quit`` (as in gdb) and the end of input really detach: the process runs
on, untraced.

``break SPEC`` at the prompt adds a breakpoint, numbered like gdb's (numbers
are never reused; ``delete N`` removes one).  The seccomp filter is
installed before the guest starts and cannot grow, so a breakpoint can only
stop at calls the run traps: those named by ``--break``, those umlpy traps
for itself, or every call with ``--trap-all`` (a stop per call) or under
``umlpy trace`` without ``-e trace=``.
"""

from __future__ import annotations

import argparse
import ast
import errno
import os
import select
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from umlpy import sandbox
from umlpy.vkernel import classes
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.hooks import Hook, HookCall, HookError
from umlpy.vkernel.inject import InjectRule, When, parse_when, predicates_match

ALL_NAMES = frozenset(x86_64.SYSCALL_NAMES.values())
POLL_S = 0.05  # while at a prompt, other tasks' stops are served this often
MAX_DUMP = 4096

HELP = """\
p, print            the call's decoded arguments
regs                the task's registers
bt                  backtrace (frame pointers, ELF symbols; as trace -k)
x ADDR|argN [LEN]   hex dump of guest memory (LEN default 64, at most 4096)
set argN=VALUE      change argument N (0-5): a number, or "a string" (copied
                    to umlpy's read-only scratch memory); the call is then
                    decided again by umlpy, as if the guest had passed it
return VALUE|-ERRNO at entry: do not run the call, return this (e.g. -ENOENT);
                    at exit: replace the result
finish              run the call and stop at its exit, showing the result
b, break SPEC       add a breakpoint (the --break syntax), at calls this run traps
info break, breaks  list the breakpoints
d, delete [N...]    delete breakpoints N... (all without N)
c, continue         let the task go on
detach              no more breakpoints; the guest runs to its end (still
                    under umlpy); an attached process (trace -p) is detached
q, quit             kill the guest (an attached process: detach, as gdb)
help                this text"""


@dataclass(slots=True)
class Breakpoint:
    spec: str
    names: frozenset[str]
    rule: InjectRule  # its path=/fd= predicates, and when=
    pid: int | None = None
    hits: int = 0  # calls that matched names and predicates
    number: int = 0  # as listed by "info break"; set by the Debugger

    def matches(self, call: HookCall) -> bool:
        if call.name not in self.names:
            return False
        if self.pid is not None and self.pid not in (call.pid, call.tid):
            return False
        ok, _ = predicates_match(self.rule, call.name, call.raw_args, call.read_string)
        if not ok:
            return False
        self.hits += 1
        return self.rule.when(self.hits)


def parse_break(text: str) -> Breakpoint:
    """``NAMES[:path=GLOB][:fd=N][:when=EXPR][:pid=P]``; ValueError with a one-line reason."""
    head, *parts = text.split(":")
    if not head.strip():
        raise ValueError(f"--break {text!r}: no syscall named")
    try:
        names = classes.parse_set(head, ALL_NAMES)
    except ValueError as e:
        raise ValueError(f"--break {text!r}: {e}") from None
    when = When(1, None, 1)
    path: str | None = None
    fd: int | None = None
    pid: int | None = None
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"--break {text!r}: expected KEY=VALUE, got {part!r}")
        try:
            if key == "when":
                when = parse_when(text, value)
            elif key == "path":
                path = value
            elif key in ("fd", "pid"):
                n = int(value, 0)
                if key == "fd":
                    fd = n
                else:
                    pid = n
            else:
                raise ValueError(f"unknown key {key!r} (path, fd, when, pid)")
        except ValueError as e:
            msg = str(e).replace("--inject", "--break", 1)
            if not msg.startswith("--break"):
                msg = f"--break {text!r}: {msg if 'unknown key' in msg else f'not a number: {value!r}'}"
            raise ValueError(msg) from None
    return Breakpoint(text, names, InjectRule(names, None, 0, when, path, fd), pid)


class LineInput:
    """Lines from a file descriptor, waited for without blocking the tracer."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def readline(self, call: HookCall) -> str | None:
        """The next line, serving other tasks while none is there; None at end of input."""
        while b"\n" not in self.buf and not self.eof:
            ready, _, _ = select.select([self.fd], [], [], POLL_S)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if chunk:
                    self.buf += chunk
                else:
                    self.eof = True
            call.service_others()
        if not self.buf:
            return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")


@dataclass(slots=True)
class Debugger:
    breakpoints: list[Breakpoint]
    inp: LineInput
    out: IO[str]
    echo: bool = False  # input is not a terminal: show each command after the prompt
    active: bool = True
    quit: bool = False
    held: list[int] = field(default_factory=list)  # tids at a prompt, innermost last
    # Calls the run traps anyway (see the module docstring): a breakpoint
    # added at the prompt can stop only there and at the --break names.
    trapped: frozenset[str] = frozenset()
    last_number: int = 0

    def __post_init__(self) -> None:
        for b in self.breakpoints:
            self.last_number += 1
            b.number = self.last_number

    def hooks(self) -> list[Hook]:
        # Hooking calls that trap anyway costs no extra stop; it lets the
        # prompt's "break" reach them.
        self.trapped = self.trapped.union(*(b.names for b in self.breakpoints))
        return [Hook(self.trapped, on_enter=self._enter)]

    # -- hooks ---------------------------------------------------------------
    def _enter(self, call: HookCall) -> None:
        if not self.active:
            return
        b = next((b for b in self.breakpoints if b.matches(call)), None)
        if b is None:
            return
        self._say(f"pid {call.tid} stopped at {call.decoded.text()}  [breakpoint {b.number}: {b.spec}, hit {b.hits}]")
        if call.refused:
            self._say("(umlpy refuses this call: it will fail whatever is set here)")
        self._prompt(call)

    def _exit(self, call: HookCall) -> None:
        self._say(f"pid {call.tid} {call.decoded.text()} = {call.result_text()}")
        self._prompt(call)

    # -- the prompt ------------------------------------------------------------
    def _prompt(self, call: HookCall) -> None:
        self.held.append(call.tid)
        try:
            while True:
                self.out.write("(umlpy) ")
                self.out.flush()
                line = self.inp.readline(call)
                if line is None:
                    self.out.write("\n")
                    self._detach(call, eof=True)
                    return
                if self.echo:
                    self.out.write(line + "\n")
                if self._command(call, line.strip()):
                    return
        finally:
            self.held.pop()

    def _command(self, call: HookCall, line: str) -> bool:
        """Run one command; True when the task should go on."""
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            match word:
                case "":
                    return False
                case "p" | "print":
                    self._print(call)
                case "regs":
                    self._regs(call)
                case "bt" | "backtrace":
                    self._bt(call)
                case "x":
                    self._dump(call, rest)
                case "set":
                    self._set(call, rest)
                case "return":
                    self._return(call, rest)
                case "finish":
                    if call.phase == "exit":
                        self._say("already at the exit of this call")
                        return False
                    call.at_exit(self._exit)
                    return True
                case "b" | "break":
                    self._break(rest)
                case "info":
                    if rest not in ("b", "break", "breaks", "breakpoints"):
                        raise ValueError("usage: info break")
                    self._list()
                case "breaks":
                    self._list()
                case "d" | "delete":
                    self._delete(rest)
                case "c" | "continue":
                    return True
                case "detach":
                    self._detach(call)
                    return True
                case "q" | "quit" if call.attached:
                    self._detach(call)  # as gdb: what was attached to is left running
                    return True
                case "q" | "quit" | "kill":
                    self.quit = True
                    self.active = False
                    call.kill_guest()
                    return True
                case "help" | "h" | "?":
                    self.out.write(HELP + "\n")
                case _:
                    self._say(f"unknown command {word!r} (try 'help')")
        except (ValueError, OSError, HookError) as e:
            self._say(f"{word}: {e.strerror if isinstance(e, OSError) and e.strerror else e}")
        return False

    def _detach(self, call: HookCall, *, eof: bool = False) -> None:
        self.active = False
        head = "end of input: detached" if eof else "detached"
        if call.attached:
            call.detach()
            self._say(f"{head}; the process runs on, untraced")
        else:
            self._say(f"{head} (no more breakpoints)" if eof else
                      f"{head}: no more breakpoints; the guest runs to its end under umlpy")

    def _print(self, call: HookCall) -> None:
        from umlpy.vkernel.decode import nargs

        self.out.write(call.decoded.text() + (f" = {call.result_text()}" if call.phase == "exit" else "") + "\n")
        args = call.args
        for i in range(min(nargs(call.name), 6)):
            shown = args[i] if i < len(args) and args[i] is not None else "-"
            self.out.write(f"  arg{i} = {shown}  ({call.raw_args[i]:#x})\n")

    def _regs(self, call: HookCall) -> None:
        r = call.regs()
        names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
                 "r13", "r14", "r15", "rip", "eflags", "orig_rax", "fs_base", "gs_base")
        for i in range(0, len(names), 3):
            self.out.write("  ".join(f"{n:>8} {getattr(r, n):#018x}" for n in names[i:i + 3]) + "\n")

    def _bt(self, call: HookCall) -> None:
        from umlpy.vkernel.decode import stack

        r = call.regs()
        lines = stack.backtrace(call.tid, call.read_memory, r.rip, r.rsp, r.rbp)
        self.out.write("".join(x + "\n" for x in lines) if lines else "(no frames)\n")

    def _dump(self, call: HookCall, rest: str) -> None:
        words = rest.split()
        if not 1 <= len(words) <= 2:
            raise ValueError("usage: x ADDR|argN [LEN]")
        addr = _address(call, words[0])
        n = _number(words[1]) if len(words) == 2 else 64
        if not 0 < n <= MAX_DUMP:
            raise ValueError(f"LEN must be 1..{MAX_DUMP}")
        data = call.read_memory(addr, n)
        for off in range(0, len(data), 16):
            row = data[off:off + 16]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            self.out.write(f"{addr + off:#014x}  {row.hex(' '):<47}  {text}\n")

    def _set(self, call: HookCall, rest: str) -> None:
        key, eq, value = rest.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key.startswith("arg") or not key[3:].isdigit():
            raise ValueError("usage: set argN=VALUE (N 0-5; VALUE a number or \"a string\")")
        if call.phase != "enter":
            raise ValueError("arguments can only be changed at the call's entry")
        i = int(key[3:])
        if value[:1] in ('"', "'"):
            s = ast.literal_eval(value)
            if not isinstance(s, str):
                raise ValueError(f"not a string: {value}")
            call.set_arg(i, s)
        else:
            call.set_arg(i, _number(value))
        self._say(f"arg{i} set to {value}")

    def _return(self, call: HookCall, rest: str) -> None:
        v = _retval(rest)
        if call.phase == "enter":
            call.skip(v)
            self._say(f"{call.name} will not run; it returns {_show_ret(v)}")
        else:
            call.set_return(v)
            self._say(f"{call.name} now returns {_show_ret(v)}")

    def _break(self, spec: str) -> None:
        if not spec:
            raise ValueError("usage: break SPEC (as --break: NAMES[:path=GLOB][:fd=N][:when=...][:pid=P])")
        try:
            b = parse_break(spec)
        except ValueError as e:
            raise ValueError(str(e).removeprefix("--break ")) from None
        missed = b.names - self.trapped
        if missed == b.names:
            raise ValueError(f"{_names(missed)}: not trapped in this run, so it cannot stop there "
                             "(name it with --break at start, or use --trap-all)")
        self.last_number += 1
        b.number = self.last_number
        self.breakpoints.append(b)
        note = f" (not trapped in this run, never stops: {_names(missed)})" if missed else ""
        self._say(f"breakpoint {b.number}: {spec}{note}")

    def _list(self) -> None:
        if not self.breakpoints:
            self._say("no breakpoints")
            return
        self.out.write("Num  Hits  Spec\n")
        for b in self.breakpoints:
            self.out.write(f"{b.number:<4} {b.hits:<5} {b.spec}\n")

    def _delete(self, rest: str) -> None:
        if not rest:
            self.breakpoints.clear()
            self._say("deleted all breakpoints")
            return
        numbers = [_number(w) for w in rest.split()]
        known = {b.number for b in self.breakpoints}
        unknown = [n for n in numbers if n not in known]
        if unknown:
            raise ValueError(f"no breakpoint {unknown[0]}")
        self.breakpoints[:] = [b for b in self.breakpoints if b.number not in numbers]
        self._say(f"deleted breakpoint{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}")

    def _say(self, text: str) -> None:
        self.out.write(f"umlpy: {text}\n")
        self.out.flush()


def _names(names: frozenset[str]) -> str:
    shown = sorted(names)
    return ",".join(shown[:5]) + (f",… ({len(shown)} calls)" if len(shown) > 5 else "")


def _number(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None


def _address(call: HookCall, text: str) -> int:
    if text.startswith("arg") and text[3:].isdigit() and int(text[3:]) < 6:
        return call.raw_args[int(text[3:])]
    return _number(text)


def _retval(text: str) -> int:
    """``0``, ``-1``, ``-ENOENT`` or ``ENOENT`` (the errno as -E)."""
    name = text.strip().lstrip("-")
    if name[:1].isalpha():
        e = getattr(errno, name, None)
        if not isinstance(e, int):
            raise ValueError(f"unknown errno {name!r}")
        return -e
    if not text.strip():
        raise ValueError("usage: return VALUE|-ERRNO")
    return _number(text.strip())


def _show_ret(v: int) -> str:
    if -4096 < v < 0 and -v in errno.errorcode:
        return f"-1 {errno.errorcode[-v]} ({os.strerror(-v)})"
    return str(v)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = "Run CMD and stop it at chosen syscalls, with an interactive prompt (see 'help' there)."
    p.add_argument("--break", dest="breaks", action="append", default=[], metavar="SPEC",
                   help="NAMES[:path=GLOB][:fd=N][:when=N|N+|N..M][:pid=P]; repeatable "
                        "(default: the command's execve)")
    p.add_argument("--input", metavar="FILE", help="read prompt commands from FILE ('-': stdin)")
    p.add_argument("--trap-all", action="store_true",
                   help="trap every syscall, so that 'break' at the prompt can name any (a stop per call)")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")


def parse_breaks(specs: list[str], command: str) -> list[Breakpoint]:
    try:
        return [parse_break(s) for s in specs]
    except ValueError as e:
        raise sandbox.UmlpyError(f"umlpy: {command}: {e}", 2) from None


def trapped_by(*, trace_all: bool, extra: Iterable[str] = (), task_limit: bool = True) -> frozenset[str]:
    """Calls a run traps whatever hooks ask for (a subset where a rule depends on arguments).

    ``task_limit``: the config has ``max_tasks`` (the default), which traps task creation.
    """
    if trace_all:
        return ALL_NAMES
    from umlpy.tracer import bpf
    from umlpy.vkernel import filter as seccomp_filter

    # Unconditional stops only: naming a call whose rule depends on its
    # arguments (ioctl, fcntl) would make every such call stop.
    rules = seccomp_filter.rules(task_limit=task_limit)
    return frozenset(x86_64.SYSCALL_NAMES[nr] for nr, r in rules.items() if r == bpf.TRACE).union(extra)


def open_debugger(breaks: list[Breakpoint], input_path: str | None, trapped: frozenset[str]) -> Debugger:
    """The prompt's input and output: ``--input``, else the terminal, else stdin/stderr.

    ``trapped``: the calls the run traps anyway, where ``break`` at the prompt can stop.
    """
    dbg = _open_debugger(breaks, input_path)
    dbg.trapped = trapped
    return dbg


def _open_debugger(breaks: list[Breakpoint], input_path: str | None) -> Debugger:
    out: IO[str] = sys.stderr
    if input_path is not None and input_path != "-":
        try:
            fd = os.open(input_path, os.O_RDONLY)
        except OSError as e:
            raise sandbox.UmlpyError(f"umlpy: debug: cannot open {input_path}: {e.strerror}", 2) from None
        return Debugger(breaks, LineInput(fd), out, echo=True)
    if input_path is None:
        try:
            tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            tty = -1
        if tty >= 0:
            return Debugger(breaks, LineInput(tty), open(tty, "w", closefd=False))
    return Debugger(breaks, LineInput(sys.stdin.fileno()), out, echo=not os.isatty(sys.stdin.fileno()))


def main(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise sandbox.UmlpyError("umlpy: debug: no command given (usage: umlpy debug [--break SPEC]... -- CMD)", 2)
    breaks = parse_breaks(args.breaks or ["execve:when=1"], "debug")
    # A debugger of the user's own program, like trace: observation, not
    # confinement (no Landlock scoping, the host's network).
    cfg = sandbox.SandboxConfig(landlock=False, net="host", trace_all=args.trap_all)
    dbg = open_debugger(breaks, args.input, trapped_by(trace_all=args.trap_all, task_limit=cfg.max_tasks is not None))
    result = sandbox.Sandbox(cfg).run(argv, hooks=dbg.hooks())
    if dbg.quit:
        sys.stderr.write("umlpy: debug: guest killed\n")
        return 128 + 9
    if result.signal is not None:
        sys.stdout.flush()
        sandbox.reraise_signal(result.signal)
        return 128 + result.signal
    return result.exit_code if result.exit_code is not None else 125
