"""resolve.py: the walk of path_resolution(7) and openat2(2) over a real directory."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.vfs.conftest import build
from umlpy.vfs.errors import VfsError
from umlpy.vfs.paths import LastKind
from umlpy.vfs.resolve import MAXSYMLINKS, HostDirAccessor, Node, NodeKind, ResolveFlag, resolve

F = ResolveFlag


@pytest.fixture
def acc(tmp_path: Path) -> HostDirAccessor:
    root = tmp_path / "root"
    build(
        root,
        {
            "etc/shadow": "guest shadow",
            "etc/passwd": "p",
            "home/u/file": "f",
            "home/u/abs": ("link", "/etc/shadow"),
            "home/u/rel": ("link", "../../etc/passwd"),
            "home/u/up": ("link", "../../../../../.."),
            "home/u/dirlink": ("link", "/etc"),
            "home/u/dangling": ("link", "nowhere/new"),
            "home/u/loop1": ("link", "loop2"),
            "home/u/loop2": ("link", "loop1"),
            "home/u/slash": ("link", "file/"),
            "home/u/filelink": ("link", "file"),
        },
    )
    return HostDirAccessor(bytes(root))


def r(acc: HostDirAccessor, raw: bytes, base: bytes = b"/home/u", flags: F = F.NONE) -> bytes:
    return resolve(acc, raw, base=base, flags=flags).path


def err(acc: HostDirAccessor, raw: bytes, base: bytes = b"/home/u", flags: F = F.NONE) -> int:
    with pytest.raises(VfsError) as ei:
        resolve(acc, raw, base=base, flags=flags)
    return ei.value.errno


def test_plain(acc: HostDirAccessor) -> None:
    res = resolve(acc, b"file", base=b"/home/u")
    assert res.path == b"/home/u/file" and res.node is not None and res.node.kind is NodeKind.REG
    assert res.parent == b"/home/u" and res.name == b"file"
    assert r(acc, b"/etc/./passwd") == b"/etc/passwd"
    assert r(acc, b".") == b"/home/u"
    assert r(acc, b"/") == b"/"


def test_dotdot_clamped_at_root(acc: HostDirAccessor) -> None:
    assert r(acc, b"../../../../../../etc/passwd") == b"/etc/passwd"
    assert r(acc, b"/..") == b"/"
    assert r(acc, b"up/etc") == b"/etc"  # a symlink full of ".." stays inside too


def test_absolute_symlink_resolves_inside_virtual_root(acc: HostDirAccessor, tmp_path: Path) -> None:
    res = resolve(acc, b"abs", base=b"/home/u")
    assert res.path == b"/etc/shadow"
    host = acc.host(res.path)
    assert host.startswith(bytes(tmp_path)) and Path(os.fsdecode(host)).read_bytes() == b"guest shadow"
    assert r(acc, b"dirlink/passwd") == b"/etc/passwd"


def test_relative_symlink(acc: HostDirAccessor) -> None:
    assert r(acc, b"rel") == b"/etc/passwd"
    assert resolve(acc, b"rel", base=b"/home/u").links == 1


def test_nofollow_last(acc: HostDirAccessor) -> None:
    res = resolve(acc, b"abs", base=b"/home/u", flags=F.NOFOLLOW)
    assert res.path == b"/home/u/abs" and res.node is not None and res.node.kind is NodeKind.SYMLINK
    # a trailing slash forces following
    assert r(acc, b"dirlink/", flags=F.NOFOLLOW) == b"/etc"
    # NOFOLLOW only concerns the last component
    assert r(acc, b"dirlink/passwd", flags=F.NOFOLLOW) == b"/etc/passwd"


def test_loops_eloop(acc: HostDirAccessor) -> None:
    assert err(acc, b"loop1") == errno.ELOOP
    assert err(acc, b"loop1/x") == errno.ELOOP


def test_maxsymlinks_boundary(tmp_path: Path) -> None:
    root = tmp_path / "chain"
    spec: dict[str, object] = {"target": "t"}
    for i in range(MAXSYMLINKS + 1):
        spec[f"l{i}"] = ("link", f"l{i + 1}" if i < MAXSYMLINKS else "target")
    build(root, spec)
    a = HostDirAccessor(bytes(root))
    assert resolve(a, b"l1", base=b"/").links == MAXSYMLINKS  # exactly 40 is fine
    with pytest.raises(VfsError) as ei:
        resolve(a, b"l0", base=b"/")  # 41
    assert ei.value.errno == errno.ELOOP


def test_enotdir_and_enoent(acc: HostDirAccessor) -> None:
    assert err(acc, b"file/x") == errno.ENOTDIR
    assert err(acc, b"file/") == errno.ENOTDIR
    assert err(acc, b"file/.") == errno.ENOTDIR
    assert err(acc, b"slash") == errno.ENOTDIR  # symlink target "file/" must be a dir
    assert err(acc, b"file", flags=F.DIRECTORY) == errno.ENOTDIR
    assert err(acc, b"missing/x") == errno.ENOENT
    assert err(acc, b"missing") == errno.ENOENT
    assert err(acc, b"x", base=b"/home/u/file") == errno.ENOTDIR  # dirfd on a file


def test_name_too_long_only_when_reached(acc: HostDirAccessor) -> None:
    assert err(acc, b"/missing/" + b"a" * 300) == errno.ENOENT
    assert err(acc, b"/etc/" + b"a" * 256) == errno.ENAMETOOLONG


def test_may_create(acc: HostDirAccessor) -> None:
    res = resolve(acc, b"newfile", base=b"/home/u", flags=F.MAY_CREATE)
    assert res.node is None and res.path == b"/home/u/newfile"
    # O_CREAT through a dangling symlink creates its target ...
    assert err(acc, b"dangling", flags=F.MAY_CREATE) == errno.ENOENT  # ... if the target's parent exists
    assert err(acc, b"rel/../newer", flags=F.MAY_CREATE) == errno.ENOTDIR  # file/.. is ENOTDIR
    res = resolve(acc, b"dirlink/../newer", base=b"/home/u", flags=F.MAY_CREATE)
    assert res.path == b"/newer"
    assert err(acc, b"nodir/newfile", flags=F.MAY_CREATE) == errno.ENOENT


def test_last_kinds(acc: HostDirAccessor) -> None:
    assert resolve(acc, b"/etc/.", base=b"/").last is LastKind.DOT
    assert resolve(acc, b"/etc/..", base=b"/").last is LastKind.DOTDOT
    assert resolve(acc, b"/", base=b"/").last is LastKind.ROOT
    res = resolve(acc, b"etc/", base=b"/")
    assert res.trailing_slash and res.must_be_dir and res.last is LastKind.NORM


def test_empty_path(acc: HostDirAccessor) -> None:
    assert err(acc, b"") == errno.ENOENT
    res = resolve(acc, b"", base=b"/home/u/file", flags=F.EMPTY_PATH)
    assert res.path == b"/home/u/file" and res.node is not None and res.node.kind is NodeKind.REG


def test_chroot_root(acc: HostDirAccessor) -> None:
    res = resolve(acc, b"/../../shadow", base=b"/", root=b"/etc")
    assert res.path == b"/etc/shadow"  # "/" means the task's root


# --- openat2 RESOLVE_* ------------------------------------------------------------------


def test_resolve_beneath(acc: HostDirAccessor) -> None:
    assert r(acc, b"file", flags=F.BENEATH) == b"/home/u/file"
    assert r(acc, b"filelink", flags=F.BENEATH) == b"/home/u/file"
    assert err(acc, b"/etc", flags=F.BENEATH) == errno.EXDEV
    assert err(acc, b"..", flags=F.BENEATH) == errno.EXDEV
    assert err(acc, b"abs", flags=F.BENEATH) == errno.EXDEV
    assert err(acc, b"rel", flags=F.BENEATH) == errno.EXDEV
    assert r(acc, b"u/file", base=b"/home", flags=F.BENEATH) == b"/home/u/file"
    assert r(acc, b"u/../u/file", base=b"/home", flags=F.BENEATH) == b"/home/u/file"


def test_resolve_in_root(acc: HostDirAccessor) -> None:
    assert r(acc, b"/file", flags=F.IN_ROOT) == b"/home/u/file"
    assert r(acc, b"../../../file", flags=F.IN_ROOT) == b"/home/u/file"
    assert err(acc, b"abs", flags=F.IN_ROOT) == errno.ENOENT  # /etc/shadow inside /home/u: absent
    assert r(acc, b"up", flags=F.IN_ROOT) == b"/home/u"


def test_resolve_no_symlinks(acc: HostDirAccessor) -> None:
    assert err(acc, b"abs", flags=F.NO_SYMLINKS) == errno.ELOOP
    assert err(acc, b"dirlink/passwd", flags=F.NO_SYMLINKS) == errno.ELOOP
    # the trailing symlink itself may be opened (O_PATH|O_NOFOLLOW)
    assert r(acc, b"abs", flags=F.NO_SYMLINKS | F.NOFOLLOW) == b"/home/u/abs"


class Mounted(HostDirAccessor):
    """A second "mount" at /home/u and a magic link, for NO_XDEV and NO_MAGICLINKS."""

    def lstat(self, path: bytes) -> Node | None:
        if path == b"/proc/self/fd/3":
            return Node(NodeKind.MAGICLINK, "proc")
        if path == b"/proc/self/fd/4":
            return Node(NodeKind.MAGICLINK, "proc")
        if path.startswith(b"/proc"):
            return Node(NodeKind.DIR, "proc") if path in (b"/proc", b"/proc/self", b"/proc/self/fd") else None
        node = super().lstat(path)
        if node is None:
            return None
        return Node(node.kind, "home" if path.startswith(b"/home/u") else "root")

    def readlink(self, path: bytes) -> bytes:
        if path == b"/proc/self/fd/3":
            return b"/etc"
        if path == b"/proc/self/fd/4":
            return b"pipe:[42]"
        return super().readlink(path)


def test_resolve_no_xdev(tmp_path: Path, acc: HostDirAccessor) -> None:
    m = Mounted(acc.root)
    assert resolve(m, b"file", base=b"/home/u", flags=F.NO_XDEV).path == b"/home/u/file"
    for raw, base in [(b"u/file", b"/home"), (b"..", b"/home/u"), (b"abs", b"/home/u"), (b"/proc/self", b"/")]:
        with pytest.raises(VfsError) as ei:
            resolve(m, raw, base=base, flags=F.NO_XDEV)
        assert ei.value.errno == errno.EXDEV, raw
    # an absolute *path* starting on the other mount is not a crossing (path_init), its walk is
    assert resolve(m, b"/etc/passwd", base=b"/home/u", flags=F.NO_XDEV).path == b"/etc/passwd"


def test_magic_links(acc: HostDirAccessor) -> None:
    m = Mounted(acc.root)
    assert resolve(m, b"/proc/self/fd/3/passwd", base=b"/").path == b"/etc/passwd"
    res = resolve(m, b"/proc/self/fd/4", base=b"/")
    assert res.node is not None and res.node.kind is NodeKind.MAGICLINK  # not a path: handed back
    for flags, want in [
        (F.NO_MAGICLINKS, errno.ELOOP),
        (F.NO_SYMLINKS, errno.ELOOP),
        (F.BENEATH, errno.EXDEV),
        (F.IN_ROOT, errno.EXDEV),
    ]:
        with pytest.raises(VfsError) as ei:
            resolve(m, b"fd/3/passwd", base=b"/proc/self", flags=flags)
        assert ei.value.errno == want, flags
    with pytest.raises(VfsError) as ei:
        resolve(m, b"/proc/self/fd/4/x", base=b"/")
    assert ei.value.errno == errno.ENOTDIR
