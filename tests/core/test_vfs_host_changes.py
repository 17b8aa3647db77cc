"""Changes other host programs make to the lower layer while the guest runs
show to the guest at once, although the vfs caches its lookups."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, umlpy_cmd

pytestmark = pytest.mark.usefixtures("traceable")

_WAIT = 'i=0; while {cond} && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done'


def test_host_creates_and_deletes_show_while_the_guest_runs(tmp_path: Path) -> None:
    d = tmp_path / "shared"
    d.mkdir()
    (d / "old").write_text("x")
    script = "; ".join([
        f"cd {d}",
        "[ -e ready ] || echo absent", "[ -e sub/f ] || echo absent2", "cat new 2>/dev/null || echo absent3",
        "echo waiting",
        _WAIT.format(cond="[ ! -e ready ]"), "[ -e ready ] && echo seen",
        _WAIT.format(cond="[ ! -e sub/f ]"), "[ -e sub/f ] && echo seen2",
        _WAIT.format(cond="! cat new >/dev/null 2>&1"), "cat new",
        _WAIT.format(cond="[ -e old ]"), "[ -e old ] || echo gone",
        "ls",
    ])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen(umlpy_cmd("run", "-q", "--discard", "--state-dir", str(tmp_path / "state"), "--",
                                   "sh", "-c", script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env)
    try:
        assert p.stdout is not None
        lines = [p.stdout.readline() for _ in range(4)]
        assert lines == ["absent\n", "absent2\n", "absent3\n", "waiting\n"], (lines, p.stderr and p.stderr.read())
        # The lookups the guest made are cached now; a host program changes the directory.
        time.sleep(0.1)
        (d / "ready").write_text("")
        (d / "sub").mkdir()
        (d / "sub" / "f").write_text("")
        (d / "new").write_text("fresh\n")
        (d / "old").unlink()
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    assert out.splitlines() == ["seen", "seen2", "fresh", "gone", "new", "ready", "sub"], out
