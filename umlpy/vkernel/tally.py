"""Bounded tallies the run report shows: files read, unimplemented calls.

Both are fed from the tracer thread on hot paths (every read-only open, every
call the dispatcher refuses with ENOSYS), so a note costs one dict lookup
and memory is bounded whatever the guest does: past ``limit`` distinct keys
a new key is only counted (``dropped``), and the ``total`` stays exact.  A
guest looping over random syscall numbers or opening a million files cannot
grow the tracer's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_FILES_READ = 10_000
MAX_UNIMPLEMENTED = 1_000


@dataclass(slots=True)
class Tally:
    """Distinct keys with counts, at most ``limit`` of them."""

    limit: int
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0  # every note, kept or not
    dropped: int = 0  # notes of keys beyond the limit

    def note(self, key: str) -> None:
        self.total += 1
        n = self.counts.get(key)
        if n is not None:
            self.counts[key] = n + 1
        elif len(self.counts) < self.limit:
            self.counts[key] = 1
        else:
            self.dropped += 1


def files_read() -> Tally:
    return Tally(MAX_FILES_READ)


def unimplemented() -> Tally:
    return Tally(MAX_UNIMPLEMENTED)
