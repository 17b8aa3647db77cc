"""Script guests: the same attacks through an interpreter and ordinary tools,
as an untrusted script would do them."""

from __future__ import annotations

import os
import sys

from tests.escapes.conftest import CanaryFile, CanaryProc

GUESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "guests")


def test_python_signal_apis(sandbox, canary_proc: CanaryProc) -> None:
    r = sandbox([sys.executable, "-I", os.path.join(GUESTS, "escape_signals.py"), canary_proc.pid])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    assert r.report["exit_code"] == 0  # umlpy survived the same calls aimed at it


def test_shell_coreutils_write(sandbox, canary_file: CanaryFile) -> None:
    """echo >, >>, dd, cp, sed -i, truncate, ln -sf, mv, rm (touch -d is the
    utime hole, tested in test_fs; it is last so it cannot mask the rest)."""
    r = sandbox(["/bin/sh", os.path.join(GUESTS, "escape_coreutils.sh"), canary_file.path])
    assert r.report, r.proc.stderr
    snap = canary_file.snapshot()
    for k in ("content", "ino", "mode", "uid", "gid", "nlink", "dir"):
        assert snap[k] == canary_file.snap[k], (k, snap[k], canary_file.snap[k])
