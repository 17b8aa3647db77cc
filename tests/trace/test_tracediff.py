"""``umlpy trace-diff``: two runs of the same program agree; a changed run shows where."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def _trace(tmp_path: Path, name: str, script: str) -> Path:
    out = tmp_path / name
    run_umlpy("trace", "--json", "-o", str(out), "--", "sh", "-c", script)
    return out


def test_same_program_twice_has_no_difference(tmp_path: Path) -> None:
    a = _trace(tmp_path, "a.jsonl", "cat /etc/hostname >/dev/null; ls / >/dev/null")
    b = _trace(tmp_path, "b.jsonl", "cat /etc/hostname >/dev/null; ls / >/dev/null")
    r = run_umlpy("trace-diff", str(a), str(b))
    assert (r.stdout, r.returncode) == ("", 0), r.stdout


def test_a_failing_open_and_exit_status_show_up(tmp_path: Path) -> None:
    a = _trace(tmp_path, "a.jsonl", "cat /etc/hostname >/dev/null; exit 0")
    b = _trace(tmp_path, "b.jsonl", "cat /etc/no-such-file >/dev/null 2>&1; exit 0")
    r = run_umlpy("trace-diff", str(a), str(b))
    assert r.returncode == 1
    assert any(line.startswith("+openat(") and "ENOENT" in line for line in r.stdout.splitlines())
    assert any(line.startswith("-openat(") and "/etc/hostname" in line for line in r.stdout.splitlines())
    assert "@@ process #2:" in r.stdout  # the cat child, aligned although its pid differs


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("not json\n")
    r = run_umlpy("trace-diff", str(junk), str(junk))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "junk:1" in r.stderr
    r = run_umlpy("trace-diff", str(tmp_path / "missing"), str(junk))
    assert r.returncode == 2 and "No such file" in r.stderr
