"""meter.py: the overlay byte count the live status shows, without walking the tree."""

from __future__ import annotations

import os
from pathlib import Path

from umlpy.vfs import meter
from umlpy.vfs.meter import UpperMeter


def test_sums_noted_files_as_they_grow(tmp_path: Path) -> None:
    m = UpperMeter()
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 100)
    m.note(os.fsencode(a))
    m.note(os.fsencode(a))  # noted twice, counted once
    assert m.sample() == 100
    b.write_bytes(b"y" * 50)
    m.note(os.fsencode(b))
    a.write_bytes(b"x" * 300)  # grown through an open fd: seen at the next stat
    assert m.sample() == 350
    a.unlink()
    assert m.sample() == 50
    assert m.files == 2


def test_budget_bounds_the_stats_per_sample(tmp_path: Path) -> None:
    m = UpperMeter()
    for i in range(10):
        p = tmp_path / str(i)
        p.write_bytes(b"z" * 10)
        m.note(os.fsencode(p))
    assert m.sample(budget=4) == 40  # four seen so far
    assert m.sample(budget=4) == 80
    assert m.sample(budget=4) == 100  # round-robin: every file seen within three samples
    (tmp_path / "d").mkdir()
    m.note(os.fsencode(tmp_path / "d"))  # a renamed directory: not data
    assert m.sample() == 100


def test_tracking_is_bounded(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(meter, "MAX_TRACKED", 3)
    m = UpperMeter()
    for i in range(5):
        m.note(b"%s/%d" % (os.fsencode(tmp_path), i))
    assert (m.files, m.untracked) == (5, 2)
