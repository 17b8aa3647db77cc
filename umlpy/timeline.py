"""Timelines of a traced run: Perfetto/Chrome trace files and a process tree.

:class:`Timeline` is an Observer (see :class:`umlpy.vkernel.dispatch.Observer`)
that records, per task, each syscall as a slice and fork/exec/exit/signal as
instants, and writes the Chrome Trace Event format ("JSON Object Format":
``{"traceEvents": [...]}``, complete events ``ph: X`` with ``ts``/``dur`` in
microseconds, instants ``ph: i``, ``process_name``/``thread_name`` metadata),
which ui.perfetto.dev and chrome://tracing open.  Its processes are kept
in the run report's record (:class:`umlpy.vkernel.proctree.ProcessTree`),
which :meth:`Timeline.tree` renders: who started and exec'd what, with exit
statuses and durations.

:class:`Tee` fans one observer seam out to several observers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import IO

from umlpy.tracer.loop import SyscallContext
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.dispatch import Observer
from umlpy.vkernel.proctree import ProcessTree, read_cmdline
from umlpy.vkernel.table import x86_64_name

CLONE_THREAD = 0x00010000


class Timeline:
    """Records the run for ``--perfetto FILE`` and ``--tree``."""

    def __init__(self, root: int | None = None) -> None:
        self.t0 = time.monotonic_ns()
        self.events: list[dict[str, object]] = []
        self.open: dict[int, tuple[str, int]] = {}
        self.tgid: dict[int, int] = {}
        self.procs = ProcessTree()
        self.root = root
        if root is not None:
            self.started(root)

    def started(self, pid: int) -> None:
        self.root = self.root or pid
        self.tgid[pid] = pid
        self.procs.started(pid, None)
        p = self.procs.processes.get(pid)
        if p is not None:
            p.argv = _cmdline(pid)

    def _us(self) -> float:
        return (time.monotonic_ns() - self.t0) / 1000

    # -- Observer -------------------------------------------------------------
    def syscall_enter(self, ctx: SyscallContext) -> bool:
        self.open[ctx.tid] = (x86_64_name(ctx.nr), time.monotonic_ns())
        return True

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None:
        call = self.open.pop(ctx.tid, None)
        if call is None:
            return
        name, start = call
        r = ((retval + (1 << 63)) % (1 << 64)) - (1 << 63)
        self.events.append({
            "name": name, "ph": "X", "pid": self.tgid.get(ctx.tid, ctx.tid), "tid": ctx.tid,
            "ts": (start - self.t0) / 1000, "dur": (time.monotonic_ns() - start) / 1000, "args": {"return": r},
        })

    def task_created(self, parent: int, child: int, flags: int) -> None:
        ptgid = self.tgid.get(parent, parent)
        thread = bool(flags & CLONE_THREAD)
        self.tgid[child] = ptgid if thread else child
        self._instant(parent, "clone" if thread else "fork", {"child": child})
        if not thread:
            self.procs.started(child, ptgid)  # with its parent's argv, until it execs

    def task_exec(self, tid: int, former_tid: int) -> None:
        self.tgid[tid] = tid
        exe = _exe(tid)
        if tid in self.procs.processes:
            self.procs.exec(tid, _cmdline(tid), exe)
        self._instant(tid, "exec", {"exe": exe})

    def task_gone(self, tid: int, status: Exited | Killed) -> None:
        self.open.pop(tid, None)
        text = f"exit {status.code}" if isinstance(status, Exited) else f"killed by {F.signame(status.sig)}"
        self._instant(tid, text, {})
        if self.tgid.get(tid, tid) == tid:
            self.procs.ended(tid, exit_code=status.code if isinstance(status, Exited) else None,
                             signal=status.sig if isinstance(status, Killed) else None)

    def signal(self, tid: int, sig: int) -> None:
        self._instant(tid, F.signame(sig), {})

    def group_stop(self, tid: int, sig: int) -> None:
        self._instant(tid, f"stopped by {F.signame(sig)}", {})

    def _instant(self, tid: int, name: str, args: dict[str, object]) -> None:
        self.events.append({"name": name, "ph": "i", "s": "t", "pid": self.tgid.get(tid, tid), "tid": tid,
                            "ts": self._us(), "args": args})

    # -- output ---------------------------------------------------------------
    def write_chrome_trace(self, out: IO[str]) -> None:
        meta: list[dict[str, object]] = []
        for proc in self.procs.order:
            pid = proc.pid
            label = " ".join(proc.argv) or (proc.exe if proc.execs and proc.exe else str(pid))
            meta.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": f"{label[:80]} ({pid})"}})
        for tid, tgid in self.tgid.items():
            meta.append({"name": "thread_name", "ph": "M", "pid": tgid, "tid": tid, "args": {"name": str(tid)}})
        json.dump({"traceEvents": meta + self.events, "displayTimeUnit": "ms"}, out)

    def tree(self) -> str:
        """Who started and exec'd what, with exit statuses and durations."""
        return self.procs.render(self.root) if self.root is not None else "\n"


class Tee:
    """One Observer seam, several observers (each sees every event)."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = list(observers)

    def syscall_enter(self, ctx: SyscallContext) -> bool:
        return any([o.syscall_enter(ctx) is not False for o in self.observers])  # noqa: C419 - all must see it

    def syscall_exit(self, ctx: SyscallContext, retval: int) -> None:
        for o in self.observers:
            o.syscall_exit(ctx, retval)

    def task_created(self, parent: int, child: int, flags: int) -> None:
        for o in self.observers:
            o.task_created(parent, child, flags)

    def task_exec(self, tid: int, former_tid: int) -> None:
        for o in self.observers:
            o.task_exec(tid, former_tid)

    def task_gone(self, tid: int, status: Exited | Killed) -> None:
        for o in self.observers:
            o.task_gone(tid, status)

    def signal(self, tid: int, sig: int) -> None:
        for o in self.observers:
            o.signal(tid, sig)

    def group_stop(self, tid: int, sig: int) -> None:
        for o in self.observers:
            o.group_stop(tid, sig)


def _cmdline(pid: int) -> list[str]:
    return [a for a in read_cmdline(pid) or [] if a]


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"

