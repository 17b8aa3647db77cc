"""changes.py: diff, commit (the only host writer) and discard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs.changes import ChangeKind, commit, diff, discard
from umlpy.vfs.overlay import Overlay, WriteIntent
from umlpy.vfs.resolve import NodeKind

W = WriteIntent


def write(ov: Overlay, rel: bytes, data: str, *, create: bool = False) -> None:
    up = ov.prepare_write(rel, W.CREATE if create else W.WRITE)
    assert up is not None
    Path(os.fsdecode(up)).write_text(data)


def summary(ov: Overlay) -> dict[bytes, tuple[ChangeKind, NodeKind]]:
    return {c.rel: (c.kind, c.node) for c in diff(ov)}


@pytest.fixture
def tree(lower: Path) -> Path:
    build(lower, {"etc/passwd": "root", "etc/hosts": "h", "d/a": "A", "d/sub/b": "B", "keep": "k"})
    return lower


def test_diff_kinds(overlay: Overlay, tree: Path) -> None:
    write(overlay, b"etc/passwd", "root\nevil")
    write(overlay, b"etc/new", "n", create=True)
    overlay.copy_up(b"etc/hosts")  # copied up, unchanged: not a change
    for rel in (b"d/a", b"d/sub/b"):
        overlay.prepare_write(rel, W.UNLINK)
    overlay.prepare_write(b"d/sub", W.RMDIR)
    overlay.prepare_write(b"d", W.RMDIR)
    changes = diff(overlay)
    assert {c.rel: (c.kind, c.node) for c in changes} == {
        b"etc/passwd": (ChangeKind.MODIFIED, NodeKind.REG),
        b"etc/new": (ChangeKind.CREATED, NodeKind.REG),
        b"d": (ChangeKind.DELETED, NodeKind.DIR),  # only the top of a deleted tree
    }
    mod = next(c for c in changes if c.rel == b"etc/passwd")
    assert (mod.size, mod.old_size, mod.meta_only) == (9, 4, False)
    assert mod.path == b"/etc/passwd"


def test_diff_meta_only_and_identical_recreate(overlay: Overlay, tree: Path) -> None:
    up = overlay.prepare_write(b"keep", W.CHMOD)
    assert up is not None
    os.chmod(up, 0o600)
    overlay.prepare_write(b"etc/hosts", W.UNLINK)
    write(overlay, b"etc/hosts", "h", create=True)
    os.utime(overlay.upper_path(b"etc/hosts"), ns=(0, os.lstat(tree / "etc/hosts").st_mtime_ns))
    os.chmod(overlay.upper_path(b"etc/hosts"), os.lstat(tree / "etc/hosts").st_mode & 0o7777)
    changes = diff(overlay)
    assert [(c.rel, c.meta_only) for c in changes] == [(b"keep", True)]


def test_diff_opaque_dir(overlay: Overlay, tree: Path) -> None:
    for rel in (b"d/a", b"d/sub/b"):
        overlay.prepare_write(rel, W.UNLINK)
    overlay.prepare_write(b"d/sub", W.RMDIR)
    overlay.prepare_write(b"d", W.RMDIR)
    up = overlay.prepare_write(b"d", W.MKDIR)
    assert up is not None
    os.mkdir(up)
    write(overlay, b"d/a", "new A", create=True)
    assert summary(overlay) == {
        b"d/a": (ChangeKind.MODIFIED, NodeKind.REG),
        b"d/sub": (ChangeKind.DELETED, NodeKind.DIR),
    }


def test_commit_all_then_nothing_left(overlay: Overlay, tree: Path) -> None:
    write(overlay, b"etc/passwd", "changed")
    up = overlay.prepare_write(b"newdir", W.MKDIR)
    assert up is not None
    os.mkdir(up, 0o750)
    write(overlay, b"newdir/x", "x", create=True)
    os.symlink("../keep", overlay.upper_path(b"newdir/link"))
    overlay.prepare_write(b"etc/hosts", W.UNLINK)
    for rel in (b"d/a", b"d/sub/b"):
        overlay.prepare_write(rel, W.UNLINK)
    overlay.prepare_write(b"d/sub", W.RMDIR)
    res = commit(overlay)
    assert not res.failed
    assert sorted(res.applied) == [b"/d/a", b"/d/sub", b"/etc/hosts", b"/etc/passwd", b"/newdir", b"/newdir/link",
                                   b"/newdir/x"]
    assert (tree / "etc/passwd").read_text() == "changed"
    assert not (tree / "etc/hosts").exists() and not (tree / "d/sub").exists() and (tree / "d").is_dir()
    assert (tree / "newdir/x").read_text() == "x" and os.readlink(tree / "newdir/link") == "../keep"
    assert (os.lstat(tree / "newdir").st_mode & 0o777) == 0o750
    assert diff(overlay) == []


def test_commit_selection(overlay: Overlay, tree: Path) -> None:
    write(overlay, b"etc/passwd", "changed")
    write(overlay, b"keep", "changed too")
    res = commit(overlay, [b"/keep"])
    assert res.applied == (b"/keep",)
    assert (tree / "keep").read_text() == "changed too" and (tree / "etc/passwd").read_text() == "root"
    assert [c.rel for c in diff(overlay)] == [b"etc/passwd"]
    discard(overlay)
    assert diff(overlay) == [] and overlay.lookup(b"etc/passwd").layer.value == "lower"


def test_commit_keeps_sparse_and_hard_links(overlay: Overlay, tree: Path) -> None:
    up = overlay.prepare_write(b"big", W.CREATE)
    assert up is not None
    with open(up, "wb") as fh:
        fh.write(b"x")
        fh.truncate(32 << 20)
    os.link(up, overlay.prepare_write(b"big2", W.CREATE) or b"")
    assert not commit(overlay).failed
    st, st2 = os.stat(tree / "big"), os.stat(tree / "big2")
    assert st.st_size == 32 << 20 and st.st_blocks * 512 < 1 << 20
    assert st.st_ino == st2.st_ino


def test_commit_refuses_planted_symlink_in_target(overlay: Overlay, tree: Path, tmp_path: Path) -> None:
    """The host has d -> outside; the guest deleted d, made a dir d and wrote d/owned.
    Committing only d/owned must not follow the host's d symlink out of the tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tree / "lnk")
    overlay.prepare_write(b"lnk", W.UNLINK)
    up = overlay.prepare_write(b"lnk", W.MKDIR)
    assert up is not None
    os.mkdir(up)
    write(overlay, b"lnk/owned", "pwned", create=True)
    res = commit(overlay, [b"/lnk/owned"])
    assert res.applied == () and res.failed and res.failed[0][0] == b"/lnk/owned"
    assert "ELOOP" in res.failed[0][1] or "ENOTDIR" in res.failed[0][1]
    assert list(outside.iterdir()) == []


def test_commit_refuses_symlink_swapped_into_upper(overlay: Overlay, tree: Path, tmp_path: Path) -> None:
    """After diff, the guest swaps an upper directory for a symlink to a host
    secret: commit must not read through it."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "x").write_text("host secret")
    write(overlay, b"etc/x", "guest data", create=True)
    assert [c.rel for c in diff(overlay)] == [b"etc/x"]
    upper_etc = overlay.upper_path(b"etc")
    os.rename(upper_etc, upper_etc + b".moved")
    os.symlink(secret, upper_etc)
    res = commit(overlay, [b"/etc/x"])
    assert res.applied == ()
    assert not (tree / "etc/x").exists()


def test_commit_replaces_planted_symlink_at_target_name(overlay: Overlay, tree: Path, tmp_path: Path) -> None:
    """A symlink sitting at the target name is replaced, never written through."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tree / "name")
    overlay.prepare_write(b"name", W.UNLINK)
    write(overlay, b"name", "file", create=True)
    assert not commit(overlay).failed
    assert victim.read_text() == "precious"
    assert not (tree / "name").is_symlink() and (tree / "name").read_text() == "file"
