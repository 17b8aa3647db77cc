"""The guest's mount table under real guests: /proc/PID/{mountinfo,mounts,
mountstats}, findmnt, df, mount and statvfs(3) see the sandbox's mounts at
their guest paths, never the state directory or a host path behind them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")

_TOOLS = ("findmnt", "df", "mount")


def _need_tools() -> None:
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs util-linux/coreutils: {missing}")


def _host_fstype(path: Path) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def _rows(findmnt_out: str) -> dict[str, tuple[str, str]]:
    """findmnt -rn -o TARGET,FSTYPE,OPTIONS -> target: (fstype, first option)."""
    out = {}
    for line in findmnt_out.splitlines():
        target, fstype, opts = line.split(" ")
        out[target] = (fstype, opts.split(",")[0])
    return out


def test_mount_table_in_guest_terms(tmp_path: Path) -> None:
    _need_tools()
    data, ov, state = tmp_path / "data", tmp_path / "ov", tmp_path / "state"
    data.mkdir()
    ov.mkdir()
    script = (
        "cat /proc/self/mountinfo /proc/mounts /proc/self/mounts /proc/$$/mountstats /etc/mtab"
        " /proc/self/task/$$/mountinfo > all;"
        "findmnt -rn -o TARGET,FSTYPE,OPTIONS > fm; findmnt -rn -o TARGET -T /data/ > fmt;"
        "df --output=target / /scratch /data /ov > df; df -a > dfa && mount > mnt;"
        f"{sys.executable} -c 'import os, shutil; f = lambda p: os.statvfs(p).f_flag & os.ST_RDONLY;"
        " print(f(\"/data\"), f(\"/\"), f(\"/scratch\"), shutil.disk_usage(\"/data\").total > 0)' > py"
    )
    out = tmp_path / "out"
    out.mkdir()
    r = run_umlpy("run", "-q", "--state-dir", str(state), "--discard", "--tmpfs", "/scratch",
                  "--bind", f"{data}:/data:ro", "--overlay", f"{ov}:/ov", "--write", str(out), "--",
                  "sh", "-c", script, cwd=out)
    assert r.returncode == 0, r.stderr
    texts = {p.name: p.read_text() for p in out.iterdir()}
    for name, text in texts.items():  # the state directory and the binds' host paths never show
        assert str(state) not in text and str(data) not in text and str(ov) not in text, (name, text)
        assert "umlpy" not in text, (name, text)
    fs = _host_fstype(tmp_path)
    rows = _rows(texts["fm"])
    assert rows["/"][1] == "rw" and rows["/"][0] == _host_fstype(Path("/"))
    assert rows["/data"] == (fs, "ro")
    assert rows["/ov"] == (fs, "rw")
    assert rows["/scratch"] == ("tmpfs", "rw") and rows["/dev/shm"] == ("tmpfs", "rw")
    assert rows["/proc"][0] == "proc" and rows["/sys"] == ("sysfs", "ro") and rows["/dev"][1] == "rw"
    assert texts["fmt"].split() == ["/data"]
    assert texts["df"].split() == ["Mounted", "on", "/", "/scratch", "/data", "/ov"]
    assert "/data" in texts["dfa"] and " on /scratch type tmpfs (rw," in texts["mnt"]
    assert texts["py"].split() == ["1", "0", "0", "True"]
    assert "device tmpfs mounted on /scratch with fstype tmpfs" in texts["all"]


def _rootfs(root: Path, tools: tuple[str, ...]) -> None:
    """A small rootfs: the given host programs, their libraries and loader."""
    for d in ("bin", "etc", "tmp", "proc", "dev", "sys"):
        (root / d).mkdir(parents=True, exist_ok=True)
    progs = [shutil.which(t) or t for t in tools]
    for t, p in zip(tools, progs, strict=True):
        shutil.copy(p, root / "bin" / t)
    libs = subprocess.run(["ldd", *progs], capture_output=True, text=True, check=True).stdout
    for word in libs.split():
        if word.startswith("/") and os.path.exists(word):
            dst = root / word.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.realpath(word), dst)
    os.symlink("../proc/self/mounts", root / "etc" / "mtab")


def test_mount_table_under_a_rootfs(tmp_path: Path) -> None:
    _need_tools()
    if not os.path.exists("/usr/bin/dash"):
        pytest.skip("needs dash")
    root = tmp_path / "rootfs"
    _rootfs(root, ("dash", "cat", "findmnt", "df"))
    r = run_umlpy("run", "-q", "--discard", "--state-dir", str(tmp_path / "state"), "--tmpfs", "/scratch",
                  "--root", str(root), "--", "/bin/dash", "-c",
                  "cat /proc/self/mountinfo /etc/mtab; findmnt -rn -o TARGET,FSTYPE; df --output=target / /scratch")
    assert r.returncode == 0, r.stderr
    assert str(tmp_path) not in r.stdout and "umlpy" not in r.stdout, r.stdout
    lines = r.stdout.splitlines()
    first = lines[0].split()
    assert first[3:5] == ["/", "/"]  # the rootfs is the guest's / (root /), listed first
    targets = [ln.split()[0] for ln in lines if ln.startswith("/") and len(ln.split()) == 2]
    assert {"/", "/proc", "/dev", "/sys", "/dev/shm", "/scratch"} <= set(targets), r.stdout
    assert lines[-3:] == ["Mounted on", "/", "/scratch"], r.stdout
