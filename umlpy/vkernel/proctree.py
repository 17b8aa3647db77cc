"""The guest's process tree: the run report's ``processes`` and ``umlpy trace --tree``.

One record for both: the dispatcher feeds the run's tree from the tracer's
task events, and ``umlpy trace``'s :class:`umlpy.timeline.Timeline` keeps one
from the observer's (no I/O of its own except where noted):

* a fork/vfork/clone without ``CLONE_THREAD`` is a new process whose parent
  is the caller's thread group (``CLONE_PARENT`` is not modelled: the
  report shows who forked it);
* at ``PTRACE_EVENT_EXEC`` the task has its new image but has not run it:
  ``/proc/PID/cmdline`` is the argv execve(2) was given (read with
  :func:`read_cmdline`, which the tracer may do as the task's tracer), and
  ``/proc/PID/exe`` the program;
* the thread-group leader's exit ends the process (a multi-threaded exec
  reuses the leader's tid, so the pid stays the key).

Times are seconds since the run started (``time.monotonic``).  Processes
beyond :data:`MAX_PROCESSES` are counted, not recorded.

Resource usage per process comes from the ``struct rusage`` wait4(2) hands
the tracer when it reaps the thread-group leader (kernel/exit.c,
``wait_task_zombie``: ``getrusage(p, RUSAGE_BOTH)``, also for a tracer that
is not the parent).  The leader is reported only after its other threads
(``delay_group_leader``), so the numbers are final, and the mm high-water
mark survives execve (``exec_mmap`` folds it into ``signal->maxrss``).
RUSAGE_BOTH means *inclusive*: the process plus the children it had
waited for, as time(1) shows — a shell's line holds its commands' CPU, a
leaf's is its own.  ru_maxrss also counts the image before the process's
execve, i.e. the pages it shared with its parent at fork: for the main
process that is umlpy's own interpreter (~20 MB), for the guest's
children their parent's resident size.  Exact own figures would need a stop at every task exit
(PTRACE_O_TRACEEXIT) to read /proc/PID/stat while the task still exists;
the tracer avoids that stop.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

MAX_PROCESSES = 10_000


@dataclass(slots=True)
class Process:
    pid: int
    ppid: int | None
    start_s: float
    argv: list[str] = field(default_factory=list)
    exe: str | None = None
    execs: int = 0  # how many images this pid ran (argv/exe: the last)
    end_s: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    usage: Usage | None = None  # from wait4 at the reap (None: not reaped by the tracer)

    def status_text(self) -> str:
        """``running``, ``exit N`` or ``killed by SIGX``, as ``trace --tree`` shows it."""
        if self.exit_code is not None:
            return f"exit {self.exit_code}"
        if self.signal is not None:
            from umlpy.vkernel.decode.flags import signame  # the decoders load only when a tree is shown

            return f"killed by {signame(self.signal)}"
        return "running"

    def to_json(self) -> dict[str, object]:
        u = self.usage
        return {
            "pid": self.pid, "ppid": self.ppid, "argv": self.argv, "exe": self.exe, "execs": self.execs,
            "start_s": round(self.start_s, 6), "end_s": None if self.end_s is None else round(self.end_s, 6),
            "exit_code": self.exit_code, "signal": self.signal,
            "cpu_user_s": None if u is None else round(u.user_s, 6),
            "cpu_system_s": None if u is None else round(u.system_s, 6),
            "max_rss_kb": None if u is None else u.max_rss_kb,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """A reaped process's CPU time and peak resident memory, children it waited for included."""

    user_s: float
    system_s: float
    max_rss_kb: int

    @classmethod
    def from_rusage(cls, ru: resource.struct_rusage) -> Usage:
        return cls(ru.ru_utime, ru.ru_stime, ru.ru_maxrss)


@dataclass(slots=True)
class ProcessTree:
    t0: float = field(default_factory=time.monotonic)
    processes: dict[int, Process] = field(default_factory=dict)
    order: list[Process] = field(default_factory=list)  # every process ever, by start
    dropped: int = 0

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def started(self, pid: int, ppid: int | None) -> None:
        if len(self.order) >= MAX_PROCESSES:
            self.dropped += 1
            return
        parent = self.processes.get(ppid) if ppid is not None else None
        p = Process(pid, ppid, self._now())
        if parent is not None:  # a fork runs the parent's image until it execs
            p.argv, p.exe = list(parent.argv), parent.exe
        self.processes[pid] = p
        self.order.append(p)

    def exec(self, pid: int, argv: list[str], exe: str | None) -> None:
        p = self.processes.get(pid)
        if p is None:
            self.started(pid, None)
            p = self.processes.get(pid)
            if p is None:
                return
        p.argv, p.exe = argv, exe
        p.execs += 1

    def ended(self, pid: int, *, exit_code: int | None, signal: int | None, usage: Usage | None = None) -> None:
        p = self.processes.pop(pid, None)
        if p is None:
            return
        p.end_s = self._now()
        p.exit_code, p.signal, p.usage = exit_code, signal, usage

    def alive(self) -> int:
        """Processes started and not yet reaped (safe to call from another thread)."""
        return len(self.processes)

    def to_json(self) -> list[dict[str, object]]:
        return [p.to_json() for p in self.order]

    def render(self, root: int) -> str:
        """Who started and exec'd what under ``root``, with exit statuses and durations (``trace --tree``).

        One line per process, ``PID ARGV  [STATUS, SECONDS]``, children
        indented under their parent in the order they started.
        """
        top = next((p for p in self.order if p.pid == root), None)
        if top is None:
            return "\n"
        kids: dict[int, list[Process]] = {}
        for p in self.order:
            if p.ppid is not None and p is not top:
                kids.setdefault(p.ppid, []).append(p)
        now = self._now()
        lines: list[str] = []
        todo = [(top, 0)]
        while todo:  # depth first, without recursion: a chain of forks can be deep
            p, depth = todo.pop()
            dur = (p.end_s if p.end_s is not None else now) - p.start_s
            cmd = " ".join(p.argv)[:100] or "?"
            lines.append(f"{'  ' * depth}{p.pid} {cmd}  [{p.status_text()}, {dur:.3f}s]")
            todo.extend((c, depth + 1) for c in reversed(kids.get(p.pid, [])))
        return "\n".join(lines) + "\n"


def read_cmdline(pid: int) -> list[str] | None:
    """argv from /proc/PID/cmdline (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0")] if raw else []
