"""``umlpy trace -o FILE``: the guest resumes before its line is formatted.

Formatting a line costs more Python than the stop itself.  With output to
a file, after the first :data:`HANDOFF_AFTER` calls (a short run is not
worth a second process), :class:`Handoff` forks the formatter with the
TraceObserver's state, and from then on :class:`Recorder` does only what
must happen while the guest is stopped: copy the registers, the guest
memory the line needs (:mod:`umlpy.vkernel.decode.replay`) and the time.
It batches these records into a pipe; the formatter (on another CPU, while
tracer and guest share one) replays them, in order, into that
TraceObserver, whose output is the same bytes as if it had run in the
tracer.

Calls whose arguments do not all declare their memory reads are decoded at
the stop over a recording memory, and only the copy is sent: slower, never
different.  Options that need the live guest while formatting (``-y``
reads /proc/PID/fd, ``-k`` the stack, ``-c`` CPU clocks, ``-P`` tracks
fds) keep formatting in the tracer (:func:`usable`).
"""

from __future__ import annotations

import fcntl
import gc
import marshal
import os
import select
import signal
import struct
import sys
import time
from typing import TYPE_CHECKING

from umlpy.tracer.loop import SyscallContext
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.decode import (
    Decoded,
    Env,
    decode_enter,
    decode_exit,
    format_return,
    reads_declared,
    spec_for,
)
from umlpy.vkernel.decode.base import Reads, no_reads, s64
from umlpy.vkernel.decode.replay import Copy, Recording, Replay
from umlpy.vkernel.table import i386_name

if TYPE_CHECKING:
    from umlpy.trace import TraceObserver, TraceOptions

_LEN = struct.Struct("<I")
# Records per write: large enough to amortise the pipe write and marshal
# call, small enough that the formatter starts early and overlaps.
_BATCH = 128
_PIPE_SIZE = 1 << 20
_BACKLOG_MAX = 64 << 20

# Record tags (first element of each record tuple).
_ENTER, _EXIT, _CREATED, _EXEC, _GONE, _SIGNAL, _GSTOP, _TEXT, _STARTED = range(9)
# Calls formatted in the tracer before the formatter starts: a short run does
# not pay for a second process (fork, copy-on-write faults, its scheduling).
HANDOFF_AFTER = 5000
_NOTHING: Copy = {}  # never mutated: the copy of a call that reads no memory

_Reads = tuple[tuple[int, Reads], ...]  # (argument index, its reads)
# name, the in-arguments' reads (None: decode at the stop), the out-arguments' reads
_Plan = tuple[str, "_Reads | None", _Reads]


def _run(f: Reads, env: Env, i: int) -> None:
    try:
        f(env, i)
    except Exception:  # noqa: BLE001, S110 - as the decoders' guard: the argument will show raw
        pass
_I386 = 0x40000003


def usable(opts: TraceOptions) -> bool:
    """Whether these trace options can be formatted away from the tracer."""
    return (opts.lines and not opts.json and not opts.summary and not opts.stack and opts.paths is None
            and not opts.decode.decode_fds)


class Recorder:
    """Implements :class:`umlpy.vkernel.dispatch.Observer` in the tracer: records, never formats."""

    def __init__(self, names: frozenset[str] | None, env_opts: object, wfd: int) -> None:
        self.names = names
        self.env_opts = env_opts
        self.wfd = wfd
        self.batch: list[tuple[object, ...]] = []
        self.backlog = bytearray()  # records the pipe did not take yet
        self._calls: dict[tuple[int, int], _Plan] = {}
        # tid -> what its exit needs: the Env, and the Decoded (entry decoded here) or the out-args' reads
        self._pending: dict[int, tuple[Env, Decoded | None, _Reads]] = {}

    def _plan(self, arch: int, nr: int) -> _Plan:
        name = i386_name(nr) if arch == _I386 else x86_64.SYSCALL_NAMES.get(nr) or _x86_64_name(nr)
        spec = spec_for(name)
        if not reads_declared(spec):
            plan: _Plan = (name, None, ())
        else:
            # Only the arguments that read memory: most read none (mmap, close, lseek …).
            ins: list[tuple[int, Reads]] = []
            outs: list[tuple[int, Reads]] = []
            for i, a in enumerate(spec.args):
                if a.reads is not None and a.reads is not no_reads:
                    (outs if a.out else ins).append((i, a.reads))
            plan = (name, tuple(ins), tuple(outs))
        self._calls[(arch, nr)] = plan
        return plan

    # -- Observer ------------------------------------------------------------
    def syscall_enter(self, ctx: SyscallContext) -> bool:
        name, reads_in, reads_out = self._calls.get((ctx.arch, ctx.nr)) or self._plan(ctx.arch, ctx.nr)
        if self.names is not None and name not in self.names:
            return False
        tid = ctx.tid
        copy = _NOTHING
        if reads_in is None:  # decode here, over a recording
            rec = Recording(ctx)
            env = Env(rec, tid, ctx.args, self.env_opts, ctx.sp if name == "rt_sigreturn" else 0)  # type: ignore[arg-type]
            self._pending[tid] = (env, decode_enter(name, env), ())
            copy = rec.copy
        elif reads_in or reads_out:
            rec = Recording(ctx)
            env = Env(rec, tid, ctx.args, self.env_opts)  # type: ignore[arg-type]
            for i, f in reads_in:
                _run(f, env, i)
            if reads_out:
                self._pending[tid] = (env, None, reads_out)
            copy = rec.copy
        self.batch.append((_ENTER, tid, ctx.arch, ctx.nr, ctx.args, ctx.sp, copy, time.time(), time.monotonic_ns()))
        if len(self.batch) >= _BATCH:
            self.flush()
        return True

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None:
        p = self._pending.pop(ctx.tid, None)
        copy = _NOTHING
        if p is not None:
            env, d, reads_out = p
            rec = Recording(ctx)
            env.mem = rec
            r = s64(retval)
            if d is not None:
                decode_exit(d, r)
                try:
                    format_return(d, r)  # a return decorator may read memory too (poll's revents)
                except Exception:  # noqa: BLE001, S110 - it will fail the same way when replayed
                    pass
            elif not -4095 <= r < 0:  # a failed call's out-arguments print as pointers: nothing to read
                env.ret = r
                for i, f in reads_out:
                    _run(f, env, i)
            copy = rec.copy
        self.batch.append((_EXIT, ctx.tid, retval, copy, time.time(), time.monotonic_ns()))
        if len(self.batch) >= _BATCH:
            self.flush()

    def task_created(self, parent: int, child: int, flags: int) -> None:
        self._put((_CREATED, parent, child, flags, time.time(), time.monotonic_ns()))

    def task_exec(self, tid: int, former_tid: int) -> None:
        if former_tid != tid:
            p = self._pending.pop(former_tid, None)
            self._pending.pop(tid, None)
            if p is not None:
                self._pending[tid] = p
        self._put((_EXEC, tid, former_tid, time.time(), time.monotonic_ns()))

    def task_gone(self, tid: int, status: Exited | Killed) -> None:
        self._pending.pop(tid, None)
        st = (0, status.code, False) if isinstance(status, Exited) else (1, status.sig, status.core)
        self._put((_GONE, tid, st, time.time(), time.monotonic_ns()))

    def signal(self, tid: int, sig: int) -> None:
        from umlpy.trace import read_siginfo

        self._put((_SIGNAL, tid, sig, read_siginfo(tid), time.time(), time.monotonic_ns()))

    def group_stop(self, tid: int, sig: int) -> None:
        self._put((_GSTOP, tid, sig, time.time(), time.monotonic_ns()))
        self.flush()  # the guest may stay stopped a long time: show what led here

    def started(self, pid: int) -> None:
        self._put((_STARTED, pid))

    # -- the pipe ------------------------------------------------------------
    def text(self, s: str) -> None:
        """Raw text after the lines (the --tree at the end)."""
        self._put((_TEXT, s))

    def _put(self, rec: tuple[object, ...]) -> None:
        self.batch.append(rec)
        if len(self.batch) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now; the rest waits here (the guest must not wait for the formatter)."""
        if self.batch:
            data = marshal.dumps(self.batch)
            self.batch = []
            self.backlog += _LEN.pack(len(data))
            self.backlog += data
        while self.backlog:
            try:
                n = os.write(self.wfd, self.backlog)
            except BlockingIOError:
                if len(self.backlog) < _BACKLOG_MAX:
                    return
                # The formatter falls far behind: wait for it rather than grow without bound.
                select.select([], [self.wfd], [])
                continue
            del self.backlog[:n]

    def drain(self) -> None:
        """Write everything, waiting for the formatter as needed (the end of the run)."""
        self.flush()
        os.set_blocking(self.wfd, True)
        self.flush()


def _x86_64_name(nr: int) -> str:
    from umlpy.vkernel.table import x86_64_name

    return x86_64_name(nr)


class _Replayed:
    """What TraceObserver.syscall_enter reads of a SyscallContext, from a record."""

    __slots__ = ("arch", "args", "nr", "read", "read_cstring", "sp", "tid")

    def __init__(self, tid: int, arch: int, nr: int, args: tuple[int, ...], sp: int, mem: Replay) -> None:
        self.tid, self.arch, self.nr, self.args, self.sp = tid, arch, nr, args, sp
        self.read = mem.read
        self.read_cstring = mem.read_cstring


class Handoff:
    """Implements :class:`umlpy.vkernel.dispatch.Observer`: ``obs`` formats in the tracer for the
    first :data:`HANDOFF_AFTER` calls, then a forked formatter takes over with ``obs``'s state
    (open lines, calls in flight, per-task files) and this records for it.

    ``cpus``: the CPUs this process may use, read before the tracer pinned itself.
    """

    def __init__(self, obs: TraceObserver, cpus: set[int]) -> None:
        self.obs = obs
        self.cpus = cpus
        self.target: TraceObserver | Recorder = obs
        self.recorder: Recorder | None = None
        self._done = -1
        self._calls = 0
        # UMLPY_TRACE_HANDOFF=N: hand off after N calls instead (tests use 1: every line but the first
        # goes through the formatter, the first being in flight at the handoff).
        self._after = int(os.environ.get("UMLPY_TRACE_HANDOFF", HANDOFF_AFTER))

    def syscall_enter(self, ctx: SyscallContext) -> bool:
        traced = self.target.syscall_enter(ctx)
        if traced and self.recorder is None:
            self._calls += 1
            if self._calls >= self._after:
                self._handoff()
        return traced

    def _handoff(self) -> None:
        obs = self.obs
        obs.out.flush()
        for f in obs._files.values():
            f.flush()
        rec, self._done = _fork(obs, self.cpus)
        # The calls in flight were decoded here: their exits are decoded here too, over a recording.
        for tid, call in obs.pending.items():
            if call.decoded is not None:
                rec._pending[tid] = (call.decoded.env, call.decoded, ())
        self.recorder = self.target = rec

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None:
        self.target.syscall_exit(ctx, retval)

    def started(self, pid: int) -> None:
        self.target.started(pid)

    def task_created(self, parent: int, child: int, flags: int) -> None:
        self.target.task_created(parent, child, flags)

    def task_exec(self, tid: int, former_tid: int) -> None:
        self.target.task_exec(tid, former_tid)

    def task_gone(self, tid: int, status: Exited | Killed) -> None:
        self.target.task_gone(tid, status)

    def signal(self, tid: int, sig: int) -> None:
        self.target.signal(tid, sig)

    def group_stop(self, tid: int, sig: int) -> None:
        self.target.group_stop(tid, sig)

    def text(self, s: str) -> None:
        """Raw text after the lines (the --tree at the end)."""
        if self.recorder is None:
            self.obs.out.write(s)
        else:
            self.recorder.text(s)

    def finish(self) -> None:
        """The run is over: wait until every line is written."""
        if self.recorder is not None:
            finish(self.recorder, self._done)


def _fork(obs: TraceObserver, cpus: set[int]) -> tuple[Recorder, int]:
    """Start the formatter with ``obs``; the tracer's Recorder and a pipe that ends with the formatter.

    The formatter is a grandchild, not a child: the tracer's ``wait4(-1)``
    runs until no child is left, and must neither wait for nor reap it.
    The second pipe's write end lives only in the formatter, so reading it
    to EOF waits for the formatter's exit.
    """
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    try:
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass  # a smaller pipe (pipe-max-size): the tracer waits for the formatter more often
    # Both processes now write to pages they share copy-on-write; a full collection
    # in either would touch (and so copy) every page of objects: exempt those that exist.
    gc.freeze()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; the trace tests check its output
        code = 1
        try:
            os.close(wfd)
            os.close(done_r)
            # Ctrl-C goes to the tracer, which then closes the pipe: finish the lines, then exit.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            # Off the tracer's CPU (inherited from the tracer thread): left to the
            # scheduler, the pipe's synchronous wake-ups would pull the formatter
            # there, to compete with tracer and guest.
            others = cpus - os.sched_getaffinity(0)
            if others:
                os.sched_setaffinity(0, others)
            if os.fork() == 0:
                try:
                    _serve(rfd, obs)
                except BaseException:
                    # A formatter bug: say so (the tracer then fails on the closed pipe).
                    import traceback

                    traceback.print_exc()
                    raise
            code = 0
        finally:
            try:
                obs.out.flush()
            finally:
                os._exit(code)
    os.close(rfd)
    os.close(done_w)
    os.set_blocking(wfd, False)
    os.waitpid(pid, 0)  # before the tracer's wait4(-1) can see it
    return Recorder(obs.o.names, obs.o.decode, wfd), done_r


def finish(rec: Recorder, done: int) -> None:
    """Send what is left, close the pipe and wait until the formatter has written it all."""
    try:
        rec.drain()
    finally:
        os.close(rec.wfd)
        try:
            while os.read(done, 1):
                pass
        finally:
            os.close(done)


def _serve(rfd: int, obs: TraceObserver) -> None:
    f = os.fdopen(rfd, "rb", buffering=1 << 16)
    misses = 0
    try:
        while True:
            head = f.read(4)
            if len(head) < 4:
                break
            (n,) = _LEN.unpack(head)
            for rec in marshal.loads(f.read(n)):
                misses += _apply(obs, rec)
    finally:
        obs.close()
    if misses:
        sys.stderr.write(f"umlpy: trace: internal: {misses} guest reads were not copied; "
                         "those arguments show as raw values\n")


def _apply(obs: TraceObserver, rec: tuple) -> int:  # type: ignore[type-arg]
    tag = rec[0]
    if tag == _TEXT:
        obs.out.write(rec[1])
        return 0
    if tag == _STARTED:
        obs.started(rec[1])
        return 0
    obs.clock = (rec[-2], rec[-1])
    if tag == _ENTER:
        _, tid, arch, nr, args, sp, copy, _w, _m = rec
        mem = Replay(copy)
        obs.syscall_enter(_Replayed(tid, arch, nr, args, sp, mem))  # type: ignore[arg-type]
        return mem.misses
    if tag == _EXIT:
        _, tid, retval, copy, _w, _m = rec
        call = obs.pending.get(tid)
        mem = Replay(copy)
        if call is not None and call.decoded is not None:
            call.decoded.env.mem = mem
        obs.syscall_exit(_Replayed(tid, 0, 0, (), 0, mem), retval)  # type: ignore[arg-type]
        return mem.misses
    if tag == _CREATED:
        obs.task_created(rec[1], rec[2], rec[3])
    elif tag == _EXEC:
        obs.task_exec(rec[1], rec[2])
    elif tag == _GONE:
        kind, a, b = rec[2]
        obs.task_gone(rec[1], Exited(rec[1], a) if kind == 0 else Killed(rec[1], a, b))
    elif tag == _SIGNAL:
        obs.signal_info(rec[1], rec[2], rec[3])
    elif tag == _GSTOP:
        obs.group_stop(rec[1], rec[2])
    return 0


__all__ = ["HANDOFF_AFTER", "Handoff", "Recorder", "usable"]
