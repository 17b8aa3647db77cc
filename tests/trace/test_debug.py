"""``umlpy debug`` and ``umlpy trace --break``, driven through a pipe.

Each umlpy runs in a new session (no controlling terminal), so the prompt
reads its commands from stdin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_umlpy, umlpy_cmd
from umlpy.debug import parse_break

pytestmark = pytest.mark.usefixtures("traceable")

# Opens app.conf (in the cwd) and reports the outcome.
READ_CONF = ("import errno\n"
             "try:\n"
             "    print(open('app.conf').read().strip())\n"
             "except OSError as e:\n"
             "    print('guest got', errno.errorcode[e.errno])\n")


def _debug(tmp_path: Path, commands: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.conf").write_text("conf content\n")
    (tmp_path / "other.txt").write_text("other content\n")
    return run_umlpy(*args, input=commands, cwd=tmp_path, start_new_session=True)


def test_break_print_return_enoent(tmp_path: Path) -> None:
    r = _debug(tmp_path, "p\nreturn -ENOENT\nc\n",
               "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "guest got ENOENT\n"
    assert 'stopped at openat(AT_FDCWD, "app.conf", O_RDONLY|O_CLOEXEC)' in r.stderr
    assert '  arg1 = "app.conf"' in r.stderr  # print
    assert "openat will not run; it returns -1 ENOENT" in r.stderr


def test_without_commands_the_guest_runs_unchanged(tmp_path: Path) -> None:
    r = _debug(tmp_path, "c\n", "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")


def test_set_argument_and_finish(tmp_path: Path) -> None:
    r = _debug(tmp_path, 'set arg1="other.txt"\nfinish\np\nc\n',
               "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "other content\n"
    # finish: stopped again at the exit, with the result (an fd)
    assert any(line.startswith("umlpy: pid ") and ' = 3' in line for line in r.stderr.splitlines())


def test_return_at_exit_replaces_the_result(tmp_path: Path) -> None:
    r = _debug(tmp_path, "finish\nreturn -EACCES\nc\n",
               "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert r.stdout == "guest got EACCES\n"


def test_nth_occurrence_and_regs_bt_x(tmp_path: Path) -> None:
    prog = "import os\nfor i in range(4):\n    os.write(1, b'w%d\\n' % i)\n"
    r = _debug(tmp_path, "regs\nbt\nx arg1 3\nreturn 3\nc\n",
               "debug", "--break", "write:fd=1:when=3", "--", sys.executable, "-c", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "w0\nw1\nw3\n"  # the third write "succeeded" without running
    assert "hit 3]" in r.stderr
    assert "orig_rax 0x0000000000000001" in r.stderr  # regs: write is syscall 1
    assert " > " in r.stderr and "libc" in r.stderr  # bt
    assert any("77 32 0a " in x and x.endswith(" w2.") for x in r.stderr.splitlines())  # x arg1 3


def test_quit_kills_the_guest(tmp_path: Path) -> None:
    r = _debug(tmp_path, "q\n", "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert r.returncode == 137
    assert r.stdout == ""


def test_end_of_input_detaches(tmp_path: Path) -> None:
    r = _debug(tmp_path, "", "debug", "--break", "openat", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")
    assert r.stderr.count("stopped at") == 1
    assert "end of input: detached" in r.stderr


def test_detach_and_pid_predicate(tmp_path: Path) -> None:
    r = _debug(tmp_path, "detach\n", "debug", "--break", "openat", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")
    assert r.stderr.count("stopped at") == 1
    r = _debug(tmp_path, "", "debug", "--break", "openat:pid=1", "--", sys.executable, "-c", READ_CONF)
    assert "stopped at" not in r.stderr


def test_default_breakpoint_is_the_commands_execve(tmp_path: Path) -> None:
    r = _debug(tmp_path, "p\nc\n", "debug", "--", "/bin/echo", "hi")
    assert r.stdout == "hi\n"
    assert 'stopped at execve("/bin/echo", ["/bin/echo", "hi"]' in r.stderr


def test_bad_commands_keep_the_prompt(tmp_path: Path) -> None:
    r = _debug(tmp_path, "frobnicate\nx\nset arg9=1\nreturn -EWHAT\nset arg1=notanumber\nc\n",
               "debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")
    assert "unknown command 'frobnicate'" in r.stderr
    assert "usage: x ADDR|argN [LEN]" in r.stderr
    assert "no argument 9" in r.stderr
    assert "unknown errno 'EWHAT'" in r.stderr
    assert "not a number: 'notanumber'" in r.stderr
    assert "Traceback" not in r.stderr


def test_commands_from_a_file(tmp_path: Path) -> None:
    script = tmp_path / "cmds"
    script.write_text("return -EPERM\nc\n")
    r = _debug(tmp_path, "", "debug", "--input", str(script), "--break", "openat:path=*.conf", "--",
               sys.executable, "-c", READ_CONF)
    assert r.stdout == "guest got EPERM\n"


def test_other_tasks_run_while_one_is_stopped(tmp_path: Path) -> None:
    """The child sits at a breakpoint; the parent's own trapped openat calls still complete."""
    (tmp_path / "app.conf").write_text("conf content\n")
    prog = ("import os, sys\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    print('child read', open('app.conf').read().strip(), flush=True)\n"
            "    os._exit(0)\n"
            "for _ in range(3):\n"
            "    open('/etc/hostname').close()\n"
            "print('parent ran', flush=True)\n"
            "os.waitpid(pid, 0)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen(umlpy_cmd("debug", "--break", "openat:path=*.conf", "--", sys.executable, "-c", prog),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path, env=env, start_new_session=True)
    assert p.stdin is not None and p.stdout is not None and p.stderr is not None
    try:
        line = p.stderr.readline()
        assert "stopped at openat" in line, line
        # Blocks until the parent has made its trapped calls: no timing involved.
        assert p.stdout.readline() == "parent ran\n"
        p.stdin.write("c\n")
        p.stdin.close()
        assert p.stdout.read() == "child read conf content\n"
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_trace_break(tmp_path: Path) -> None:
    r = _debug(tmp_path, "return -ENOENT\nc\n", "trace", "-e", "trace=openat", "--break", "openat:path=*.conf",
               "--", sys.executable, "-c", READ_CONF)
    assert r.stdout == "guest got ENOENT\n"
    assert "stopped at openat" in r.stderr
    assert 'openat(AT_FDCWD, "app.conf", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)' in r.stderr


@pytest.mark.parametrize("spec", ["", "nosuchcall", "openat:when=0", "openat:fd=x", "openat:color=red",
                                  "openat:path", "openat:pid=abc"])
def test_bad_specs_are_one_line_usage_errors(spec: str) -> None:
    for cmd in ("debug", "trace"):
        r = run_umlpy(cmd, "--break", spec, "--", "true", start_new_session=True)
        assert r.returncode == 2, (cmd, spec, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_parse_break() -> None:
    b = parse_break("openat,stat:path=*.conf:when=2+:pid=7")
    assert b.names == {"openat", "stat"} and b.pid == 7 and b.rule.path == "*.conf"
    assert [n for n in range(1, 5) if b.rule.when(n)] == [2, 3, 4]
    assert "write" in parse_break("%desc").names


# -- breakpoints managed at the prompt -------------------------------------------

def _stops(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " stopped at " in line]


def test_break_at_the_prompt_stops_there(tmp_path: Path) -> None:
    """From the default execve stop, a new breakpoint on a call the run traps (--trap-all) hits."""
    r = _debug(tmp_path, "break openat:path=*.conf\nc\nreturn -ENOENT\nc\n",
               "debug", "--trap-all", "--", sys.executable, "-c", READ_CONF)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "guest got ENOENT\n"
    assert "umlpy: breakpoint 2: openat:path=*.conf\n" in r.stderr
    stops = _stops(r.stderr)
    assert len(stops) == 2 and "[breakpoint 1: execve:when=1, hit 1]" in stops[0]
    assert 'openat(AT_FDCWD, "app.conf"' in stops[1] and stops[1].endswith("[breakpoint 2: openat:path=*.conf, hit 1]")


def test_break_at_the_prompt_on_a_call_umlpy_traps_anyway(tmp_path: Path) -> None:
    """kill(2) is trapped for containment, so a prompt breakpoint reaches it without --trap-all."""
    prog = ("import os\n"
            "try:\n"
            "    os.kill(os.getpid(), 0)\n"
            "    print('kill ran')\n"
            "except PermissionError:\n"
            "    print('kill refused')\n")
    r = _debug(tmp_path, "break kill\nc\nreturn -EPERM\nc\n", "debug", "--", sys.executable, "-c", prog)
    assert (r.returncode, r.stdout) == (0, "kill refused\n"), r.stderr
    assert "[breakpoint 2: kill, hit 1]" in r.stderr


def test_break_on_an_untrapped_call_is_refused_with_one_line(tmp_path: Path) -> None:
    r = _debug(tmp_path, "break openat\ninfo break\nc\n", "debug", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")
    assert "umlpy: break: openat: not trapped in this run, so it cannot stop there" in r.stderr
    assert "breakpoint 2" not in r.stderr and len(_stops(r.stderr)) == 1
    assert "Traceback" not in r.stderr


def test_info_break_and_delete(tmp_path: Path) -> None:
    script = ("break openat:path=*.conf\n"
              "b write:fd=1\n"
              "info break\n"
              "delete 3\n"
              "breaks\n"
              "delete 9\n"
              "delete x\n"
              "c\n"       # execve -> the openat breakpoint
              "c\n")
    r = _debug(tmp_path, script, "debug", "--trap-all", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n"), r.stderr
    listings = r.stderr.split("Num  Hits  Spec\n")[1:]
    assert len(listings) == 2
    first = listings[0].splitlines()[:3]
    assert [ln.split() for ln in first] == [["1", "1", "execve:when=1"], ["2", "0", "openat:path=*.conf"],
                                            ["3", "0", "write:fd=1"]]
    second = [ln.split() for ln in listings[1].splitlines()[:3]]
    assert second[:2] == [["1", "1", "execve:when=1"], ["2", "0", "openat:path=*.conf"]]
    assert "umlpy: deleted breakpoint 3" in r.stderr
    assert "umlpy: delete: no breakpoint 9" in r.stderr
    assert "umlpy: delete: not a number: 'x'" in r.stderr
    # The deleted write breakpoint never stopped the guest's print.
    stops = _stops(r.stderr)
    assert len(stops) == 2 and "[breakpoint 2: openat:path=*.conf, hit 1]" in stops[1]


def test_numbers_are_not_reused_and_delete_all(tmp_path: Path) -> None:
    r = _debug(tmp_path, "delete 1\nbreak openat:path=*.conf\ndelete\ninfo break\nbreak write:fd=1:when=1\nc\nc\n",
               "debug", "--trap-all", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n"), r.stderr
    assert "umlpy: breakpoint 2: openat:path=*.conf" in r.stderr
    assert "umlpy: deleted all breakpoints" in r.stderr and "umlpy: no breakpoints" in r.stderr
    stops = _stops(r.stderr)
    assert len(stops) == 2 and stops[1].endswith("[breakpoint 3: write:fd=1:when=1, hit 1]")


def test_bad_break_commands_keep_the_prompt(tmp_path: Path) -> None:
    r = _debug(tmp_path, "break\nbreak nosuchcall\nbreak openat:when=0\ninfo frob\nc\n",
               "debug", "--", sys.executable, "-c", READ_CONF)
    assert (r.returncode, r.stdout) == (0, "conf content\n")
    assert "umlpy: break: usage: break SPEC" in r.stderr
    assert "umlpy: break: 'nosuchcall': " in r.stderr
    assert "umlpy: break: 'openat:when=0': " in r.stderr
    assert "umlpy: info: usage: info break" in r.stderr
    assert "Traceback" not in r.stderr


def test_trace_break_at_the_prompt(tmp_path: Path) -> None:
    """umlpy trace traps every call, so a prompt breakpoint can name any."""
    r = _debug(tmp_path, "break openat:path=*.conf\nc\nreturn -ENOENT\nc\n",
               "trace", "--break", "execve", "--", sys.executable, "-c", READ_CONF)
    assert r.stdout == "guest got ENOENT\n", r.stderr
    assert "[breakpoint 2: openat:path=*.conf, hit 1]" in r.stderr
