"""vfs.py: the facade as a syscall handler will drive it."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs import ChangeKind, Layer, NodeKind, ResolveFlag, Vfs, VfsConfig, VfsError, WriteIntent, parse_bind

F = ResolveFlag
W = WriteIntent


@dataclass
class Ctx:
    root: bytes = b"/"
    cwd: bytes | None = b"/"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Vfs, Path, Path]]:
    root, data = tmp_path / "root", tmp_path / "data"
    build(root, {"etc/passwd": "root:x", "etc/shadow": "guest-shadow", "home/u/evil": ("link", "/etc/shadow"),
                 "home/u/up": ("link", "../../../../.."), "bin": ("link", "usr/bin"), "usr/bin/sh": "#!"})
    build(data, {"f": "data"})
    cfg = VfsConfig(
        state_dir=os.fsencode(tmp_path / "root/var/state"),  # inside the root on purpose: must be hidden
        root=bytes(root),
        binds=(parse_bind(f"{data}:/mnt/data:ro"),),
        tmpfs=(b"/tmp",),
        hidden=(b"/home/u/.ssh",),
        synthetic=((b"/etc/hostname", b"box\n"),),
    )
    v = Vfs(cfg)
    yield v, root, data
    v.close()


def test_resolve_and_to_guest(env: tuple[Vfs, Path, Path]) -> None:
    v, root, _ = env
    res = v.resolve(Ctx(cwd=b"/home/u"), None, b"evil")
    assert res.guest == b"/etc/shadow" and res.layer is Layer.LOWER
    assert res.host == os.fsencode(root / "etc/shadow")
    assert v.to_guest(res.host) == b"/etc/shadow"
    assert v.resolve(Ctx(), b"/home/u", b"up/bin/sh").guest == b"/usr/bin/sh"
    assert v.resolve(Ctx(), None, b"/etc/hostname").node.kind is NodeKind.REG  # type: ignore[union-attr]
    assert v.to_guest(b"/definitely/not/mounted") is None


def test_state_dir_and_hidden_are_invisible(env: tuple[Vfs, Path, Path]) -> None:
    v, _, _ = env
    for p in (b"/var/state", b"/var/state/upper", b"/home/u/.ssh"):
        with pytest.raises(VfsError) as ei:
            v.resolve(Ctx(), None, p)
        assert ei.value.errno == errno.ENOENT
    assert b"state" not in [e.name for e in v.listdir(b"/var")]
    res = v.resolve(Ctx(), None, b"/home/u/.ssh", F.MAY_CREATE)
    with pytest.raises(VfsError) as ei:
        v.prepare_write(res, W.CREATE)
    assert ei.value.errno == errno.EACCES
    assert v.to_guest(v.state_dir + b"/meta/root.jsonl") is None


def test_listing_shows_mountpoints(env: tuple[Vfs, Path, Path]) -> None:
    v, _, _ = env
    top = {e.name: e.kind for e in v.listdir(b"/")}
    assert top[b"mnt"] is NodeKind.DIR and top[b"tmp"] is NodeKind.DIR and top[b"bin"] is NodeKind.SYMLINK
    assert [e.name for e in v.listdir(b"/mnt")] == [b"data"]
    assert [e.name for e in v.listdir(b"/mnt/data")] == [b"f"]
    assert b"hostname" in [e.name for e in v.listdir(b"/etc")]


def test_write_paths_by_mount(env: tuple[Vfs, Path, Path]) -> None:
    v, root, _ = env
    ctx = Ctx()
    for p, want in [(b"/mnt/data/f", errno.EROFS), (b"/etc/hostname", errno.EROFS), (b"/mnt", errno.EROFS)]:
        with pytest.raises(VfsError) as ei:
            v.prepare_write(v.resolve(ctx, None, p), W.WRITE)
        assert ei.value.errno == want, p
    tmp = v.prepare_write(v.resolve(ctx, None, b"/tmp/x", F.MAY_CREATE), W.CREATE)
    assert tmp is not None and tmp.startswith(v.state_dir)
    Path(os.fsdecode(tmp)).write_text("scratch")
    assert v.to_guest(tmp) == b"/tmp/x"
    up = v.prepare_write(v.resolve(ctx, None, b"/etc/passwd"), W.WRITE)
    assert up is not None and up.startswith(v.state_dir + b"/upper/")
    Path(os.fsdecode(up)).write_text("root:x:changed")
    assert v.to_guest(up) == b"/etc/passwd"
    assert (root / "etc/passwd").read_text() == "root:x"
    with pytest.raises(VfsError) as ei:
        v.prepare_rename(v.resolve(ctx, None, b"/etc/passwd"), v.resolve(ctx, None, b"/tmp/y", F.MAY_CREATE))
    assert ei.value.errno == errno.EXDEV
    # review: only the root overlay's change; tmpfs is scratch
    changes = v.changes()
    assert [(c.path, c.kind) for c in changes] == [(b"/etc/passwd", ChangeKind.MODIFIED)]
    assert v.commit().applied == (b"/etc/passwd",)
    assert (root / "etc/passwd").read_text() == "root:x:changed"


def test_lower_only_unlink_is_emulated(env: tuple[Vfs, Path, Path]) -> None:
    v, root, _ = env
    res = v.resolve(Ctx(), None, b"/home/u/evil", F.NOFOLLOW)
    assert res.node is not None and res.node.kind is NodeKind.SYMLINK
    assert v.prepare_write(res, W.UNLINK) is None
    assert os.path.islink(root / "home/u/evil")
    with pytest.raises(VfsError) as ei:
        v.resolve(Ctx(), None, b"/home/u/evil", F.NOFOLLOW)
    assert ei.value.errno == errno.ENOENT
    assert [(c.path, c.kind) for c in v.changes()] == [(b"/home/u/evil", ChangeKind.DELETED)]
    v.discard()
    assert v.resolve(Ctx(), None, b"/home/u/evil", F.NOFOLLOW).node is not None


def test_magic_links_hook(env: tuple[Vfs, Path, Path]) -> None:
    v, root, _ = env
    (root / "proc/self").mkdir(parents=True)

    def magic(p: bytes) -> tuple[NodeKind, bytes] | None:
        return (NodeKind.MAGICLINK, b"/etc") if p == b"/proc/self/cwd" else None

    with pytest.raises(VfsError):
        v.resolve(Ctx(), None, b"/proc/self/cwd/passwd")
    assert v.resolve(Ctx(), None, b"/proc/self/cwd/passwd", magic=magic).guest == b"/etc/passwd"
