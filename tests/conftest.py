"""Shared test machinery: run umlpy for real, build C guests, check leftovers.

The host is probed once: where it forbids ptrace or seccomp, tracer tests
skip with the reason instead of failing.  Every test tags its environment
(UMLPY_TEST_TAG) so guests inherit it; after the test no process carrying
the tag may be alive — no guest outlives umlpy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
GUESTS = Path(__file__).resolve().parent / "guests"


@pytest.fixture(autouse=True, scope="session")
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Sandboxes the tests keep, and umlpy's cache, go to throwaway homes, not the user's."""
    saved = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def umlpy_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "umlpy", *args]


def run_umlpy(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(kw.pop("env", os.environ))  # type: ignore[call-overload]
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        umlpy_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env, check=False, **kw  # type: ignore[call-overload]
    )


def tree_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root``: file contents (symlink targets), None for directories.

    Two snapshots are equal iff the tree is unchanged, for "the host is untouched" checks."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = os.readlink(p).encode() if os.path.islink(p) else Path(p).read_bytes()
    return out


def run_native(argv: list[str], timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]


_probe: tuple[bool, str] | None = None


def _can_trace() -> tuple[bool, str]:
    global _probe
    if _probe is None:
        try:
            r = run_umlpy("run", "--", "/bin/true", timeout=30)
            _probe = (r.returncode == 0, r.stderr.strip() or f"exit {r.returncode}")
        except Exception as e:  # noqa: BLE001 - any failure means: cannot trace here
            _probe = (False, str(e))
    return _probe


@pytest.fixture
def traceable() -> None:
    ok, why = _can_trace()
    if not ok:
        pytest.skip(f"host forbids ptrace+seccomp: {why}")


@pytest.fixture(autouse=True)
def no_guest_survives(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    tag = uuid.uuid4().hex
    monkeypatch.setenv("UMLPY_TEST_TAG", tag)
    yield tag
    deadline = time.monotonic() + 5
    while True:
        left = _tagged(tag)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    assert not left, f"guest processes outlived umlpy: {[(p.pid, p.info.get('cmdline')) for p in left]}"


def _tagged(tag: str) -> list[psutil.Process]:
    me = os.getpid()
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if p.pid == me:
            continue
        try:
            if p.environ().get("UMLPY_TEST_TAG") == tag and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="session")
def guest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guests")


@pytest.fixture(scope="session")
def build_guest(guest_dir: Path):  # type: ignore[no-untyped-def]
    """build_guest("name", *extra_flags) -> path of tests/guests/name.c compiled with gcc."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    cache: dict[tuple[str, ...], Path] = {}

    def build(name: str, *flags: str) -> Path:
        key = (name, *flags)
        if key not in cache:
            out = guest_dir / ("_".join(key).replace("-", "").replace("=", "").replace("/", "_"))
            src = GUESTS / f"{name}.c"
            subprocess.run(["gcc", "-O1", "-pthread", "-o", str(out), str(src), *flags], check=True)
            cache[key] = out
        return cache[key]

    return build
