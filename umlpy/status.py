"""The live status of a long run, in the terminal's title.

``umlpy run`` shows, once the guest has run for :data:`DELAY` seconds and
while stderr is a terminal, one line that rewrites itself at most
:data:`MAX_RATE` times a second::

    umlpy make · 12s · 3 procs · 4512 trapped, 2 denied · 1.2 MB written

(elapsed time, processes alive, syscalls the tracer trapped and refused,
bytes in the copy-on-write layers — :class:`umlpy.vfs.meter.UpperMeter`).

Where the line goes, and why there
----------------------------------

The guest shares the terminal and writes to it directly: write(2) is not
trapped, so umlpy cannot erase a status line before a guest write lands.
Whatever umlpy draws *in the text area* can therefore be overwritten by, or
interleaved with, the guest's output at any moment:

* a line drawn at the cursor (``\\r…\\e[K``) gets the guest's next bytes
  written over it, leaving a mix of both on screen;
* "only when the tty has been idle" cannot be observed: a pty's TIOCOUTQ
  is always 0 (the data moves to the master at once), a tty has no file
  position, and its inode times move in 8-second steps (``tty_update_time``
  hides keystroke timing);
* a line below the cursor with save/restore (``\\e7 … \\e8``) or a
  reserved bottom row (a scroll region) scrolls or breaks full-screen
  programs that address the screen themselves (less, vim, top).

So the status goes to the one place the guest's text never reaches: the
window (tab) title, set with ``OSC 2 ; TEXT BEL`` (xterm's control
sequences, implemented by every emulator with a title: VTE, kitty, iTerm2,
Windows Terminal, tmux and screen pane titles).  Each update is one write(2)
of one complete sequence, and the tty layer holds ``atomic_write_lock`` for
the whole of a write(2) (``tty_write`` → ``file_tty_write``), so an update
never lands inside one of the guest's write calls; the guest's bytes reach
the terminal exactly as written (the pty tests check them byte for byte).
Only a guest that split one escape sequence of its own across two write
calls could see an update between the halves — redrawing only on change
makes that rarer still.

The title is saved first with the xterm title stack (``CSI 22;2 t``) and
restored at the end (``CSI 23;2 t``); a terminal without the stack ignores
both, and the title is then left empty rather than stale.  No status on
``TERM=dumb``, ``TERM=linux`` (the Linux console prints unknown OSC
strings) or with TERM unset, with ``-q`` or ``--no-status``, when stderr is
not a terminal, and while umlpy is not in the terminal's foreground process
group (a background write could stop it and the guest with SIGTTOU).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

from umlpy.sandbox import Progress

DELAY = 1.0  # seconds before the first update: short runs show nothing
MAX_RATE = 5  # updates a second, at most
NO_TITLE_TERMS = frozenset({"", "dumb", "linux"})

PUSH_TITLE = b"\x1b[22;2t"
POP_TITLE = b"\x1b[23;2t"
CLEAR_TITLE = b"\x1b]2;\x07"


def title(text: str) -> bytes:
    """The OSC 2 sequence setting the title to ``text`` (control characters replaced)."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return b"\x1b]2;" + clean.encode("utf-8", "replace") + b"\x07"


def _elapsed(s: float) -> str:
    s = int(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _bytes(n: int) -> str:
    v = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if v < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} GB"


def line(p: Progress, command: str) -> str:
    """The status text for ``p``."""
    parts = [f"umlpy {command}", _elapsed(p.elapsed_s), f"{p.processes} proc{'s' if p.processes != 1 else ''}",
             f"{p.trapped} trapped, {p.denied} denied"]
    if p.overlay_bytes is not None:
        parts.append(f"{_bytes(p.overlay_bytes)} written")
    return " · ".join(parts)


def wanted(fd: int, env: Mapping[str, str]) -> bool:
    """Should a run whose stderr is ``fd`` show the live status?"""
    try:
        return os.isatty(fd) and env.get("TERM", "") not in NO_TITLE_TERMS
    except OSError:
        return False


def _foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True  # not our controlling terminal: no job control, no SIGTTOU


class LiveStatus:
    """A :class:`umlpy.sandbox.Monitor` drawing :func:`line` into the title of the terminal at ``fd``."""

    def __init__(self, fd: int, command: str, *, delay: float = DELAY, rate: float = MAX_RATE) -> None:
        self.fd = fd
        self.command = os.path.basename(command)[:40]
        self.delay = delay
        self.interval = 1.0 / rate
        self.updates = 0  # titles written (for tests and curious callers)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._pushed = False

    def start(self, sample: Callable[[], Progress]) -> None:
        self._thread = threading.Thread(target=self._run, args=(sample,), daemon=True, name="umlpy-status")
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a write blocked by a stopped terminal (^S) must not hold umlpy
        if self._pushed:
            self._write(CLEAR_TITLE + POP_TITLE)

    def _run(self, sample: Callable[[], Progress]) -> None:
        if self._halt.wait(self.delay):
            return
        shown = b""
        while True:
            text = title(line(sample(), self.command))
            if text != shown and _foreground(self.fd):
                if not self._write((b"" if self._pushed else PUSH_TITLE) + text):
                    return
                self._pushed = True
                self.updates += 1
                shown = text
            if self._halt.wait(self.interval):
                return

    def _write(self, data: bytes) -> bool:
        """One write(2), so the tty writes it whole between the guest's writes; False on failure."""
        try:
            return os.write(self.fd, data) == len(data)
        except OSError:
            return False
