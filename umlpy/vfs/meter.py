"""How many bytes the guest has put in the copy-on-write layers, cheaply.

The live status shows this several times a second while the guest runs;
walking the upper directories that often would cost more than the guest.
Instead the vfs notes, as it happens, every upper-layer file it hands the
host kernel for writing (:meth:`umlpy.vfs.vfs.Vfs.prepare_write` for
``WRITE``/``CREATE`` intents, the target of a rename).  Data written later
through an open descriptor is not seen by the tracer (write(2) is not
trapped), so :meth:`UpperMeter.sample` re-stats the noted files round-robin,
at most ``budget`` per call, and sums the last size seen of each: the total
converges within a few samples and never costs more than ``budget`` stats.

Threads: :meth:`note` runs in the tracer thread, :meth:`sample` in the
status thread.  The path list only grows (append is atomic under the GIL)
and ``sample`` reads a prefix of it, so no lock is needed.  Files the guest
deleted stat as missing and count 0; at most :data:`MAX_TRACKED` files are
tracked (the rest are counted in ``untracked``).
"""

from __future__ import annotations

import os
import stat

MAX_TRACKED = 100_000


class UpperMeter:
    def __init__(self) -> None:
        self._paths: list[bytes] = []
        self._known: set[bytes] = set()
        self._sizes: list[int] = []  # status thread only: last size seen, by index
        self._next = 0
        self.untracked = 0

    def note(self, host: bytes) -> None:
        """``host`` (an upper-layer path) may receive data from now on."""
        if host in self._known:
            return
        if len(self._paths) >= MAX_TRACKED:
            self.untracked += 1
            return
        self._known.add(host)
        self._paths.append(host)

    def sample(self, budget: int = 128) -> int:
        """Bytes in the noted files now (sizes at most a few samples old)."""
        n = len(self._paths)
        self._sizes.extend([0] * (n - len(self._sizes)))
        if n:
            for _ in range(min(budget, n)):
                i = self._next % n
                self._next = i + 1
                try:
                    st = os.lstat(self._paths[i])
                except OSError:
                    self._sizes[i] = 0
                else:
                    self._sizes[i] = st.st_size if stat.S_ISREG(st.st_mode) else 0
        return sum(self._sizes)

    @property
    def files(self) -> int:
        return len(self._paths) + self.untracked
