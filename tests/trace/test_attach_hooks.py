"""The hooks API on an attached process: ``umlpy.attach(pid, hooks=[...])``.

The guest is started natively, runs several threads, and reports what it
sees in a file (written then renamed, so a reader never sees half of it);
the hooks' effects are read there, and after the detach the guest must run
on, untraced, seeing the real results again.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from umlpy import Hook, HookCall, Sandbox, SandboxConfig, UmlpyError, attach
from umlpy.vkernel.hooks import HookError

pytestmark = pytest.mark.usefixtures("traceable")

# argv: report-file asked-file.  Three threads call getppid in a loop; the
# main thread reads the asked file and reports "<thread calls> <getppid()> <text>".
GUEST = """
import errno, os, sys, threading, time
report, asked = sys.argv[1], sys.argv[2]
n = [0]
def work():
    while True:
        os.getppid(); n[0] += 1; time.sleep(0.003)
for _ in range(3):
    threading.Thread(target=work, daemon=True).start()
while True:
    try:
        with open(asked) as f:
            text = f.read().strip()
    except OSError as e:
        text = "error " + errno.errorcode[e.errno]
    with open(report + ".tmp", "w") as f:
        f.write(f"{n[0]} {os.getppid()} {text}")
    os.rename(report + ".tmp", report)
    time.sleep(0.01)
"""


def _read(report: Path) -> tuple[int, int, str]:
    n, ppid, text = report.read_text().split(" ", 2)
    return int(n), int(ppid), text


def _wait_for(cond, what: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


def _tracer_of(tid: int) -> int:
    with open(f"/proc/{tid}/status") as f:
        return int(next(line for line in f if line.startswith("TracerPid:")).split()[1])


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    report, asked, other = tmp_path / "report", tmp_path / "asked.txt", tmp_path / "other.txt"
    asked.write_text("content of asked\n")
    other.write_text("content of other\n")
    p = subprocess.Popen([sys.executable, "-c", GUEST, str(report), str(asked)])
    # Whatever happens, the tracer's wait ends: the guest is killed after a minute.
    guard = threading.Timer(60, p.kill)
    guard.start()
    try:
        _wait_for(lambda: report.exists() and len(os.listdir(f"/proc/{p.pid}/task")) >= 4, "the guest to start")
        yield p, report, other
    finally:
        guard.cancel()
        p.kill()
        p.wait()


def test_hooks_rewrite_an_attached_multithreaded_process_then_detach(
        guest: tuple[subprocess.Popen[bytes], Path, Path]) -> None:
    p, report, other = guest
    asked = os.fsencode(report.parent / "asked.txt")
    tids_seen: set[int] = set()
    pids_seen: set[int] = set()
    rewritten = 0

    def redirect(call: HookCall) -> None:  # entry: a path replaced by a longer one, placed by umlpy
        nonlocal rewritten
        if call.read_string(call.raw_args[1]) == asked:
            call.set_arg(1, os.fsencode(other))
            rewritten += 1

    def fake_ppid(call: HookCall) -> None:  # exit: every getppid returns 4242
        tids_seen.add(call.tid)
        pids_seen.add(call.pid)
        call.set_return(4242)
        # The guest saw both changes, and every thread was stopped by the hooks: enough.
        if len(tids_seen) >= 4 and rewritten >= 2 and _read(report)[1:] == (4242, "content of other"):
            call.detach()

    r = attach(p.pid, hooks=[Hook.of("openat", on_enter=redirect), Hook.of("getppid", on_exit=fake_ppid)])
    assert r.detached and r.pid == p.pid and r.exit_code is None and r.warnings == ()
    assert pids_seen == {p.pid} and len(tids_seen) >= 4
    tids = [int(t) for t in os.listdir(f"/proc/{p.pid}/task")]
    assert all(_tracer_of(t) == 0 for t in tids) and p.poll() is None
    # Untraced again: the real parent and the real file, and the threads run on.
    _wait_for(lambda: _read(report)[1:] == (os.getpid(), "content of asked"), "the guest to see the real results")
    before = _read(report)[0]
    _wait_for(lambda: _read(report)[0] > before + 20, "the threads to keep running")


def test_fail_at_entry_and_an_exception_in_a_hook_detaches(
        guest: tuple[subprocess.Popen[bytes], Path, Path]) -> None:
    p, report, _other = guest
    asked = os.fsencode(report.parent / "asked.txt")
    failed = 0

    def refuse(call: HookCall) -> None:
        nonlocal failed
        if call.read_string(call.raw_args[1]) == asked:
            call.fail(errno.EACCES)
            failed += 1

    def boom(call: HookCall) -> None:
        if failed >= 2 and _read(report)[2] == "error EACCES":
            raise RuntimeError("a hook bug")

    with pytest.raises(RuntimeError, match="a hook bug"):
        attach(p.pid, hooks=[Hook.of("openat", on_enter=refuse), Hook.of("getppid", on_enter=boom)])
    # Detached, not killed: what umlpy did not start, it does not kill.
    assert all(_tracer_of(int(t)) == 0 for t in os.listdir(f"/proc/{p.pid}/task")) and p.poll() is None
    _wait_for(lambda: _read(report)[2] == "content of asked", "the guest to open the file again")


def test_attach_follows_the_process_to_its_exit() -> None:
    prog = "import os, time\ntime.sleep(0.3)\nfor _ in range(3):\n    os.getppid()\nraise SystemExit(os.getppid() % 256)\n"
    p = subprocess.Popen([sys.executable, "-c", prog])
    try:
        seen: list[int] = []
        r = attach(p.pid, hooks=[Hook.of("getppid", on_exit=lambda c: (seen.append(c.tid), c.set_return(7)))])
        assert (r.detached, r.exit_code, r.signal) == (False, 7, None)
        assert seen == [p.pid] * 4
    finally:
        p.kill()
        p.wait()


def test_attach_errors() -> None:
    with pytest.raises(UmlpyError) as e:
        attach(999999999, hooks=[Hook.of("getppid", on_exit=lambda c: None)])
    assert e.value.status == 2 and "\n" not in str(e.value)


def test_detach_is_for_attached_processes_only() -> None:
    def detach(call: HookCall) -> None:
        call.detach()

    with pytest.raises(HookError, match="detach\\(\\) is for attached processes"):
        Sandbox(SandboxConfig()).run(["true"], hooks=[Hook.of("execve", on_enter=detach)])


def test_trace_p_with_breakpoints(guest: tuple[subprocess.Popen[bytes], Path, Path], tmp_path: Path) -> None:
    """``umlpy trace -p PID --break``: the debugger's prompt on an attached process, then detach."""
    from tests.conftest import run_umlpy

    p, report, other = guest
    out = tmp_path / "trace.out"
    r = run_umlpy("trace", "-p", str(p.pid), "-o", str(out), "--break", "openat:path=*/asked.txt",
                  input=f'p\nset arg1="{other}"\nc\ndetach\n', start_new_session=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("stopped at openat(AT_FDCWD, ") == 2, r.stderr
    assert "umlpy: detached; the process runs on, untraced" in r.stderr
    assert "Traceback" not in r.stderr
    # The first open read the other file (the trace shows the guest's read of it).
    assert '"content of other\\n"' in out.read_text()
    assert all(_tracer_of(int(t)) == 0 for t in os.listdir(f"/proc/{p.pid}/task")) and p.poll() is None
    _wait_for(lambda: _read(report)[2] == "content of asked", "the guest to run on untraced")
