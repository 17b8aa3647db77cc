"""vfs.py's lookup caches against changes other host programs make to the lower layer."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs import Vfs, VfsConfig, VfsError


class Ctx:
    root = b"/"
    cwd: bytes | None = b"/"


def _enoent(v: Vfs, path: bytes) -> None:
    with pytest.raises(VfsError) as ei:
        v.resolve(Ctx(), None, path)
    assert ei.value.errno == errno.ENOENT


def _age(p: Path) -> tuple[int, int]:
    """Set p's times an hour back (a directory nobody has changed lately); returns them."""
    t = time.time_ns() - 3600 * 10**9
    os.utime(p, ns=(t, t))
    return t, t


def test_a_name_the_lower_layer_lacked_is_checked_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    build(root, {"etc/passwd": "x"})
    times = _age(root / "etc")
    v = Vfs(VfsConfig(state_dir=os.fsencode(tmp_path / "state"), root=bytes(root)))
    try:
        _enoent(v, b"/etc/new")
        _enoent(v, b"/etc/sub/f")
        (root / "etc" / "new").write_text("n")
        os.utime(root / "etc", ns=times)  # the same mtime again: the cached miss stands
        _enoent(v, b"/etc/new")
        (root / "etc" / "sub").mkdir()
        (root / "etc" / "sub" / "f").write_text("f")  # the directory's mtime moves: seen at once
        assert v.resolve(Ctx(), None, b"/etc/new").host == os.fsencode(root / "etc" / "new")
        assert v.resolve(Ctx(), None, b"/etc/sub/f").host == os.fsencode(root / "etc" / "sub" / "f")
    finally:
        v.close()


def test_a_directory_changed_just_now_is_not_trusted(tmp_path: Path) -> None:
    """Its mtime may not move again within the same clock tick: misses in it are not cached."""
    root = tmp_path / "root"
    build(root, {"etc/passwd": "x"})
    v = Vfs(VfsConfig(state_dir=os.fsencode(tmp_path / "state"), root=bytes(root)))
    try:
        st = os.stat(root / "etc")
        _enoent(v, b"/etc/new")
        (root / "etc" / "new").write_text("n")
        os.utime(root / "etc", ns=(st.st_atime_ns, st.st_mtime_ns))
        assert v.resolve(Ctx(), None, b"/etc/new").node is not None
    finally:
        v.close()
