"""overlay.py: copy-on-write, whiteouts, opaque dirs, renames, fake root."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs.errors import VfsError
from umlpy.vfs.meta import MetaStore
from umlpy.vfs.overlay import Layer, Overlay, WriteIntent
from umlpy.vfs.resolve import NodeKind

W = WriteIntent


def snapshot(root: Path) -> str:
    """A digest of everything observable about a tree (to prove it was not written)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p} {st.st_mode} {st.st_uid} {st.st_size} {st.st_mtime_ns} {st.st_nlink}".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(Path(p).read_bytes())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
    return h.hexdigest()


def errno_of(fn: object, *a: object, **kw: object) -> int:
    with pytest.raises(VfsError) as ei:
        fn(*a, **kw)  # type: ignore[operator]
    return ei.value.errno


def names(ov: Overlay, rel: bytes) -> list[bytes]:
    return [e.name for e in ov.listdir(rel)]


@pytest.fixture
def tree(lower: Path) -> Path:
    build(lower, {"etc/passwd": "root:x:0:0", "etc/hosts": "127.0.0.1", "d/a": "A", "d/sub/b": "B", "f": "F"})
    os.symlink("etc/passwd", lower / "lnk")
    return lower


def test_lookup_layers(overlay: Overlay, tree: Path) -> None:
    assert overlay.lookup(b"etc/passwd").layer is Layer.LOWER
    assert overlay.lookup(b"nope").layer is Layer.ABSENT
    up = overlay.prepare_write(b"etc/passwd", W.WRITE)
    assert up == overlay.upper_path(b"etc/passwd")
    lk = overlay.lookup(b"etc/passwd")
    assert lk.layer is Layer.UPPER and lk.kind is NodeKind.REG
    assert Path(os.fsdecode(up)).read_text() == "root:x:0:0"


def test_lower_is_never_written(overlay: Overlay, tree: Path) -> None:
    before = snapshot(tree)
    Path(os.fsdecode(overlay.prepare_write(b"etc/passwd", W.WRITE) or b"")).write_text("evil")
    assert overlay.prepare_write(b"f", W.UNLINK) is None
    for rel in (b"d/a", b"d/sub/b"):
        overlay.prepare_write(rel, W.UNLINK)
    overlay.prepare_write(b"d/sub", W.RMDIR)
    old, new = overlay.prepare_rename(b"etc/hosts", b"hosts2")
    os.rename(old, new)
    overlay.prepare_write(b"lnk", W.CHOWN)
    assert snapshot(tree) == before


def test_copy_up_preserves_metadata(overlay: Overlay, lower: Path) -> None:
    build(lower, {"a/b/c": "data"})
    os.chmod(lower / "a/b/c", 0o640)
    os.chmod(lower / "a/b", 0o750)
    os.utime(lower / "a/b/c", ns=(1_000_000_123, 2_000_000_456))
    os.utime(lower / "a/b", ns=(3_000_000_000, 4_000_000_000))
    try:
        os.setxattr(lower / "a/b/c", b"user.umlpy", b"v")
        have_xattr = True
    except OSError:
        have_xattr = False
    up = overlay.copy_up(b"a/b/c")
    st, lst = os.lstat(up), os.lstat(lower / "a/b/c")
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    assert (st.st_uid, st.st_gid) == (lst.st_uid, lst.st_gid)
    assert stat.S_IMODE(os.lstat(overlay.upper_path(b"a/b")).st_mode) == 0o750  # parent made like the lower
    if have_xattr:
        assert os.getxattr(up, b"user.umlpy") == b"v"
    assert not os.listdir(overlay.work)  # nothing left half-copied


def test_copy_up_symlink_stays_symlink(overlay: Overlay, tree: Path) -> None:
    up = overlay.copy_up(b"lnk")
    assert os.path.islink(up) and os.readlink(up) == b"etc/passwd"
    assert overlay.lookup(b"etc/passwd").layer is Layer.LOWER  # the target was not copied


def test_copy_up_keeps_sparse_files_sparse(overlay: Overlay, lower: Path) -> None:
    size = 64 << 20
    with open(lower / "sparse", "wb") as fh:
        fh.write(b"head")
        fh.seek(size // 2)
        fh.write(b"middle")
        fh.truncate(size)
    if os.stat(lower / "sparse").st_blocks * 512 >= size:
        pytest.skip("filesystem does not do holes")
    up = overlay.copy_up(b"sparse")
    st = os.stat(up)
    assert st.st_size == size and st.st_blocks * 512 < 1 << 20
    with open(up, "rb") as fh:
        assert fh.read(4) == b"head"
        fh.seek(size // 2)
        assert fh.read(6) == b"middle"


def test_whiteout_then_recreate(overlay: Overlay, tree: Path) -> None:
    assert overlay.prepare_write(b"etc/passwd", W.UNLINK) is None  # lower only: nothing for the host
    lk = overlay.lookup(b"etc/passwd")
    assert lk.layer is Layer.ABSENT and lk.whiteout
    assert names(overlay, b"etc") == [b"hosts"]
    assert errno_of(overlay.prepare_write, b"etc/passwd", W.WRITE) == errno.ENOENT
    up = overlay.prepare_write(b"etc/passwd", W.CREATE)
    assert up is not None
    Path(os.fsdecode(up)).write_text("new")
    assert overlay.lookup(b"etc/passwd").layer is Layer.UPPER
    assert names(overlay, b"etc") == [b"hosts", b"passwd"]
    # delete the re-created one: the host unlinks the upper copy, the whiteout stays
    assert overlay.prepare_write(b"etc/passwd", W.UNLINK) == up
    os.unlink(up)
    assert overlay.lookup(b"etc/passwd").layer is Layer.ABSENT


def test_rmdir_then_mkdir_is_opaque(overlay: Overlay, tree: Path) -> None:
    assert errno_of(overlay.prepare_write, b"d", W.RMDIR) == errno.ENOTEMPTY
    for rel in (b"d/a", b"d/sub/b"):
        overlay.prepare_write(rel, W.UNLINK)
    overlay.prepare_write(b"d/sub", W.RMDIR)
    assert overlay.prepare_write(b"d", W.RMDIR) is None
    assert overlay.lookup(b"d").layer is Layer.ABSENT
    assert errno_of(overlay.listdir, b"d") == errno.ENOENT
    up = overlay.prepare_write(b"d", W.MKDIR)
    assert up is not None
    os.mkdir(up)
    assert names(overlay, b"d") == []  # lower d/a does not show through
    assert overlay.lookup(b"d/a").layer is Layer.ABSENT
    assert b"d" in overlay.meta.opaque


def test_rmdir_checks_merged_emptiness(overlay: Overlay, tree: Path) -> None:
    overlay.copy_up(b"d/sub")  # upper d and d/sub exist, upper d/sub is empty
    assert errno_of(overlay.prepare_write, b"d/sub", W.RMDIR) == errno.ENOTEMPTY
    assert errno_of(overlay.prepare_write, b"f", W.RMDIR) == errno.ENOTDIR
    assert errno_of(overlay.prepare_write, b"d", W.UNLINK) == errno.EISDIR
    assert errno_of(overlay.prepare_write, b"", W.RMDIR) == errno.EBUSY


def test_create_errors(overlay: Overlay, tree: Path) -> None:
    assert errno_of(overlay.prepare_write, b"f", W.CREATE) == errno.EEXIST
    assert errno_of(overlay.prepare_write, b"d", W.MKDIR) == errno.EEXIST
    assert errno_of(overlay.prepare_write, b"nodir/x", W.CREATE) == errno.ENOENT
    assert errno_of(overlay.prepare_write, b"f/x", W.CREATE) == errno.ENOTDIR
    assert errno_of(overlay.prepare_write, b"d", W.WRITE) == errno.EISDIR
    assert errno_of(overlay.prepare_write, b"d", W.LINK_SOURCE) == errno.EPERM


def test_merged_listing(overlay: Overlay, tree: Path) -> None:
    up = overlay.prepare_write(b"d/new", W.CREATE)
    assert up is not None
    Path(os.fsdecode(up)).write_text("n")
    overlay.prepare_write(b"d/a", W.UNLINK)
    entries = {e.name: e.kind for e in overlay.listdir(b"d")}
    assert entries == {b"new": NodeKind.REG, b"sub": NodeKind.DIR}


def test_rename_file(overlay: Overlay, tree: Path) -> None:
    old, new = overlay.prepare_rename(b"etc/hosts", b"d/hosts")
    os.rename(old, new)
    assert overlay.lookup(b"etc/hosts").layer is Layer.ABSENT
    assert overlay.lookup(b"d/hosts").layer is Layer.UPPER
    assert errno_of(overlay.prepare_rename, b"f", b"d") == errno.EISDIR
    assert errno_of(overlay.prepare_rename, b"d", b"f") == errno.ENOTDIR
    assert errno_of(overlay.prepare_rename, b"f", b"etc/passwd", noreplace=True) == errno.EEXIST
    assert errno_of(overlay.prepare_rename, b"d", b"d/sub/x") == errno.EINVAL
    assert errno_of(overlay.prepare_rename, b"nope", b"x") == errno.ENOENT


def test_rename_dir_copies_tree(overlay: Overlay, tree: Path) -> None:
    overlay.prepare_write(b"d/a", W.UNLINK)
    old, new = overlay.prepare_rename(b"d", b"e")
    os.rename(old, new)
    assert overlay.lookup(b"d").layer is Layer.ABSENT
    assert names(overlay, b"e") == [b"sub"]  # the deleted d/a did not come back
    assert names(overlay, b"e/sub") == [b"b"]
    assert Path(os.fsdecode(overlay.upper_path(b"e/sub/b"))).read_text() == "B"
    # and a non-empty target directory is refused
    assert errno_of(overlay.prepare_rename, b"e", b"etc") == errno.ENOTEMPTY


def test_rename_dir_too_big_is_exdev(lower: Path, state: Path) -> None:
    build(lower, {f"big/{i}": "x" for i in range(20)})
    meta = MetaStore(bytes(state / "m.jsonl"))
    ov = Overlay(bytes(lower), bytes(state / "u"), bytes(state / "w"), meta, max_tree_copy=5)
    assert errno_of(ov.prepare_rename, b"big", b"big2") == errno.EXDEV
    assert ov.lookup(b"big").layer is Layer.UPPER  # still there
    meta.close()


def test_exchange(overlay: Overlay, tree: Path) -> None:
    a, b = overlay.prepare_rename(b"f", b"etc/hosts", exchange=True)
    tmp = a + b".x"
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    assert Path(os.fsdecode(overlay.upper_path(b"f"))).read_text() == "127.0.0.1"
    assert errno_of(overlay.prepare_rename, b"f", b"missing", exchange=True) == errno.ENOENT


def test_hard_links(overlay: Overlay, lower: Path) -> None:
    build(lower, {"x": "shared"})
    os.link(lower / "x", lower / "y")
    up = overlay.prepare_write(b"x", W.WRITE)
    assert up is not None
    Path(os.fsdecode(up)).write_text("changed")
    # copy-up breaks the lower link: y still shows the old content
    assert overlay.lookup(b"y").layer is Layer.LOWER
    assert (lower / "y").read_text() == "shared"
    # a link made by the guest is a real link inside the upper layer
    src = overlay.prepare_write(b"y", W.LINK_SOURCE)
    dst = overlay.prepare_write(b"z", W.CREATE)
    assert src is not None and dst is not None
    os.link(src, dst)
    assert os.stat(dst).st_ino == os.stat(src).st_ino


def test_special_files(overlay: Overlay, lower: Path) -> None:
    os.mkfifo(lower / "fifo")
    assert overlay.prepare_write(b"fifo", W.WRITE) == overlay.lower_path(b"fifo")  # data goes to the node
    up = overlay.prepare_write(b"fifo", W.CHMOD)
    assert up is not None and stat.S_ISFIFO(os.lstat(up).st_mode)


def test_fake_root(lower: Path, state: Path) -> None:
    build(lower, {"f": "x", "dir/g": "y"})
    meta = MetaStore(bytes(state / "m.jsonl"))
    ov = Overlay(bytes(lower), bytes(state / "u"), bytes(state / "w"), meta, fake_root=True)
    host_uid = os.lstat(lower / "f").st_uid
    ov.fake_chown(b"f", 1234, -1)
    ov.fake_chmod(b"f", 0o000)
    ov.fake_chmod(b"dir", 0o000)
    fm = ov.meta_of(b"f")
    assert fm is not None and (fm.uid, fm.gid, fm.mode) == (1234, None, 0)
    up = os.lstat(ov.upper_path(b"f"))
    assert up.st_uid == host_uid and stat.S_IMODE(up.st_mode) == 0o600  # never applied to the host
    assert stat.S_IMODE(os.lstat(ov.upper_path(b"dir")).st_mode) == 0o700
    # renames carry the overrides, unlink drops them
    old, new = ov.prepare_rename(b"f", b"f2")
    os.rename(old, new)
    assert ov.meta_of(b"f") is None and ov.meta_of(b"f2") == fm
    meta.close()
    # and they survive a reload of the journal (umlpy diff after the run)
    meta2 = MetaStore(bytes(state / "m.jsonl"))
    assert meta2.fake[b"f2"] == fm and b"f" in meta2.whiteouts
    meta2.close()


def test_meta_journal_torn_line(state: Path) -> None:
    j = bytes(state / "j.jsonl")
    m = MetaStore(j)
    m.add_whiteout(b"a/\xff")
    m.set_opaque(b"b")
    m.close()
    with open(j, "a") as fh:
        fh.write('["W", "torn')
    m2 = MetaStore(j)
    assert m2.whiteouts == {b"a/\xff"} and m2.opaque == {b"b"}
    m2.compact()
    m2.close()
    assert MetaStore(j).whiteouts == {b"a/\xff"}
