"""The one process-tree record, as the run report and ``trace --tree`` use it (no tracing)."""

from __future__ import annotations

import io
import json

import pytest

from umlpy import timeline
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel.proctree import ProcessTree

CLONE_THREAD = 0x00010000


def test_render_nests_children_in_start_order() -> None:
    t = ProcessTree(t0=0.0)
    t.started(1, None)
    t.exec(1, ["sh", "-c", "x"], "/bin/sh")
    t.started(2, 1)       # a fork: the parent's argv until it execs
    t.started(3, 1)
    t.exec(3, ["ls", "/"], "/bin/ls")
    t.started(4, 3)
    t.ended(4, exit_code=None, signal=9)
    t.ended(3, exit_code=0, signal=None)
    lines = [line.rsplit(",", 1)[0] for line in t.render(1).splitlines()]
    assert lines == ["1 sh -c x  [running", "  2 sh -c x  [running", "  3 ls /  [exit 0",
                     "    4 ls /  [killed by SIGKILL"]
    assert [p["pid"] for p in t.to_json()] == [1, 2, 3, 4] and t.alive() == 2
    assert t.render(99) == "\n"


def test_timeline_keeps_its_processes_in_the_shared_record(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = {1: ["sh", "-c", "x"], 2: ["ls", "", "/"]}
    monkeypatch.setattr(timeline, "_cmdline", lambda pid: [a for a in argv.get(pid, []) if a])
    monkeypatch.setattr(timeline, "_exe", lambda pid: f"/bin/p{pid}")
    tl = timeline.Timeline()
    tl.started(1)
    tl.task_created(1, 2, 0)
    tl.task_created(1, 7, CLONE_THREAD)  # a thread is no process
    tl.task_exec(2, 2)
    tl.task_created(2, 3, 0)
    tl.task_gone(3, Killed(3, 15, False))
    tl.task_gone(7, Exited(7, 0))        # a thread's exit ends nothing
    tl.task_gone(2, Exited(2, 4))
    assert isinstance(tl.procs, ProcessTree)
    lines = [line.rsplit(",", 1)[0] for line in tl.tree().splitlines()]
    assert lines == ["1 sh -c x  [running", "  2 ls /  [exit 4", "    3 ls /  [killed by SIGTERM"]
    out = io.StringIO()
    tl.write_chrome_trace(out)
    names = [e["args"]["name"] for e in json.loads(out.getvalue())["traceEvents"] if e["name"] == "process_name"]
    assert names == ["sh -c x (1)", "ls / (2)", "ls / (3)"]
