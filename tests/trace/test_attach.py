"""``umlpy trace -p PID``: attach to a running process, then detach or follow it to its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, umlpy_cmd

pytestmark = pytest.mark.usefixtures("traceable")

TARGET = """
import os, sys, time
n = 0
while n < int(sys.argv[2]):
    os.getppid(); n += 1
    # Write then rename, so a reader never sees the truncated file.
    with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(n))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(0.02)
"""


def _tracer_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("TracerPid:")).split()[1])


def _wait_for(cond, what: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def _start(tmp_path: Path, rounds: int) -> tuple[subprocess.Popen[bytes], Path]:
    counter = tmp_path / "n"
    target = subprocess.Popen([sys.executable, "-c", TARGET, str(counter), str(rounds)])
    _wait_for(counter.exists, "the target to start")
    return target, counter


def _trace(pid: int, out: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(umlpy_cmd("trace", "-p", str(pid), "-o", str(out)), env=env, stderr=subprocess.PIPE)


def test_attach_then_ctrl_c_detaches_and_leaves_it_running(tmp_path: Path) -> None:
    target, counter = _start(tmp_path, 100000)
    trace = tmp_path / "trace"
    try:
        tr = _trace(target.pid, trace)
        _wait_for(lambda: trace.exists() and "getppid()" in trace.read_text(), "traced getppid calls")
        assert _tracer_of(target.pid) == tr.pid
        tr.send_signal(signal.SIGINT)
        _, err = tr.communicate(timeout=20)
        assert tr.returncode == 0, err
        assert f"process {target.pid} detached" in err.decode()
        assert _tracer_of(target.pid) == 0 and target.poll() is None
        before = int(counter.read_text())
        _wait_for(lambda: int(counter.read_text()) > before + 3, "the target to keep running untraced")
    finally:
        target.kill()
        target.wait()


def test_attach_follows_the_process_to_its_exit(tmp_path: Path) -> None:
    target, _counter = _start(tmp_path, 60)
    trace = tmp_path / "trace"
    tr = _trace(target.pid, trace)
    _, err = tr.communicate(timeout=60)
    target.wait(timeout=10)
    assert tr.returncode == 0, err
    text = trace.read_text()
    assert "getppid()" in text and "+++ exited with 0 +++" in text


def test_attach_to_a_missing_pid_is_one_line() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(umlpy_cmd("trace", "-p", "999999999"), env=env, capture_output=True, text=True, check=False,
                       timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


THREADED = """
import os, sys, threading, time
n = [0]
def work():
    while True:
        os.getppid(); n[0] += 1; time.sleep(0.005)
for _ in range(3):
    threading.Thread(target=work, daemon=True).start()
while True:
    with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(n[0]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(0.02)
"""


def test_attach_to_a_multithreaded_process_then_detach(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    target = subprocess.Popen([sys.executable, "-c", THREADED, str(counter)])
    trace = tmp_path / "trace"
    try:
        _wait_for(counter.exists, "the target to start")
        tr = _trace(target.pid, trace)
        # Every thread is traced: getppid lines from at least three tids.
        def threads_seen() -> int:
            if not trace.exists():
                return 0
            return len({ln.split()[0] for ln in trace.read_text().splitlines() if "getppid()" in ln})
        _wait_for(lambda: threads_seen() >= 3, "getppid from three threads")
        tids = {int(t) for t in os.listdir(f"/proc/{target.pid}/task")}
        assert all(_tracer_of(t) == tr.pid for t in tids)
        tr.send_signal(signal.SIGINT)
        _, err = tr.communicate(timeout=20)
        assert tr.returncode == 0, err
        assert all(_tracer_of(t) == 0 for t in tids) and target.poll() is None
        before = int(counter.read_text())
        _wait_for(lambda: int(counter.read_text()) > before + 20, "the threads to keep running untraced")
    finally:
        target.kill()
        target.wait()
