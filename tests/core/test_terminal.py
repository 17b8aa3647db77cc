"""Job control and terminal signals, in a real pty with an interactive bash."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("traceable")


class Term:
    def __init__(self) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["PYTHONPATH"] = str(REPO)
            os.environ["PS1"] = "$ "
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        self.pid, self.fd, self.buf = pid, fd, ""

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def expect(self, text: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        while text not in self.buf:
            left = end - time.monotonic()
            assert left > 0, f"timed out waiting for {text!r}; got {self.buf[-500:]!r}"
            r, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if r:
                try:
                    self.buf += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    break
        assert text in self.buf, f"terminal closed before {text!r}; got {self.buf[-500:]!r}"
        i = self.buf.index(text) + len(text)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen

    def close(self) -> None:
        """End the shell, whatever state its jobs are in; never hang."""
        try:
            os.killpg(os.getpgid(self.pid), signal.SIGKILL)
        except OSError:
            pass
        for _ in range(100):
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.05)
        os.close(self.fd)


UMLPY = f"{sys.executable} -m umlpy run -q --"


def test_ctrl_z_then_fg() -> None:
    t = Term()
    try:
        # Markers are assembled at run time so the terminal's echo of the
        # command line never matches them.
        t.send(f"{UMLPY} sh -c 'r=read; echo $r-ing; read x; echo got-$x; i=0; while [ $i -lt 5 ]; do i=$((i+1)); "
               "sleep 0.05; done; d=done; echo $d-loop'\n")
        t.expect("read-ing")
        time.sleep(0.2)
        t.send("\x1a")  # Ctrl-Z: the shell's job (umlpy and its guest) stops
        t.expect("Stopped")
        t.send("fg\n")
        time.sleep(0.3)
        t.send("hello\n")  # the guest has the terminal again
        t.expect("got-hello")
        t.expect("done-loop")
        t.send("echo status=$?\n")
        t.expect("status=0")
    finally:
        t.close()


def test_ctrl_c_reaches_guest_once() -> None:
    t = Term()
    try:
        t.send(f"{UMLPY} {sys.executable} -c \"import time\n"
               f"try:\n print('re' + 'ady', flush=True); time.sleep(30)\n"
               f"except KeyboardInterrupt:\n print('ca' + 'ught'); time.sleep(0.3); print('on' + 'ce')\"\n")
        t.expect("ready")
        t.send("\x03")
        t.expect("caught")
        t.expect("once")
        t.send("echo status=$?\n")
        t.expect("status=0")
    finally:
        t.close()
