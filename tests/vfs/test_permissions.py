"""overlay.py permission emulation, checked as an unprivileged user.

The upper copy is owned by umlpy's uid, so the host alone would let the guest
write files it could not write on the host; the overlay checks the lower (or
override) owner and mode first.  Needs root to switch to nobody in a child.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs.errors import VfsError
from umlpy.vfs.meta import MetaStore
from umlpy.vfs.overlay import Overlay, WriteIntent

W = WriteIntent
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")


@pytest.fixture
def world() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="umlpy-vfs-perm-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def as_nobody(fn: object) -> dict[str, int]:
    """Run fn() in a child as nobody; it returns {check: errno or 0}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = fn()  # type: ignore[operator]
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    result: dict[str, int] = json.loads(data)
    return result


def test_unprivileged_checks(world: Path) -> None:
    lower = world / "lower"
    build(lower, {"etc/passwd": "root", "pub": "anyone", "tmp/theirs": "t"})
    os.chmod(lower / "etc/passwd", 0o644)
    os.chmod(lower / "pub", 0o666)
    os.chmod(lower / "tmp", 0o1777)
    os.chmod(lower / "tmp/theirs", 0o666)
    state = world / "state"
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)

    def checks() -> dict[str, int]:
        meta = MetaStore(bytes(state / "m.jsonl"))
        ov = Overlay(bytes(lower), bytes(state / "u"), bytes(state / "w"), meta)
        out: dict[str, int] = {}
        for name, rel, intent in [
            ("write_root_file", b"etc/passwd", W.WRITE),
            ("chmod_root_file", b"etc/passwd", W.CHMOD),
            ("create_in_root_dir", b"etc/new", W.CREATE),
            ("unlink_in_root_dir", b"etc/passwd", W.UNLINK),
            ("write_world_file", b"pub", W.WRITE),
            ("chown_after_copyup", b"pub", W.CHOWN),
            ("unlink_sticky_theirs", b"tmp/theirs", W.UNLINK),
            ("create_in_sticky", b"tmp/mine", W.CREATE),
        ]:
            try:
                ov.prepare_write(rel, intent)
                out[name] = 0
            except VfsError as e:
                out[name] = e.errno
        fm = ov.meta_of(b"pub")
        out["owner_preserved"] = int(fm is not None and fm.uid == 0)
        return out

    res = as_nobody(checks)
    assert res == {
        "write_root_file": errno.EACCES,
        "chmod_root_file": errno.EPERM,
        "create_in_root_dir": errno.EACCES,
        "unlink_in_root_dir": errno.EACCES,
        "write_world_file": 0,
        "chown_after_copyup": errno.EPERM,  # the copy is ours on the host, but the guest sees root's
        "unlink_sticky_theirs": errno.EPERM,
        "create_in_sticky": 0,
        "owner_preserved": 1,
    }
