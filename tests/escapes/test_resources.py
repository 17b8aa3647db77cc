"""Resource attacks: process and thread bombs, memory bombs, syscall floods,
and leaving processes behind.  Containment means the run ends (by the
guest, or by umlpy's limit with exit 124), umlpy stays in charge, and no
guest process outlives it (the autouse ``no_guest_survives`` fixture)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.escapes.conftest import IS_ROOT, nonroot_only


def test_fork_bomb_contained(sandbox, build_guest) -> None:
    """Every process forks for 1 s under --max-procs 50; the tree is killed
    by --timeout and nothing is left behind."""
    r = sandbox([build_guest("escape_forkbomb"), 1], opts=["--max-procs", "50"], timeout=3)
    assert r.proc.returncode == 124, r.proc.stderr
    assert r.report["limit"] == "timeout"


def test_fork_bomb_respects_max_procs(sandbox, build_guest) -> None:
    r = sandbox([build_guest("escape_forkbomb"), 1], opts=["--max-procs", "50"], timeout=3)
    assert r.report["peak_tasks"] <= 50, r.report["peak_tasks"]


def test_thread_storm(sandbox, build_guest) -> None:
    """Threads count as tasks: creation fails with EAGAIN at the limit."""
    r = sandbox([build_guest("escape_threadstorm"), 500], opts=["--max-procs", "64"], timeout=20)
    assert r.proc.returncode == 0, r.proc.stderr
    assert r.report["peak_tasks"] <= 64
    assert "made=63" in r.out


def test_memory_bomb_anonymous(sandbox, build_guest) -> None:
    r = sandbox([build_guest("escape_membomb"), "anon", 400], opts=["--memory", "200M"], timeout=30)
    assert r.proc.returncode == 124, r.proc.stderr
    assert r.report["limit"] == "memory"


def test_memory_bomb_memfd(sandbox, build_guest) -> None:
    r = sandbox([build_guest("escape_membomb"), "memfd", 400], opts=["--memory", "200M"], timeout=30)
    assert r.report["limit"] == "memory", r.proc.stdout


def test_trapped_syscall_flood(sandbox, build_guest) -> None:
    """8 threads × 3 trapped calls × 2000: the tracer keeps up and the run ends."""
    r = sandbox([build_guest("escape_flood"), 2000], timeout=60)
    assert r.proc.returncode == 0, r.proc.stderr
    assert r.report["trapped"] >= 8 * 3 * 2000


def test_daemonised_process_killed(sandbox, build_guest) -> None:
    """fork/setsid/fork/close stdio, ignoring HUP and TERM: killed when the main exits."""
    r = sandbox([build_guest("escape_daemon")])
    assert r.proc.returncode == 0, r.proc.stderr
    assert r.report["leftovers_killed"] >= 1


def test_children_forked_during_exit_are_killed(sandbox, build_guest) -> None:
    r = sandbox([build_guest("escape_exit_race"), 4], timeout=5)
    assert r.report["limit"] is None and r.proc.returncode == 0, (r.report.get("limit"), r.proc.stderr)


@nonroot_only
def test_setuid_exec_warning(sandbox, tmp_path: Path) -> None:
    """A set-user-ID binary runs without its privilege (no_new_privs) and the
    report says so."""
    exe = shutil.which("passwd") or "/usr/bin/passwd"
    if not os.path.exists(exe) or not os.stat(exe).st_mode & 0o4000:
        pytest.skip("no set-user-ID passwd binary")
    r = sandbox([exe, "--help"])
    assert any("set-user/group-ID" in w for w in r.report["warnings"]), r.report["warnings"]
    assert IS_ROOT is False and uuid  # keep imports used
