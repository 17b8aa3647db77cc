"""paths.py: parsing, lexical normalization, limits (path_resolution(7))."""

from __future__ import annotations

import errno
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umlpy.vfs import paths
from umlpy.vfs.errors import VfsError
from umlpy.vfs.paths import LastKind


def test_parse_basic() -> None:
    p = paths.parse(b"//a/./b//c/")
    assert p.absolute and p.parts == (b"a", b".", b"b", b"c") and p.trailing_slash
    assert p.must_be_dir
    assert bytes(p) == b"/a/./b/c/"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"/", LastKind.ROOT), (b"a", LastKind.NORM), (b"a/.", LastKind.DOT), (b"a/..", LastKind.DOTDOT), (b"..", LastKind.DOTDOT)],
)
def test_last_kind(raw: bytes, kind: LastKind) -> None:
    assert paths.parse(raw).last_kind is kind


def test_empty_is_enoent_unless_empty_path() -> None:
    with pytest.raises(VfsError) as ei:
        paths.parse(b"")
    assert ei.value.errno == errno.ENOENT
    assert paths.parse(b"", allow_empty=True).parts == ()


def test_nul_truncates_like_strncpy_from_user() -> None:
    assert paths.parse(b"/etc\0/shadow").parts == (b"etc",)
    with pytest.raises(VfsError) as ei:
        paths.parse(b"\0/etc")
    assert ei.value.errno == errno.ENOENT


def test_path_max() -> None:
    paths.parse(b"/" + b"a" * (paths.PATH_MAX - 2))  # 4095 bytes + NUL fits
    with pytest.raises(VfsError) as ei:
        paths.parse(b"/" + b"a" * (paths.PATH_MAX - 1))
    assert ei.value.errno == errno.ENAMETOOLONG


def test_name_max() -> None:
    paths.check_component(b"x" * 255)
    with pytest.raises(VfsError) as ei:
        paths.check_component(b"x" * 256)
    assert ei.value.errno == errno.ENAMETOOLONG


def test_normalize_clamps_dotdot_at_root() -> None:
    assert paths.normalize(b"/../../..") == b"/"
    assert paths.normalize(b"/a/../../b/./c//") == b"/b/c"
    assert paths.join_path(b"/x/y", b"../../../z") == b"/z"
    assert paths.join_path(b"/x", b"/abs") == b"/abs"


def test_split_within_relative() -> None:
    assert paths.split(b"/") == (b"/", b"")
    assert paths.split(b"/a") == (b"/", b"a")
    assert paths.split(b"/a/b") == (b"/a", b"b")
    assert paths.is_within(b"/a/b", b"/a") and not paths.is_within(b"/ab", b"/a")
    assert paths.relative_to(b"/a/b/c", b"/a") == b"b/c"
    assert paths.relative_to(b"/a", b"/a") == b""
    assert paths.relative_to(b"/a", b"/") == b"a"
    assert paths.under(b"/m", b"x/y") == b"/m/x/y"
    assert paths.ancestors(b"a/b/c") == [b"", b"a", b"a/b"]
    with pytest.raises(ValueError):
        paths.relative_to(b"/b", b"/a")


components = st.sampled_from([b".", b"..", b"a", b"b", b"", b"c\xff"])
raw_paths = st.lists(components, min_size=1, max_size=12).map(b"/".join)


@given(raw_paths)
def test_normalize_is_canonical(raw: bytes) -> None:
    n = paths.normalize(raw)
    assert n.startswith(b"/")
    assert b"//" not in n and b"/./" not in n + b"/" and b"/../" not in n + b"/"
    assert paths.normalize(n) == n  # idempotent
    assert n == b"/" or not n.endswith(b"/")


@given(raw_paths)
def test_normalize_matches_posixpath_without_symlinks(raw: bytes) -> None:
    # posixpath.normpath keeps a leading "/.." clamp the same way for absolute paths
    assert paths.normalize(b"/" + raw) == posixpath.normpath(b"/" + raw).replace(b"//", b"/")


@given(raw_paths)
def test_parse_roundtrip(raw: bytes) -> None:
    if not raw:
        return
    p = paths.parse(raw)
    assert paths.parse(bytes(p)) == p
    assert all(part and b"/" not in part for part in p.parts)
