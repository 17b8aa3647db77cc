"""mountinfo.py: the guest's mount table built from its mounts and the host's."""

from __future__ import annotations

import os
from pathlib import Path

from umlpy.vfs import mountinfo
from umlpy.vfs.mounts import MountTable, parse_bind


def _table(tmp_path: Path) -> MountTable:
    for d in ("root/etc", "root/proc", "root/tmp/inner", "root/my dir", "data/sub", "state/x"):
        (tmp_path / d).mkdir(parents=True)
    t = MountTable(bytes(tmp_path / "root"), state_dir=bytes(tmp_path / "state"))
    t.add_bind(parse_bind(f"{tmp_path}/data:/mnt/data:ro"))
    t.add_tmpfs(b"/tmp")
    t.add_synthetic(b"/etc/hostname", b"sandbox\n")
    return t


def _host(tmp_path: Path) -> bytes:
    tp = str(tmp_path)
    return "\n".join([
        "1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro",
        f"2 1 0:5 / {tp}/root/proc rw,nosuid,nodev - proc proc rw",
        f"3 1 0:6 / {tp}/data/sub rw,relatime - tmpfs tmpfs rw,size=4k",
        f"4 1 0:7 / {tp}/state/x rw - tmpfs secret rw",
        f"5 1 0:8 / {tp}/root/tmp/inner rw - tmpfs shadowed rw",
        "6 1 0:9 / /elsewhere rw - ext4 outside rw",
        f"7 1 0:10 / {tp}/root/my\\040dir rw - tmpfs spaced rw",
        "garbage line",
    ]).encode() + b"\n"


def test_the_guest_table_shows_guest_mounts_and_reachable_host_ones(tmp_path: Path) -> None:
    t = _table(tmp_path)
    got = mountinfo.guest_mounts(_host(tmp_path), t, bytes(tmp_path / "state"))
    rows = {e.point: (e.fstype, e.source, e.opts.split(b",")[0]) for e in got}
    assert rows == {
        b"/": (b"ext4", b"/dev/sda1", b"rw"),  # copy-on-write: the guest's writes succeed
        b"/proc": (b"proc", b"proc", b"rw"),  # a host mount below the guest's root
        b"/mnt/data": (b"ext4", b"/dev/sda1", b"ro"),
        b"/mnt/data/sub": (b"tmpfs", b"tmpfs", b"ro"),  # below a read-only bind: read-only too
        b"/tmp": (b"tmpfs", b"tmpfs", b"rw"),  # its state directory is never named
        b"/etc/hostname": (b"ext4", b"/dev/sda1", b"ro"),
        b"/my dir": (b"tmpfs", b"spaced", b"rw"),
    }
    st = os.stat(tmp_path / "root")
    assert got[0].point == b"/" and got[0].dev == b"%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    assert all(e.root == b"/" for e in got)


def test_rendered_files_name_no_host_path(tmp_path: Path) -> None:
    t = _table(tmp_path)
    got = mountinfo.guest_mounts(_host(tmp_path), t, bytes(tmp_path / "state"))
    info = mountinfo.render_mountinfo(got)
    mounts = mountinfo.render_mounts(got)
    stats = mountinfo.render_mountstats(got)
    for text in (info, mounts, stats):
        assert bytes(tmp_path) not in text and b"secret" not in text and b"shadowed" not in text
        assert b"/my\\040dir" in text
    lines = [ln.split(b" ") for ln in info.splitlines()]
    ids = {int(f[0]): f[4] for f in lines}
    parents = {f[4]: ids.get(int(f[1])) for f in lines}
    assert parents[b"/"] is None  # the root's parent is not listed, as in a container
    assert parents[b"/mnt/data/sub"] == b"/mnt/data" and parents[b"/proc"] == b"/"
    assert all(f[6] == b"-" for f in lines)  # no propagation fields
    assert b"/dev/sda1 /mnt/data ext4 ro,relatime,errors=remount-ro 0 0\n" in mounts
    assert b"tmpfs /tmp tmpfs rw,nosuid,nodev,relatime 0 0\n" in mounts
    assert b"device proc mounted on /proc with fstype proc\n" in stats


def test_host_mount_lines_parse_with_escapes() -> None:
    (h,) = mountinfo.parse_host(b"36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
    assert (h.dev, h.point, h.opts, h.fstype, h.source, h.super_opts) == (
        b"98:0", b"/mnt 2", b"rw,noatime", b"ext3", b"/dev/root", b"rw,errors=continue")
