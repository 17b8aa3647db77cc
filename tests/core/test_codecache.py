"""The CLI's cache of dataclasses' generated code (umlpy/_codecache.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, run_umlpy

PROBE = r"""
import dataclasses, sys
from umlpy import _codecache
_codecache.install()

@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
print(repr(p), p == Point(1, 2), hash(p) == hash(Point(1)), frozen, dataclasses.replace(p, y=3))
_codecache.save()
"""


def _probe(cache: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_cached_code_behaves_like_freshly_generated_code(tmp_path: Path) -> None:
    expected = "Point(x=1, y=2, tags=()) True True True Point(x=1, y=3, tags=())\n"
    assert _probe(tmp_path) == expected  # compiled, then saved
    files = list((tmp_path / "umlpy").iterdir())
    assert len(files) == 1 and files[0].stat().st_mode & 0o077 == 0
    before = files[0].read_bytes()
    assert _probe(tmp_path) == expected  # served from the file, nothing new to save
    assert files[0].read_bytes() == before


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    assert run_umlpy("run", "-q", "--profile", "trace-only", "--", "true", env=env).returncode == 0
    (cache,) = (tmp_path / "umlpy").iterdir()
    good = cache.read_bytes()
    for junk in (b"", b"garbage", good[: len(good) // 2], good.split(b"\n", 1)[0] + b"\n\x00\x01"):
        cache.write_bytes(junk)
        p = run_umlpy("run", "-q", "--profile", "trace-only", "--", "sh", "-c", "echo ok", env=env)
        assert (p.returncode, p.stdout, p.stderr) == (0, "ok\n", "")
        assert cache.read_bytes().startswith(good.split(b"\n", 1)[0])
        assert len(cache.read_bytes()) > len(junk)


def test_an_unwritable_cache_directory_costs_nothing_but_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = dict(os.environ, XDG_CACHE_HOME=str(blocker))  # a file where the directory should be
    p = run_umlpy("run", "-q", "--profile", "trace-only", "--", "sh", "-c", "echo ok", env=env)
    assert (p.returncode, p.stdout, p.stderr) == (0, "ok\n", "")
