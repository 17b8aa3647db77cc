"""tally.py: bounded counts for the run report."""

from __future__ import annotations

from umlpy.vkernel.tally import Tally


def test_counts_and_bound() -> None:
    t = Tally(limit=2)
    for k in ("a", "b", "a", "c", "c", "a"):
        t.note(k)
    assert t.counts == {"a": 3, "b": 1}
    assert (t.total, t.dropped) == (6, 2)
