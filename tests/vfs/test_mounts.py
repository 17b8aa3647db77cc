"""mounts.py: bind syntax, longest-prefix lookup, reverse translation, hiding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from umlpy.vfs.mounts import Access, MountKind, MountTable, parse_bind


def test_parse_bind() -> None:
    b = parse_bind("/srv/data:/data:ro")
    assert (b.host, b.guest, b.access) == (b"/srv/data", b"/data", Access.RO)
    b = parse_bind("/srv/data")
    assert (b.host, b.guest, b.access) == (b"/srv/data", b"/srv/data", Access.RW)
    assert parse_bind("/srv/data:ro").access is Access.RO
    assert parse_bind("/srv:/x/../y/:cow").guest == b"/y"
    assert parse_bind("rel").host == os.fsencode(os.path.abspath("rel"))


@pytest.mark.parametrize(
    ("spec", "msg"),
    [("", "empty"), (":/x", "empty host"), ("/a:", "empty guest"), ("/a:rel", "absolute"), ("/a:/b:/c", "expected")],
)
def test_parse_bind_errors(spec: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg) as ei:
        parse_bind(spec)
    assert "\n" not in str(ei.value)


@pytest.fixture
def table(tmp_path: Path) -> MountTable:
    for d in ("root/etc", "root/home", "data/sub", "state"):
        (tmp_path / d).mkdir(parents=True)
    t = MountTable(bytes(tmp_path / "root"), state_dir=bytes(tmp_path / "state"))
    t.add_bind(parse_bind(f"{tmp_path}/data:/mnt/data:ro"))
    t.add_tmpfs(b"/tmp")
    t.add_synthetic(b"/etc/hostname", b"sandbox\n")
    t.hide(b"/home/secret")
    return t


def test_locate_longest_prefix(table: MountTable, tmp_path: Path) -> None:
    loc = table.locate(b"/mnt/data/sub/x")
    assert loc.mount.kind is MountKind.BIND and loc.rel == b"sub/x"
    assert loc.host == os.fsencode(tmp_path / "data/sub/x")
    assert table.locate(b"/mnt").mount.kind is MountKind.ROOT
    assert table.locate(b"/mnt/database").mount.kind is MountKind.ROOT  # prefix is per component
    assert table.locate(b"/etc/hostname").mount.kind is MountKind.SYNTHETIC
    assert Path(os.fsdecode(table.locate(b"/etc/hostname").host)).read_bytes() == b"sandbox\n"
    tmp = table.locate(b"/tmp/f")
    assert tmp.mount.kind is MountKind.TMPFS and tmp.host.startswith(os.fsencode(tmp_path / "state"))


def test_later_mount_shadows(table: MountTable, tmp_path: Path) -> None:
    table.add_bind(parse_bind(f"{tmp_path}/data/sub:/mnt/data"))
    assert table.locate(b"/mnt/data").mount.host == os.fsencode(tmp_path / "data/sub")


def test_to_guest(table: MountTable, tmp_path: Path) -> None:
    root = os.fsencode(tmp_path / "root")
    assert table.to_guest(root + b"/etc/passwd") == b"/etc/passwd"
    assert table.to_guest(root) == b"/"
    assert table.to_guest(os.fsencode(tmp_path / "data/sub")) == b"/mnt/data/sub"
    assert table.to_guest(table.locate(b"/tmp/x").host) == b"/tmp/x"
    assert table.to_guest(table.locate(b"/etc/hostname").host) == b"/etc/hostname"
    # outside every mount, hidden, shadowed or relative: never shown
    assert table.to_guest(b"/usr/bin/env") is None
    assert table.to_guest(root + b"/home/secret/key") is None
    assert table.to_guest(root + b"/etc/hostname") is None  # shadowed by the synthetic file
    assert table.to_guest(os.fsencode(tmp_path / "state")) is None
    assert table.to_guest(b"etc/passwd") is None


def test_hidden_and_listing_helpers(table: MountTable) -> None:
    assert table.is_hidden(b"/home/secret") and table.is_hidden(b"/home/secret/x")
    assert not table.is_hidden(b"/home/secretive")
    assert not table.keep_entry(b"/home", b"secret") and table.keep_entry(b"/home", b"u")
    assert table.mountpoints_in(b"/") == {b"etc": True, b"mnt": True, b"tmp": True}  # etc leads to hostname
    assert table.mountpoints_in(b"/etc") == {b"hostname": False}
    assert table.is_implied_dir(b"/mnt") and not table.is_implied_dir(b"/mnt/data")
    with pytest.raises(ValueError):
        table.hide(b"/")


def test_bind_source_must_exist(table: MountTable, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        table.add_bind(parse_bind(f"{tmp_path}/nope:/x"))
