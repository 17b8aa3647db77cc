"""``umlpy trace [options] -- CMD``: strace-style tracing, as a Sandbox client.

An :class:`umlpy.vkernel.dispatch.Observer` sees each trapped call twice:
at its seccomp stop (arguments decoded then, before an exec or another
thread can change them) and at its syscall-exit stop (out-arguments and the
return value).  Output follows strace's format: lines are written at exit;
if another task produces output between a call's entry and exit, the call
is shown as ``name(args <unfinished ...>`` then ``<... name resumed>...``.
With ``-e trace=SET`` the seccomp filter traps only SET (``trap_extra``), so
untraced calls cost nothing; calls the sandbox itself traps are hidden.

Timing: ``-T`` and ``-c -w`` show the wall time between the two stops
(latency, tracer overhead included).  Plain ``-c`` shows system time, as
strace does: the CPU time the guest's process used between the two stops,
read from its CPU-time clock (clock_getcpuclockid(3)) — in-kernel time of
the call, ns-exact, where strace's rusage stime has tick resolution.  Like
strace's, it counts every thread of the process, so in a busy
multi-threaded process other threads' time leaks in.

With ``-o FILE`` the lines are formatted in a second process while the
guest runs on (:mod:`umlpy.tracefmt`); the tracer only copies what each
line needs at the stop.

Filters: ``-e trace=`` picks names (and the seccomp filter), ``-P PATH``
calls that name PATH (:mod:`umlpy.vkernel.decode.pathtrace`), ``-e status=``
outcomes, ``-e signal=`` which ``--- SIG`` / ``+++ killed by SIG`` lines
appear.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal as _signal
import sys
import time
from dataclasses import dataclass, field
from typing import IO

from umlpy import sandbox, tracefmt
from umlpy.timeline import Tee, Timeline
from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel import classes
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.decode import Decoded, Env, Options, decode_enter, decode_exit, format_return, pathtrace, stack
from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.siginfo import format_siginfo
from umlpy.vkernel.dispatch import Observer
from umlpy.vkernel.hooks import Hook
from umlpy.vkernel.inject import InjectRule
from umlpy.vkernel.inject import parse_rule as parse_inject
from umlpy.vkernel.table import i386_name, x86_64_name

log = logging.getLogger(__name__)

ALL_NAMES = frozenset(x86_64.SYSCALL_NAMES.values())
_COLUMN = 39
_STATUSES = frozenset({"successful", "failed", "unfinished", "unavailable", "detached"})


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = "Trace CMD's system calls and signals (strace-compatible output)."
    a = p.add_argument
    a("-o", dest="output", metavar="FILE", help="write the trace to FILE (default: stderr)")
    a("-p", dest="attach_pid", type=int, metavar="PID",
      help="attach to a running process and its descendants; Ctrl-C detaches and leaves them running")
    a("-q", dest="quiet", action="count", default=0, help="-qq: no '+++ exited' lines")
    a("-f", dest="follow", action="count", default=0,
      help="follow forks (always on); -ff with -o FILE: one file per task, FILE.TID")
    a("-e", dest="exprs", action="append", default=[], metavar="EXPR",
      help="trace=SET (names, %%class, /regex, !negation), status=SET (successful, failed, …), "
           "signal=SET (names, numbers, all, none, !negation)")
    a("--trace", dest="trace_opt", metavar="SET", help="same as -e trace=SET")
    a("-z", dest="only_ok", action="store_true", help="only successful calls (-e status=successful)")
    a("-Z", dest="only_failed", action="store_true", help="only failed calls (-e status=failed)")
    a("-c", dest="summary", action="store_true", help="count calls, errors and time; print a summary")
    a("-C", dest="summary_too", action="store_true", help="like -c, and print the calls too")
    a("-t", dest="timestamps", action="count", default=0, help="time of day; -tt with µs; -ttt epoch")
    a("-T", dest="durations", action="store_true", help="show the time spent in each call")
    a("-s", dest="strsize", type=int, default=32, metavar="N", help="string size to print (default 32)")
    a("-r", dest="relative", action="store_true", help="relative timestamp: time since the previous line")
    a("-w", dest="wall", action="store_true", help="with -c/-C: summarise wall-clock latency, not system time")
    a("-P", dest="paths", action="append", default=[], metavar="PATH",
      help="only calls touching PATH (a path argument or an fd open on it); repeatable")
    a("-v", dest="verbose_structs", action="store_true",
      help="unabbreviated structures (stat, statx, uname) and environments")
    a("-y", dest="decode_fds", action="count", default=0,
      help="print paths associated with fds; -yy: socket endpoints and device numbers too")
    a("-k", dest="stack", action="store_true", help="print the guest's stack after each call and signal")
    a("-x", dest="hex", action="count", default=0, help="non-ASCII strings in hex; -xx: all strings")
    a("--json", action="store_true", help="one JSON object per call (and per signal/exit)")
    a("--perfetto", metavar="FILE", help="write a timeline (Chrome Trace Event JSON) for ui.perfetto.dev")
    a("--tree", action="store_true", help="print the process tree (exec'd programs, exit statuses, durations)")
    a("--inject", action="append", default=[], metavar="RULE",
      help="SET:error=E|retval=N[:signal=S][:when=N|N+|N+S|N..M[+S]][:path=GLOB][:fd=N] (strace's tampering)")
    a("--break", dest="breaks", action="append", default=[], metavar="SPEC",
      help="stop at calls matching SPEC with a prompt, as 'umlpy debug --break' does (repeatable; with -p too)")
    a("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")


@dataclass(frozen=True, slots=True)
class TraceOptions:
    names: frozenset[str] | None  # None: everything
    statuses: frozenset[str]
    quiet: int = 0
    summary: bool = False
    lines: bool = True
    timestamps: int = 0
    durations: bool = False
    json: bool = False
    pid_prefix: bool = False  # strace's "-f -o FILE": every line starts "PID  "
    per_task: str | None = None  # strace's "-ff -o FILE": lines of task TID go to FILE.TID
    relative: bool = False  # -r
    wall: bool = True  # -c times: wall-clock latency (-w) or system time
    signals: frozenset[int] | None = None  # -e signal=: None means all
    paths: frozenset[bytes] | None = None  # -P: None means no path filter
    stack: bool = False  # -k
    decode: Options = field(default_factory=Options)


def parse_options(args: argparse.Namespace) -> TraceOptions:
    names: frozenset[str] | None = None
    statuses = set(_STATUSES)
    signals: frozenset[int] | None = None
    exprs = list(args.exprs) + ([f"trace={args.trace_opt}"] if args.trace_opt else [])
    for expr in exprs:
        key, _, value = expr.partition("=") if "=" in expr else ("trace", "", expr)
        try:
            if key in ("trace", "t"):
                sel = classes.parse_set(value, ALL_NAMES)
                names = sel if names is None else names | sel
            elif key in ("signal", "signals", "s"):
                signals = parse_signals(value)
            elif key == "status":
                neg = value.startswith("!")
                want = {s for s in value.lstrip("!").split(",") if s}
                if not want <= _STATUSES | {"all", "none"}:
                    raise ValueError(f"invalid status '{','.join(sorted(want - _STATUSES))}'")
                want = set(_STATUSES) if "all" in want else want - {"none"}
                statuses = set(_STATUSES) - want if neg else want
            else:
                raise ValueError(f"unsupported qualifier '{key}'")
        except ValueError as e:
            raise sandbox.UmlpyError(f"umlpy: trace: {e}", 2) from None
    if args.only_ok:
        statuses = {"successful"}
    if args.only_failed:
        statuses = {"failed"}
    if args.strsize < 0:
        raise sandbox.UmlpyError("umlpy: trace: -s must not be negative", 2)
    summary = args.summary or args.summary_too
    if args.wall and not summary:
        raise sandbox.UmlpyError("umlpy: trace: -w must be given with -c or -C", 2)
    return TraceOptions(
        names=names,
        statuses=frozenset(statuses),
        quiet=args.quiet,
        summary=summary,
        lines=not args.summary or args.summary_too,
        timestamps=args.timestamps,
        durations=args.durations,
        json=args.json,
        pid_prefix=args.output is not None and args.follow < 2,
        per_task=args.output if args.follow >= 2 and args.output else None,
        relative=args.relative,
        wall=args.wall,
        signals=signals,
        paths=_path_set(args.paths),
        stack=args.stack,
        decode=Options(strsize=args.strsize, decode_fds=min(args.decode_fds, 2), hex_strings=min(args.hex, 2),
                       verbose=args.verbose_structs),
    )


def parse_signals(value: str) -> frozenset[int]:
    """strace's ``-e signal=SET``: names with or without SIG, numbers, ``all``, ``none``, ``!`` negation."""
    neg = value.startswith("!")
    every = frozenset(range(1, 65))
    chosen: set[int] = set()
    for item in value.lstrip("!").split(","):
        if item == "all":
            chosen |= every
        elif item == "none":
            continue
        elif item.isdigit():
            chosen.add(int(item))
        else:
            name = item.upper() if item.upper().startswith("SIG") else "SIG" + item.upper()
            num = _SIGNUMS.get(name)
            if num is None:
                raise ValueError(f"invalid signal '{item}'")
            chosen.add(num)
    return every - chosen if neg else frozenset(chosen)


_SIGNUMS = {F.signame(n): n for n in range(1, 65)} | {s.name: int(s) for s in _signal.Signals}


def _path_set(paths: list[str]) -> frozenset[bytes] | None:
    """strace's -P: each path, and where it resolves to if that differs (told on stderr, as strace does)."""
    if not paths:
        return None
    out: set[bytes] = set()
    for p in paths:
        out.add(os.fsencode(p))
        try:
            real = os.path.realpath(p, strict=True)
        except OSError:
            continue
        if real != p:
            sys.stderr.write(f'umlpy: trace: requested path "{p}" resolved into "{real}"\n')
            out.add(os.fsencode(real))
    return frozenset(out)


class _Call:
    __slots__ = ("cpu0", "decoded", "name", "shown_head", "stack", "t0", "wall0")

    def __init__(self, name: str, decoded: Decoded | None, t0: int, wall0: float) -> None:
        self.name = name
        self.decoded = decoded
        self.t0 = t0
        self.wall0 = wall0
        self.cpu0 = 0  # the process's CPU time at entry (-c without -w)
        self.stack: list[str] | None = None  # -k, captured at entry: an execve replaces the maps
        self.shown_head = False  # printed as "<unfinished ...>"


class Stats:
    """Per-syscall counters for ``-c``."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.ns: dict[str, int] = {}

    def add(self, name: str, ns: int, failed: bool) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.ns[name] = self.ns.get(name, 0) + ns
        if failed:
            self.errors[name] = self.errors.get(name, 0) + 1

    def report(self) -> str:
        total_ns = sum(self.ns.values())
        rows = sorted(self.calls, key=lambda n: (-self.ns[n], -self.calls[n], n))
        sep = "------ ----------- ----------- --------- --------- ----------------"
        out = ["% time     seconds  usecs/call     calls    errors syscall", sep]

        def row(pct: float, ns: int, calls: int, errs: int, name: str) -> str:
            per = ns // 1000 // calls if calls else 0
            return f"{pct:6.2f} {ns / 1e9:11.6f} {per:11d} {calls:9d} {errs or '':>9} {name}"

        for n in rows:
            pct = 100.0 * self.ns[n] / total_ns if total_ns else 0.0
            out.append(row(pct, self.ns[n], self.calls[n], self.errors.get(n, 0), n))
        out.append(sep)
        out.append(row(100.0, total_ns, sum(self.calls.values()), sum(self.errors.values()), "total"))
        return "\n".join(out) + "\n"


class TraceObserver:
    """Implements :class:`umlpy.vkernel.dispatch.Observer`; writes strace-format lines to ``out``."""

    def __init__(self, opts: TraceOptions, out: IO[str], main_pid: int | None = None) -> None:
        self.o = opts
        self.out = out
        self._files: dict[int, IO[str]] = {}
        self.pending: dict[int, _Call] = {}
        self.open: int | None = None  # tid whose entry is the logically open line
        self.live: set[int] = set()
        self.tgid: dict[int, int] = {}
        self.stats = Stats()
        self._show = opts.lines and not opts.json
        self._filter_status = opts.statuses != _STATUSES
        self._cpu_time = opts.summary and not opts.wall
        self._prev_line: int | None = None  # monotonic ns of the previous line's leader (-r)
        # The time of the event being handled, when it is handled later than it
        # happened (umlpy.tracefmt replays the tracer's records): (wall s, monotonic ns).
        self.clock: tuple[float, int] | None = None
        if main_pid is not None:
            self.started(main_pid)

    def started(self, pid: int) -> None:
        self.live.add(pid)
        self.tgid[pid] = pid

    def _wall(self) -> float:
        return time.time() if self.clock is None else self.clock[0]

    def _mono(self) -> int:
        return time.monotonic_ns() if self.clock is None else self.clock[1]

    # -- Observer ------------------------------------------------------------
    def syscall_enter(self, ctx: SyscallContext) -> bool:
        name = _name(ctx)
        if self.o.names is not None and name not in self.o.names:
            return False  # trapped for the sandbox's sake, not asked for: no exit stop
        env = Env(ctx, ctx.tid, tuple(ctx.args), self.o.decode, ctx.sp if name == "rt_sigreturn" else 0)
        if self.o.paths is not None and not pathtrace.touches(name, env, self.o.paths):
            return False
        if ctx.tid not in self.live:
            self.started(ctx.tid)
        decoded = decode_enter(name, env) if self.o.lines else None
        if self._show and not self._filter_status:
            self._interrupt()
            self.open = ctx.tid
        call = self.pending[ctx.tid] = _Call(name, decoded, self._mono(), self._wall())
        if self._cpu_time:
            call.cpu0 = _cpu_ns(self.tgid.get(ctx.tid, ctx.tid))
        if self.o.stack and self._show:
            regs = ctx.regs()
            call.stack = stack.backtrace(ctx.tid, ctx.read, regs.rip, regs.rsp, regs.rbp)
        return True

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None:
        call = self.pending.pop(ctx.tid, None)
        if call is not None:
            self._finish(ctx.tid, call, retval)

    def task_created(self, parent: int, child: int, flags: int) -> None:
        self.live.add(child)
        self.tgid[child] = self.tgid.get(parent, parent) if flags & F.CLONE.CLONE_THREAD else child

    def task_exec(self, tid: int, former_tid: int) -> None:
        if former_tid != tid:
            call = self.pending.pop(former_tid, None)
            self.pending.pop(tid, None)
            if call is not None:
                self.pending[tid] = call
            if self.open == former_tid:
                self.open = tid
            self.live.discard(former_tid)
            self.tgid[tid] = tid

    def task_gone(self, tid: int, status: Exited | Killed) -> None:
        call = self.pending.pop(tid, None)
        if call is not None:
            self._finish(tid, call, None)
        if isinstance(status, Killed):
            core = " (core dumped)" if status.core else ""
            text = f"+++ killed by {F.signame(status.sig)}{core} +++"
            event = {"event": "killed", "signal": F.signame(status.sig), "core_dumped": status.core}
        else:
            text = f"+++ exited with {status.code} +++"
            event = {"event": "exited", "code": status.code}
        # strace: -qq hides "+++ exited", never "+++ killed by"; -e signal= hides the latter
        shown = self._signal_shown(status.sig) if isinstance(status, Killed) else self.o.quiet < 2
        if shown:
            self._event(tid, text, event)
        self.live.discard(tid)

    def signal(self, tid: int, sig: int) -> None:
        self.signal_info(tid, sig, read_siginfo(tid))

    def signal_info(self, tid: int, sig: int, raw: bytes) -> None:
        """A signal-delivery stop, its siginfo_t in ``raw`` (empty: unknown)."""
        info = format_siginfo(sig, raw, verbose=self.o.decode.verbose)
        if self.o.quiet < 3 and self._signal_shown(sig):
            self._event(tid, f"--- {F.signame(sig)} {info} ---", {"event": "signal", "signal": F.signame(sig),
                                                                    "siginfo": info})
            if self.o.stack and self._show:
                self._out(tid).write("".join(x + "\n" for x in self._stack_now(tid)))

    def _signal_shown(self, sig: int) -> bool:
        return self.o.signals is None or sig in self.o.signals

    def _stack_now(self, tid: int) -> list[str]:
        """-k at a signal stop: the task is stopped, its registers readable."""
        try:
            regs = _ffi.new_regs()
            _ffi.getregs(tid, regs)
        except OSError:
            return []
        return stack.backtrace(tid, lambda a, n: memory.read(tid, a, n), regs.rip, regs.rsp, regs.rbp)

    def group_stop(self, tid: int, sig: int) -> None:
        if self.o.quiet < 3 and self._signal_shown(sig):
            name = F.signame(sig)
            self._event(tid, f"--- stopped by {name} ---", {"event": "stopped", "signal": name})

    # -- output --------------------------------------------------------------
    def _leader(self, tid: int, wall: float, mono: int) -> str:
        if self.o.per_task is not None:
            p = ""  # the file name says whose lines these are
        elif self.o.pid_prefix:
            p = f"{tid:<5d} "
        elif len(self.live) > 1:
            p = f"[pid {tid:5d}] "
        else:
            p = ""
        ts = self.o.timestamps
        if ts:
            frac = int((wall % 1) * 1_000_000)
            if ts >= 3:
                p += f"{int(wall)}.{frac:06d} "
            else:
                p += time.strftime("%H:%M:%S", time.localtime(wall)) + (f".{frac:06d} " if ts == 2 else " ")
        if self.o.relative:
            # strace -r: since the previous line's start; a line may start before the last one printed
            # (its head was held back for -e status=), so never negative.
            prev = mono if self._prev_line is None else self._prev_line
            self._prev_line = max(prev, mono)
            us = max(0, mono - prev) // 1000
            rel = f"{us // 1_000_000:6d}.{us % 1_000_000:06d}"
            p += f"(+{rel}) " if ts else f"{rel} "
        return p

    def _out(self, tid: int) -> IO[str]:
        """The stream for ``tid``'s lines: the one output, or FILE.TID under -ff."""
        if self.o.per_task is None:
            return self.out
        f = self._files.get(tid)
        if f is None:
            f = self._files[tid] = open(f"{self.o.per_task}.{tid}", "w")  # noqa: SIM115 - closed in close()
        return f

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def _interrupt(self) -> None:
        tid = self.open
        if tid is None or self.o.per_task is not None:  # one file per task: lines never interleave
            return
        self.open = None
        call = self.pending.get(tid)
        if call is None or call.decoded is None:
            return
        call.shown_head = True
        self._out(tid).write(f"{self._leader(tid, call.wall0, call.t0)}{call.decoded.head()} <unfinished ...>\n")

    def _finish(self, tid: int, call: _Call, retval: int | None) -> None:
        t1 = self._mono()
        r = None if retval is None else ((retval + (1 << 63)) % (1 << 64)) - (1 << 63)
        failed = r is not None and -4095 <= r < 0
        if self.o.summary and r is not None:  # like strace -c: calls that never return are not counted
            spent = _cpu_ns(self.tgid.get(tid, tid)) - call.cpu0 if self._cpu_time else t1 - call.t0
            self.stats.add(call.name, max(spent, 0), failed)
        if not self.o.lines:
            if self.open == tid:
                self.open = None
            return
        if self._filter_status:
            status = "unavailable" if r is None else "failed" if failed else "successful"
            if status not in self.o.statuses:
                return
        d = call.decoded
        assert d is not None
        if r is not None:
            decode_exit(d, r)
        ret = format_return(d, r, decode_fds=self.o.decode.decode_fds)
        if self.o.json:
            self._json(tid, call, d, r, t1)
            return
        if not call.shown_head and (self.open == tid or self._filter_status or self.o.per_task is not None):
            line = self._leader(tid, call.wall0, call.t0) + d.text()
        else:
            self._interrupt()
            line = f"{self._leader(tid, self._wall(), self._mono())}<... {call.name} resumed>{d.tail()}"
        self.open = None
        dur = f" <{(t1 - call.t0) / 1e9:.6f}>" if self.o.durations and r is not None else ""
        trail = "".join(x + "\n" for x in call.stack) if call.stack else ""
        self._out(tid).write(f"{line:<{_COLUMN}} = {ret}{dur}\n{trail}")

    def _json(self, tid: int, call: _Call, d: Decoded, r: int | None, t1: int) -> None:
        err = F.errno_name(-r) if r is not None and -4095 <= r < 0 else None
        obj = {
            "pid": self.tgid.get(tid, tid), "tid": tid, "name": call.name, "args": d.args(),
            "raw_args": list(d.env.args), "return": r, "errno": err,
            "return_text": format_return(d, r, decode_fds=self.o.decode.decode_fds),
            "time": call.wall0, "duration": None if r is None else (t1 - call.t0) / 1e9,
        }
        self._out(tid).write(json.dumps(obj) + "\n")

    def _event(self, tid: int, text: str, event: dict[str, object]) -> None:
        if self.o.json:
            self._out(tid).write(json.dumps({"pid": self.tgid.get(tid, tid), "tid": tid, "time": self._wall(), **event})
                           + "\n")
        elif self.o.lines:
            self._interrupt()
            self._out(tid).write(f"{self._leader(tid, self._wall(), self._mono())}{text}\n")


def read_siginfo(tid: int) -> bytes:
    """The siginfo_t of ``tid``'s signal-delivery stop (empty if it cannot be read)."""
    try:
        return bytes(_ffi.getsiginfo(tid))
    except OSError:
        return b""


def _cpu_ns(pid: int) -> int:
    """The CPU time process ``pid`` has used: its CPU-time clock, MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        return 0


def _name(ctx: SyscallContext) -> str:
    if ctx.arch == _ffi.AUDIT_ARCH_I386:
        return i386_name(ctx.nr)
    return x86_64_name(ctx.nr)


def sandbox_config(opts: TraceOptions, inject: tuple[InjectRule, ...] = ()) -> sandbox.SandboxConfig:
    """The sandbox a trace runs in: the seccomp filter stops only for the -e trace= set.

    Observation, not confinement: no Landlock scoping (a traced X11 or D-Bus
    client must behave as it does natively), the host's network, and no task
    limit (strace has none; enforcing one stops every fork and clone).
    """
    if opts.names is None:
        return sandbox.SandboxConfig(trace_all=True, landlock=False, net="host", inject=inject, max_tasks=None)
    return sandbox.SandboxConfig(trap_extra=tuple(sorted(opts.names)), landlock=False, net="host", inject=inject,
                                 max_tasks=None)


def main(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if args.attach_pid is not None:
        if argv:
            raise sandbox.UmlpyError("umlpy: trace: -p and a command are exclusive", 2)
        return _attach(args)
    if not argv:
        raise sandbox.UmlpyError("umlpy: trace: no command given (usage: umlpy trace [OPTIONS] -- CMD [ARG...])", 2)
    opts = parse_options(args)
    try:
        inject = tuple(parse_inject(r) for r in args.inject)
    except ValueError as e:
        raise sandbox.UmlpyError(f"umlpy: trace: {e}", 2) from None
    hooks: list[Hook] = []
    if args.breaks:
        from umlpy import debug

        trapped = debug.trapped_by(trace_all=opts.names is None, extra=opts.names or (), task_limit=False)
        hooks = debug.open_debugger(debug.parse_breaks(args.breaks, "trace"), None, trapped).hooks()
    cfg = sandbox_config(opts, inject)
    try:
        out: IO[str] = open(args.output, "w", buffering=1 << 16) if args.output else sys.stderr  # noqa: SIM115
    except OSError as e:
        raise sandbox.UmlpyError(f"umlpy: trace: cannot open {args.output}: {e.strerror}", 2) from None
    obs = TraceObserver(opts, out)
    # To a file, lines are formatted in another process after the guest resumed
    # (umlpy.tracefmt); to a terminal they stay in order with the guest's own output.
    formatter = tracefmt.Handoff(obs, os.sched_getaffinity(0)) if args.output and tracefmt.usable(opts) else None
    front: Observer = obs if formatter is None else formatter
    front_started = obs.started if formatter is None else formatter.started
    timeline = Timeline() if args.perfetto or args.tree else None
    observer: Observer = front if timeline is None else Tee([front, timeline])

    def started(pid: int) -> None:
        front_started(pid)
        if timeline is not None:
            timeline.started(pid)

    try:
        result = sandbox.Sandbox(cfg).run(argv, on_start=started, observer=observer, hooks=hooks)
    finally:
        obs.close()
        if opts.summary:
            out.write(obs.stats.report())
        if timeline is not None and args.tree:
            if formatter is not None:
                formatter.text(timeline.tree())
            else:
                out.write(timeline.tree())
        if formatter is not None:
            formatter.finish()
        if timeline is not None and args.perfetto:
            try:
                with open(args.perfetto, "w") as f:
                    timeline.write_chrome_trace(f)
            except OSError as e:
                sys.stderr.write(f"umlpy: trace: cannot write {args.perfetto}: {e.strerror}\n")
        if out is not sys.stderr:
            out.close()
        else:
            out.flush()
    if result.signal is not None:
        sys.stdout.flush()
        sandbox.reraise_signal(result.signal)
        return 128 + result.signal
    return result.exit_code if result.exit_code is not None else 125


def _attach(args: argparse.Namespace) -> int:
    """``umlpy trace -p PID``: observe until the tree ends or Ctrl-C detaches."""
    opts = parse_options(args)
    pid = args.attach_pid
    try:
        out: IO[str] = open(args.output, "w", buffering=1 << 16) if args.output else sys.stderr  # noqa: SIM115
    except OSError as e:
        raise sandbox.UmlpyError(f"umlpy: trace: cannot open {args.output}: {e.strerror}", 2) from None
    obs = TraceObserver(opts, out, main_pid=pid)
    hooks: list[Hook] = []
    if args.breaks:
        from umlpy import debug

        # Attached tasks stop at every call (PTRACE_SYSCALL): any can break.
        hooks = debug.open_debugger(debug.parse_breaks(args.breaks, "trace"), None, debug.ALL_NAMES).hooks()
    try:
        sandbox.attach(pid, obs, hooks=hooks)
    except KeyboardInterrupt:
        sys.stderr.write(f"umlpy: process {pid} detached\n")
    finally:
        if opts.summary:
            out.write(obs.stats.report())
        if out is not sys.stderr:
            out.close()
        else:
            out.flush()
    return 0
