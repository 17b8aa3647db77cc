"""``umlpy trace`` output format: strace's lines, prefixes, exits, signals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def trace(tmp_path: Path, *args: str) -> tuple[list[str], int]:
    out = tmp_path / "trace.txt"
    r = run_umlpy("trace", "-o", str(out), *args, timeout=60)
    return out.read_text().splitlines(), r.returncode


def strip_pid(line: str) -> str:
    return re.sub(r"^\d+ +", "", line)


def test_file_lines(tmp_path: Path) -> None:
    lines, rc = trace(tmp_path, "--", "cat", "/etc/hostname", "/nonexistent")
    assert rc == 1
    body = [strip_pid(x) for x in lines]
    assert body[0].startswith('execve("/usr/bin/cat", ["cat", "/etc/hostname", "/nonexistent"], 0x')
    assert body[0].endswith(" vars */) = 0")
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3' in body
    assert 'openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)' in body
    assert body[-2] == "exit_group(1)                     = ?" or body[-2].startswith("exit_group(1)")
    assert body[-1] == "+++ exited with 1 +++"
    # strace aligns " = " at column 39 (pid prefix included).
    short = next(x for x in lines if "brk(NULL)" in x)
    assert short.index(" = ") == 39


def test_stderr_single_process_has_no_prefix() -> None:
    r = run_umlpy("trace", "-qq", "-e", "trace=exit_group", "--", "true", timeout=60)
    assert r.returncode == 0
    assert r.stderr.splitlines() == ["exit_group(0)                           = ?"]


def test_qq_hides_exit_lines(tmp_path: Path) -> None:
    lines, _ = trace(tmp_path, "-qq", "--", "true")
    assert not any("+++" in x for x in lines)


def test_killed_by_signal(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    lines, rc = trace(tmp_path, "-e", "trace=none", "--", str(build_guest("segv")))
    assert rc == -11  # umlpy dies of the guest's signal, as strace does
    body = [strip_pid(x) for x in lines]
    assert body[0] == "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"
    assert re.fullmatch(r"\+\+\+ killed by SIGSEGV( \(core dumped\))? \+\+\+", body[1])


def test_sigchld_and_children(tmp_path: Path) -> None:
    lines, rc = trace(tmp_path, "-e", "trace=%process", "--", "sh", "-c", "/bin/true; exit 3")
    assert rc == 3
    text = "\n".join(lines)
    assert re.search(
        r"--- SIGCHLD \{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=\d+, si_uid=\d+, si_status=0, "
        r"si_utime=\d+( /\* [0-9.]+ s \*/)?, si_stime=\d+( /\* [0-9.]+ s \*/)?\} ---", text)
    assert re.search(r'execve\("/bin/true", \["/bin/true"\], 0x[0-9a-f]+ /\* \d+ vars? \*/', text)
    assert re.search(r"wait4\(-1, ", text)
    assert re.search(r"\[\{WIFEXITED\(s\) && WEXITSTATUS\(s\) == 0\}\], 0, NULL\) += \d+", text)
    assert text.count("+++ exited with 0 +++") == 1
    assert lines[-1].endswith("+++ exited with 3 +++")


def test_threads_unfinished_and_resumed(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    lines, rc = trace(tmp_path, "-e", "trace=getppid,futex,exit", "--", str(build_guest("threads")))
    assert rc == 0
    pids = {int(x.split()[0]) for x in lines}
    assert len(pids) == 9
    assert sum(1 for x in lines if re.search(r"getppid\(\) |<... getppid resumed>", x)) == 400
    # Every "<unfinished ...>" is later resumed by the same task.
    open_calls: dict[str, str] = {}
    for x in lines:
        pid = x.split()[0]
        m = re.search(r"(\w+)\(.* <unfinished \.\.\.>$", x)
        if m:
            assert pid not in open_calls
            open_calls[pid] = m.group(1)
        m = re.search(r"<\.\.\. (\w+) resumed>", x)
        if m:
            assert open_calls.pop(pid) == m.group(1)
    assert not open_calls


def test_stderr_prefix_with_several_tasks() -> None:
    r = run_umlpy("trace", "-e", "trace=execve,exit_group", "--", "sh", "-c", "/bin/true; true", timeout=60)
    assert r.returncode == 0
    assert re.search(r"^\[pid +\d+\] execve\(\"/bin/true\"", r.stderr, re.MULTILINE)


def test_usage_errors() -> None:
    r = run_umlpy("trace", "-e", "trace=nosuchcall", "--", "true", timeout=60)
    assert r.returncode == 2
    assert "invalid system call 'nosuchcall'" in r.stderr
    r = run_umlpy("trace", timeout=60)
    assert r.returncode == 2
