"""umlpy run as a command: statuses, one-line errors, signals, reports, limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, run_umlpy, umlpy_cmd

pytestmark = pytest.mark.usefixtures("traceable")


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_exit_status_and_stdio_pass_through() -> None:
    r = run_umlpy("run", "--", "sh", "-c", "read x; echo got $x; echo err >&2; exit 42", input="abc\n")
    assert (r.stdout, r.returncode) == ("got abc\n", 42)
    assert r.stderr == "err\n"


def test_environment_passes_through() -> None:
    r = run_umlpy("run", "--", "sh", "-c", "echo $UMLPY_TEST_TAG")
    assert r.stdout.strip() == os.environ["UMLPY_TEST_TAG"]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["no-such-command-xyz"], 127, "umlpy: no-such-command-xyz: command not found"),
        (["/no/such/file"], 127, "umlpy: /no/such/file: No such file or directory"),
        (["/tmp"], 126, "umlpy: /tmp: Is a directory"),
        (["NOEXEC"], 126, "umlpy: NOEXEC: Permission denied"),
    ],
)
def test_command_errors_like_a_shell(argv: list[str], status: int, message: str, tmp_path: Path) -> None:
    noexec = tmp_path / "noexec"
    noexec.write_text("echo hi\n")
    noexec.chmod(0o644)
    argv = [str(noexec) if a == "NOEXEC" else a for a in argv]
    message = message.replace("NOEXEC", str(noexec))
    r = run_umlpy("run", "--", *argv)
    assert r.returncode == status
    assert _one_line(r.stderr) == message
    # bash agrees on the status
    assert subprocess.run(["bash", "-c", " ".join(argv)], capture_output=True, check=False).returncode == status


@pytest.mark.parametrize(
    "args",
    [["run"], ["run", "--"], ["run", "--timeout", "abc", "--", "true"], ["run", "--memory", "lots", "--", "true"],
     ["frobnicate"], ["run", "--cpu", "x", "--", "true"], ["run", "--max-procs", "0", "--", "true"]],
)
def test_bad_usage_is_one_line_status_2(args: list[str]) -> None:
    r = run_umlpy(*args)
    assert r.returncode == 2
    _one_line(r.stderr)


def test_refusals_reported(build_guest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--report", str(report), "--", str(build_guest("int80")))
    assert r.stdout == "write=-38 getpid=-38\n"  # -ENOSYS, and nothing written
    data = json.loads(report.read_text())
    assert data["denied"] == {"i386:write": 1, "i386:getpid": 1}
    assert {d["abi"] for d in data["denials"]} == {"i386"}
    assert "refused 2 syscall(s)" in r.stderr

    r = run_umlpy("run", "--report", str(report), "--", str(build_guest("iouring")))
    assert r.stdout == "io_uring_setup=-1 errno=Operation not permitted\n"
    assert json.loads(report.read_text())["denied"] == {"io_uring_setup": 1}


def test_clone_untraced_child_is_still_traced(build_guest) -> None:  # type: ignore[no-untyped-def]
    r = run_umlpy("run", "-q", "--", str(build_guest("untraced")))
    assert "child io_uring_setup=-1 errno=1\n" in r.stdout  # EPERM from umlpy, not ENOSYS


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(umlpy_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_line(p: subprocess.Popen[str]) -> str:
    assert p.stdout is not None
    return p.stdout.readline()


def test_sigterm_to_umlpy_reaches_guest() -> None:
    p = _start("run", "--", "sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.05; done")
    assert _wait_line(p) == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    assert out == "got TERM\n"
    assert p.returncode == 9


def test_sigint_to_umlpy_reaches_guest() -> None:
    p = _start("run", "--", sys.executable, "-c",
               "import time\ntry:\n print('ready', flush=True); time.sleep(60)\nexcept KeyboardInterrupt:\n print('int')")
    assert _wait_line(p) == "ready\n"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    assert (out, p.returncode) == ("int\n", 0)


def test_guest_dies_with_umlpy_even_if_it_ignores_sigterm() -> None:
    p = _start("run", "--", "sh", "-c", "trap '' TERM; sleep 1000 & echo $!; wait")
    child = int(_wait_line(p))
    assert psutil.pid_exists(child)
    p.kill()  # SIGKILL the tracer: PTRACE_O_EXITKILL takes the guest with it
    p.wait(timeout=10)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "guest survived umlpy"
        time.sleep(0.05)


def test_kill_on_exit_is_the_default_and_wait_all_waits(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    script = f"(sleep 0.5; echo late > {marker}) & echo main-done"
    r = run_umlpy("run", "-q", "--", "sh", "-c", script)
    assert r.stdout == "main-done\n"
    time.sleep(0.8)
    assert not marker.exists()  # the leftover was killed with the main process
    r = run_umlpy("run", "-q", "--wait-all", "--write", str(tmp_path), "--", "sh", "-c", script)
    assert marker.read_text() == "late\n"


def test_timeout_exits_124() -> None:
    r = run_umlpy("run", "--timeout", "0.5", "--", "sleep", "30")
    assert r.returncode == 124
    assert "timeout limit reached" in r.stderr


def test_memory_limit_exits_124() -> None:
    r = run_umlpy("run", "--memory", "100M", "--", sys.executable, "-c",
                  "import time\nx=[]\nwhile True:\n x.append(bytearray(10<<20)); time.sleep(0.01)")
    assert r.returncode == 124
    assert "memory limit reached" in r.stderr


def test_max_procs_gives_eagain() -> None:
    r = run_umlpy("run", "-q", "--max-procs", "5", "--", sys.executable, "-c",
                  "import os,time\nn=0\ntry:\n while True:\n  if os.fork()==0: time.sleep(2); os._exit(0)\n  n+=1\n"
                  "except BlockingIOError: print('EAGAIN after', n)")
    assert r.stdout.startswith("EAGAIN after ")
    assert int(r.stdout.split()[-1]) <= 5


def test_read_only_host_with_write_exception(tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    script = f"echo a > {ok}/f && echo b > {tmp_path}/g; echo status $?; echo c > /dev/null"
    r = run_umlpy("run", "-q", "--read-only", "--write", str(ok), "--", "sh", "-c", script)
    assert (ok / "f").read_text() == "a\n"
    assert not (tmp_path / "g").exists()
    assert "status 0" not in r.stdout
    assert "Read-only file system" in r.stderr
    # The same under --host-fs: Landlock alone refuses it.
    (ok / "f").unlink()
    r = run_umlpy("run", "-q", "--host-fs", "--write", str(ok), "--", "sh", "-c", script)
    assert (ok / "f").read_text() == "a\n"
    assert not (tmp_path / "g").exists()
    assert "Permission denied" in r.stderr


def test_script_without_shebang_runs_under_sh(tmp_path: Path) -> None:
    script = tmp_path / "s"
    script.write_text("echo plain script $1\n")
    script.chmod(0o755)
    r = run_umlpy("run", "-q", "--", str(script), "arg")
    assert (r.stdout, r.returncode) == ("plain script arg\n", 0)


def test_doctor_and_syscalls() -> None:
    r = run_umlpy("doctor", "--json")
    assert r.returncode == 0
    facts = json.loads(r.stdout)
    assert facts["ptrace_seccomp"] is True
    r = run_umlpy("syscalls", "--format", "json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["io_uring_setup"]["trap"] == "refused"
    assert rows["getppid"]["stops"] is False
    assert rows["kill"]["stops"] is True
    assert len([n for n, row in rows.items() if row["x86_64"] is not None]) > 370


def test_net_none_refuses_other_families_and_host_loopback_but_keeps_unix_and_netlink(tmp_path: Path) -> None:
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    accepted: list[object] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(srv.accept())
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    port = srv.getsockname()[1]
    prog = (
        "import socket,subprocess\n"
        "for fam, typ in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM), (socket.AF_PACKET, socket.SOCK_RAW)):\n"
        "  try: socket.socket(fam, typ); print('created', fam)\n"
        "  except OSError as e: print('refused', e.errno)\n"
        f"try: socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')\n"
        "except OSError as e: print('connect refused', e.errno)\n"
        "a, b = socket.socketpair(); a.send(b'x'); print('unix', b.recv(1))\n"
        "print('netlink', socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).family)\n"
    )
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--net", "none", "--report", str(report), "--", sys.executable, "-c", prog)
    assert r.stdout.splitlines() == ["created 2", "created 10", "refused 13", "connect refused 111", "unix b'x'",
                                     "netlink 16"], r.stderr
    assert json.loads(report.read_text())["denied"] == {"socket": 1, "connect": 1}
    # the same client reaches the test's server with the host network, and only with it:
    # --net none is the default
    client = f"import socket; socket.create_connection(('127.0.0.1', {port})); print('ok')"
    r = run_umlpy("run", "-q", "--net", "host", "--", sys.executable, "-c", client)
    assert r.stdout == "ok\n"
    r = run_umlpy("run", "-q", "--", sys.executable, "-c", client)
    assert r.stdout == "" and "Connection refused" in r.stderr
    time.sleep(0.3)
    done.set()
    t.join()
    srv.close()
    assert len(accepted) == 1  # only the --net host run ever connected


def test_metadata_changes_only_beneath_writable_paths(tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("x")
    outside.chmod(0o644)
    before = outside.stat()
    script = (
        f"cd {ok} && touch f && chmod 600 f && touch -d 2001-01-01 f && cp -p /etc/hostname h && ln -s f l && "
        f"chmod 700 l && echo inside-ok; chmod 777 {outside}; touch -d 1999-01-01 {outside}; "
        f"ln -s {outside} {ok}/evil; chmod 777 {ok}/evil; echo done"
    )
    r = run_umlpy("run", "-q", "--write", str(ok), "--", "sh", "-c", script)
    assert "inside-ok" in r.stdout and "done" in r.stdout, r.stderr
    st = (ok / "f").stat()
    assert (st.st_mode & 0o777, time.gmtime(st.st_mtime).tm_year) == (0o700, 2001)  # chmod through the link
    after = outside.stat()
    assert (after.st_mode, after.st_mtime_ns, after.st_ctime_ns) == (before.st_mode, before.st_mtime_ns, before.st_ctime_ns)
