"""``-c``, ``-t/-tt/-ttt``, ``-T``, ``-s``, ``-y``, ``-x``, ``-e status=``, ``--json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def trace(tmp_path: Path, *args: str, rc: int = 0) -> list[str]:
    out = tmp_path / "trace.txt"
    r = run_umlpy("trace", "-qq", "-o", str(out), *args, timeout=60)
    assert r.returncode == rc, r.stderr
    return [re.sub(r"^\d+ +", "", x) for x in out.read_text().splitlines()]


def test_summary_counts_exactly(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    lines = trace(tmp_path, "-c", "--", str(build_guest("trace_calls")), "1000")
    assert lines[0].split() == ["%", "time", "seconds", "usecs/call", "calls", "errors", "syscall"]
    rows = {x.split()[-1]: x.split() for x in lines[2:] if not x.startswith("-")}
    assert rows["getppid"][3] == "1000"
    assert rows["getppid"] == rows[max(rows, key=lambda n: float(rows[n][1]) if n != "total" else -1)]
    assert rows["openat"][4] == "1"  # the guest's one failing open
    assert "exit_group" not in rows  # never returns; strace does not count it either
    total = rows["total"]
    assert total[0] == "100.00"
    assert int(total[3]) == sum(int(r[3]) for n, r in rows.items() if n != "total")
    pcts = [float(r[0]) for n, r in rows.items() if n != "total"]
    assert abs(sum(pcts) - 100.0) < 0.5


def test_timestamps_and_durations(tmp_path: Path) -> None:
    one = trace(tmp_path, "-t", "-e", "trace=exit_group", "--", "true")
    assert re.fullmatch(r"\d\d:\d\d:\d\d exit_group\(0\) += \?", one[0])
    two = trace(tmp_path, "-tt", "-T", "-e", "trace=close", "--", "true")
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6} close\(\d+\) += 0 <\d+\.\d{6}>", x) for x in two), two
    three = trace(tmp_path, "-ttt", "-e", "trace=exit_group", "--", "true")
    assert re.fullmatch(r"\d{10}\.\d{6} exit_group\(0\) += \?", three[0])


def test_string_size_and_fds(tmp_path: Path) -> None:
    lines = trace(tmp_path, "-s", "5", "-y", "-e", "trace=write,openat", "--", "sh", "-c", "echo hello-world")
    assert 'write(1<' in next(x for x in lines if x.startswith("write("))
    assert re.search(r'write\(1<[^>]+>, "hello"\.\.\., 12\) += 12', "\n".join(lines))
    fd_open = [x for x in lines if x.startswith("openat(") and not x.endswith(")")]
    assert any(re.search(r"= 3</[^>]+>$", x) for x in fd_open), fd_open


def test_hex_strings(tmp_path: Path) -> None:
    lines = trace(tmp_path, "-xx", "-e", "trace=write", "--", "sh", "-c", "echo hi")
    assert len(lines) == 1
    assert re.fullmatch(r'write\(1, "\\x68\\x69\\x0a", 3\) += 3', lines[0])


def test_status_filters(tmp_path: Path) -> None:
    failed = trace(tmp_path, "-e", "status=failed", "--", "cat", "/etc/hostname")
    assert failed and all(" = -1 E" in x for x in failed)
    ok = trace(tmp_path, "-z", "--", "cat", "/etc/hostname")
    assert ok and not any(" = -1 E" in x for x in ok)
    assert not any("exit_group" in x for x in ok)  # unavailable, not successful
    assert not any("resumed>" in x for x in failed + ok)


def test_json(tmp_path: Path) -> None:
    lines = trace(tmp_path, "--json", "-e", "trace=openat,exit_group", "--", "cat", "/etc/hostname", "/nope", rc=1)
    objs = [json.loads(x) for x in lines]
    calls = [o for o in objs if "name" in o]
    host = next(o for o in calls if o["args"][1] == '"/etc/hostname"')
    assert host["args"] == ["AT_FDCWD", '"/etc/hostname"', "O_RDONLY"]
    assert host["raw_args"][0] & 0xFFFFFFFF == 2**32 - 100 and host["raw_args"][2] == 0
    assert host["return"] == 3 and host["errno"] is None and host["pid"] == host["tid"]
    assert host["duration"] >= 0 and host["time"] > 1e9
    nope = next(o for o in calls if o["args"][1] == '"/nope"')
    assert nope["return"] == -2 and nope["errno"] == "ENOENT"
    assert nope["return_text"] == "-1 ENOENT (No such file or directory)"
    end = calls[-1]
    assert end["name"] == "exit_group" and end["return"] is None and end["duration"] is None
    assert {"pid", "tid", "time", "event"} <= objs[-1].keys() or objs[-1]["name"] == "exit_group"
