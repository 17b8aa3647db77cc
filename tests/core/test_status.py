"""The live status (umlpy.status) in a real pty, with real guests under the real tracer.

umlpy runs as the session leader of a pty (pty.fork: the pty is its
controlling terminal, stdin/stdout/stderr all on it).  The test reads the
master side: the status appears as OSC 2 title updates, and with those
removed the bytes are exactly the guest's own output.  Nothing is timed:
UMLPY_STATUS_DELAY=0 makes the status start at once, and the guest waits
on the terminal for the test's go-ahead, which the test gives only once it
has read the status it is looking for.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import termios
import time

import pytest

from tests.conftest import REPO, run_umlpy
from umlpy import status
from umlpy.sandbox import Progress

pytestmark = pytest.mark.usefixtures("traceable")

OURS = re.compile(rb"\x1b\]2;[^\x07]*\x07|\x1b\[2[23];2t")
TITLE = re.compile(rb"\x1b\]2;([^\x07]*)\x07")


class Pty:
    """``umlpy ARGS`` as the session leader of a fresh pty, echo off."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, stderr: str | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once, nothing else
            try:
                if stderr is not None:
                    os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
                attrs = termios.tcgetattr(0)
                attrs[3] &= ~termios.ECHO  # the test's go-ahead must not show up as output
                termios.tcsetattr(0, termios.TCSANOW, attrs)
                e = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", UMLPY_STATUS_DELAY="0")
                e.update(env or {})
                os.execve(sys.executable, [sys.executable, "-m", "umlpy", *args], e)
            finally:
                os._exit(127)
        self.pid, self.fd, self.out = pid, fd, b""

    def read_until(self, pred: re.Pattern[bytes] | bytes, limit: float = 60) -> None:
        """Read the master until ``pred`` matches what was read (``limit``: a hang guard, not a timing check)."""
        end = time.monotonic() + limit
        while not (pred.search(self.out) if isinstance(pred, re.Pattern) else pred in self.out):
            assert time.monotonic() < end, f"never saw {pred!r}; got {self.out[-400:]!r}"
            if not self._read():
                raise AssertionError(f"terminal closed before {pred!r}; got {self.out[-400:]!r}")

    def _read(self) -> bool:
        r, _, _ = select.select([self.fd], [], [], 0.2)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: every slave fd closed
            return False
        self.out += data
        return bool(data)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, limit: float = 60) -> int:
        end = time.monotonic() + limit
        while self._read():
            assert time.monotonic() < end, f"umlpy did not finish; got {self.out[-400:]!r}"
        try:
            _, st = os.waitpid(self.pid, 0)
        finally:
            os.close(self.fd)
        return os.waitstatus_to_exitcode(st)

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


@pytest.fixture
def term():  # type: ignore[no-untyped-def]
    made: list[Pty] = []

    def make(*args: str, env: dict[str, str] | None = None, stderr: str | None = None) -> Pty:
        t = Pty(*args, env=env, stderr=stderr)
        made.append(t)
        return t

    yield make
    for t in made:
        t.kill()


GUEST = (
    "head -c 5000 /dev/zero > ./status-out; echo hello; read go; "
    r"printf '\033[31mred\033[0m and a partial line'; printf ' finished\n'; echo world"
)
GUEST_OUTPUT = b"hello\r\n\x1b[31mred\x1b[0m and a partial line finished\r\nworld\r\n"


def test_status_appears_and_guest_output_is_intact(term, tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = term("run", "--discard", "--", "sh", "-c", f"cd {tmp_path} && {GUEST}")
    # The guest waits on `read` until the title has shown its 5000 bytes written.
    t.read_until(re.compile(rb"\x1b\]2;umlpy sh [^\x07]* 4\.9 KB written\x07"))
    t.read_until(b"hello\r\n")
    t.send(b"go\n")
    assert t.finish() == 0
    titles = [m.decode() for m in TITLE.findall(t.out)]
    shown = [x for x in titles if x]
    assert shown and all(x.startswith("umlpy sh · ") for x in shown), titles
    assert any(re.search(r"\d+ procs? · \d+ trapped, \d+ denied · ", x) for x in shown), titles
    # The summary at exit (a file was written) comes after the run, the status before it.
    during, _, summary = t.out.partition(b"umlpy: ")
    assert b"status-out" in summary
    # Saved first, restored when the guest is gone (cleared for terminals without a title stack).
    assert during.startswith(status.PUSH_TITLE)
    assert during.endswith(status.CLEAR_TITLE + status.POP_TITLE)
    # Without umlpy's own sequences, the terminal got the guest's bytes and nothing else.
    assert OURS.sub(b"", during) == GUEST_OUTPUT
    assert not (tmp_path / "status-out").exists()  # the sandbox's write stayed in the sandbox


@pytest.mark.parametrize("how", [["-q"], ["--no-status"]])
def test_off_with_quiet_or_no_status(term, how: list[str]) -> None:  # type: ignore[no-untyped-def]
    t = term("run", *how, "--", "sh", "-c", "echo hello; read go; echo world")
    t.read_until(b"hello\r\n")
    t.send(b"go\n")
    assert t.finish() == 0
    assert t.out == b"hello\r\nworld\r\n"  # delay 0: a status would have been drawn by now


def test_off_on_a_dumb_terminal(term) -> None:  # type: ignore[no-untyped-def]
    t = term("run", "--", "sh", "-c", "echo hello; read go; echo world", env={"TERM": "dumb"})
    t.read_until(b"hello\r\n")
    t.send(b"go\n")
    assert t.finish() == 0
    assert b"\x1b" not in t.out


def test_off_when_stderr_is_not_a_terminal(term, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # stdout and stdin stay on the terminal; stderr goes to a file.
    err = tmp_path / "err"
    t = term("run", "--", "sh", "-c", "echo hello; read go; echo world", stderr=str(err))
    t.read_until(b"hello\r\n")
    t.send(b"go\n")
    assert t.finish() == 0
    assert t.out == b"hello\r\nworld\r\n"
    assert b"\x1b" not in err.read_bytes()


def test_bad_delay_is_one_line_exit_2(term) -> None:  # type: ignore[no-untyped-def]
    t = term("run", "--", "true", env={"UMLPY_STATUS_DELAY": "soon"})
    assert t.finish() == 2
    assert t.out.count(b"\n") == 1 and b"UMLPY_STATUS_DELAY" in t.out


def test_no_status_without_a_terminal() -> None:
    r = run_umlpy("run", "--", "sh", "-c", "echo hi", env=dict(os.environ, TERM="xterm", UMLPY_STATUS_DELAY="0"))
    assert r.returncode == 0 and r.stdout == "hi\n"
    assert "\x1b" not in r.stderr


def test_line_and_title_text() -> None:
    p = Progress(elapsed_s=125.4, processes=1, trapped=42, denied=3, overlay_bytes=3 * 1024 * 1024)
    assert status.line(p, "make") == "umlpy make · 2m05s · 1 proc · 42 trapped, 3 denied · 3.0 MB written"
    no_vfs = Progress(elapsed_s=3, processes=2, trapped=0, denied=0, overlay_bytes=None)
    assert status.line(no_vfs, "x") == "umlpy x · 3s · 2 procs · 0 trapped, 0 denied"
    # A command name is the guest's to choose: no terminal control through it.
    assert status.title("a\x07b\x1b]0;pwned") == b"\x1b]2;a?b?]0;pwned\x07"
