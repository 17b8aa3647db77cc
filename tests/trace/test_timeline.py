"""``umlpy trace --perfetto FILE`` and ``--tree``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")

SCRIPT = "ls / >/dev/null; (sleep 0.05; exit 4) & wait $!; echo $?; exit 3"


def test_perfetto_file_has_processes_slices_and_instants(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = run_umlpy("trace", "-o", "/dev/null", "--perfetto", str(out), "--", "sh", "-c", SCRIPT)
    assert (r.stdout, r.returncode) == ("4\n", 3)
    events = json.loads(out.read_text())["traceEvents"]
    names = [e["args"]["name"] for e in events if e["name"] == "process_name"]
    assert any(n.startswith("sh -c ") for n in names) and any(n.startswith("ls /") for n in names)
    slices = [e for e in events if e["ph"] == "X"]
    assert {"execve", "openat", "wait4", "exit_group"} - {e["name"] for e in slices} == {"exit_group"}
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices)
    instants = {e["name"] for e in events if e["ph"] == "i"}
    assert {"fork", "exec", "exit 3", "exit 4", "SIGCHLD"} <= instants


def test_tree_shows_who_ran_what_and_how_it_ended(tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    run_umlpy("trace", "-e", "trace=none", "-o", str(out), "--tree", "--", "sh", "-c", SCRIPT)
    tree = [line for line in out.read_text().splitlines() if "[" in line and "+++" not in line and "---" not in line]
    assert tree[0].split(" ", 1)[1].startswith("sh -c ls /") and "[exit 3," in tree[0]
    assert any(line.startswith("  ") and " ls /" in line and "[exit 0," in line for line in tree)
    assert any(line.startswith("  ") and "[exit 4," in line for line in tree)
