"""Filesystem attacks under ``--write DIR``: change a host file outside DIR.

Until the vfs is wired in, file syscalls run natively and the Landlock
ruleset is what refuses writes outside DIR.  Each test snapshots a canary
file in a host directory next to DIR (content, inode, mode, owner, mtime,
ctime, xattrs, inode flags, directory listing) and compares afterwards.

Landlock (ABI 7) has no access right for metadata: chmod, chown, utimes,
xattrs and inode flags are not covered, and those tests document holes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.escapes.conftest import FS_IMMUTABLE_FL, FS_NODUMP_FL, IS_ROOT, CanaryFile, inode_flags, root_only

METADATA_HOLE = (
    "HOLE: Landlock (ABI <= 7) has no right for metadata changes and {what} is native, so under "
    "--write/--read-only the guest changes host files it owns (any file as root)"
)


def _run(sandbox, build_guest, name: str, *args: object):  # type: ignore[no-untyped-def]
    r = sandbox([build_guest(name), *args])
    assert r.proc.returncode == 0, r.proc.stderr
    return r


def test_direct_write(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """open(O_WRONLY), open(O_RDWR|O_APPEND), creat, unlink."""
    _run(sandbox, build_guest, "escape_fs_direct", canary_file.path)
    canary_file.assert_unchanged()


def test_symlink(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """A symlink planted in DIR pointing at the host file."""
    _run(sandbox, build_guest, "escape_fs_symlink", canary_file.path)
    canary_file.assert_unchanged()


def test_proc_self_root(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """/proc/self/root/<path> and /proc/<umlpy>/root/<path>."""
    _run(sandbox, build_guest, "escape_fs_proc_root", canary_file.path)
    canary_file.assert_unchanged()


def test_proc_self_cwd(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """chdir into the host directory, then /proc/self/cwd/<name>, <name>, a new file."""
    _run(sandbox, build_guest, "escape_fs_proc_cwd", canary_file.hostdir, canary_file.path.name)
    canary_file.assert_unchanged()


def test_hard_link(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """link() and linkat(/proc/self/fd/N, AT_SYMLINK_FOLLOW) into DIR, then write."""
    _run(sandbox, build_guest, "escape_fs_hardlink", canary_file.path)
    canary_file.assert_unchanged()


def test_rename_and_exchange(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """rename over the host file, renameat2(RENAME_EXCHANGE), moving it into DIR."""
    _run(sandbox, build_guest, "escape_fs_rename", canary_file.path)
    canary_file.assert_unchanged()


def test_truncate_without_write(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """O_RDONLY|O_TRUNC, truncate(2), ftruncate/fallocate on a read-only fd."""
    _run(sandbox, build_guest, "escape_fs_trunc", canary_file.path)
    canary_file.assert_unchanged()


def test_opath_reopen(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """An O_PATH fd re-opened for writing through /proc/self/fd/N; openat2."""
    _run(sandbox, build_guest, "escape_fs_opath", canary_file.path)
    canary_file.assert_unchanged()


def test_core_dump_into_host_dir(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """A crash with RLIMIT_CORE=inf and the cwd in a host directory: the
    kernel writes the core file with no syscall for umlpy to see."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith(("|", "/")):
        pytest.skip(f"core_pattern {pattern!r} does not write into the cwd")
    os.chmod(canary_file.hostdir, 0o777)  # so the kernel could write there at all
    canary_file.snap = canary_file.snapshot()
    _run(sandbox, build_guest, "escape_fs_coredump", canary_file.hostdir)
    canary_file.assert_unchanged()


def test_chmod(sandbox, build_guest, canary_file: CanaryFile) -> None:
    _run(sandbox, build_guest, "escape_fs_chmod", canary_file.path)
    canary_file.assert_unchanged()


def test_utime(sandbox, build_guest, canary_file: CanaryFile) -> None:
    _run(sandbox, build_guest, "escape_fs_utime", canary_file.path)
    canary_file.assert_unchanged()


@root_only
def test_chown(sandbox, build_guest, canary_file: CanaryFile) -> None:
    _run(sandbox, build_guest, "escape_fs_chown", canary_file.path, 65534, 65534)
    canary_file.assert_unchanged()


def test_xattr(sandbox, build_guest, canary_file: CanaryFile) -> None:
    try:
        os.setxattr(canary_file.path, "user.probe", b"1")
        os.removexattr(canary_file.path, "user.probe")
    except OSError as e:
        pytest.xfail(f"no user xattrs on this filesystem ({e.strerror}); hole not demonstrable")
    canary_file.snap = canary_file.snapshot()
    _run(sandbox, build_guest, "escape_fs_xattr", canary_file.path)
    canary_file.assert_unchanged()


def test_chattr_readonly_fd(sandbox, build_guest, canary_file: CanaryFile) -> None:
    if inode_flags(canary_file.path) is None:
        pytest.xfail("FS_IOC_GETFLAGS unsupported here; hole not demonstrable")
    flag = FS_IMMUTABLE_FL if IS_ROOT else FS_NODUMP_FL
    _run(sandbox, build_guest, "escape_fs_chattr", canary_file.path, hex(flag))
    canary_file.assert_unchanged()


@root_only
def test_mknod_block_device(sandbox, build_guest, canary_file: CanaryFile) -> None:
    if shutil.which("losetup") is None:
        pytest.xfail("no losetup; hole not demonstrable")
    img = canary_file.hostdir / "disk.img"
    img.write_bytes(b"\0" * (1 << 20))
    try:
        loop = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        img.unlink()
        pytest.xfail(f"cannot set up a loop device ({e}); hole not demonstrable")
    dev = loop.stdout.strip()
    try:
        st = os.stat(dev)
        before = img.read_bytes()
        r = sandbox([build_guest("escape_fs_mknod"), "b", os.major(st.st_rdev), os.minor(st.st_rdev), "PWNED"])
        assert r.proc.returncode == 0, r.proc.stderr
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
    after = img.read_bytes()
    img.unlink()
    assert after == before, "the guest wrote a host disk image through a device node it created"


def test_path_flip_race(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """A thread flips the path between a DIR file and the host file while
    another opens it for writing (tracer and guest on different CPUs)."""
    r = sandbox([build_guest("escape_fs_path_race"), canary_file.path, 3000], opts=["--cpu", "spread"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()
