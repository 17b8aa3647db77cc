"""Fixtures for the pure vfs tests: real directories under tmp_path, no mocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from umlpy.vfs.meta import MetaStore
from umlpy.vfs.overlay import Overlay


def build(root: Path, spec: dict[str, object]) -> None:
    """Create a tree: str -> file content, None -> directory, ("link", target) -> symlink."""
    for rel, what in spec.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if what is None:
            p.mkdir(exist_ok=True)
        elif isinstance(what, tuple):
            os.symlink(what[1], p)
        else:
            assert isinstance(what, (str, bytes))
            p.write_bytes(what.encode() if isinstance(what, str) else what)


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    d = tmp_path / "lower"
    d.mkdir()
    return d


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def overlay(lower: Path, state: Path) -> Iterator[Overlay]:
    meta = MetaStore(bytes(state / "meta.jsonl"))
    ov = Overlay(bytes(lower), bytes(state / "upper"), bytes(state / "work"), meta)
    yield ov
    meta.close()
