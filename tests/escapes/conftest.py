"""Fixtures for the adversarial guests: canaries outside the sandbox, and runs.

Every escape test asserts containment by an *outside* fact — a host file
unchanged, a canary process alive and unsignalled, a listening socket that
never accepted, the tracer alive and the run complete — never by what the
guest prints about itself.

* :func:`canary_proc` starts ``escape_canary`` natively (not under umlpy);
  it logs every catchable signal and any change to its secret buffer.
* :func:`canary_file` is a host file outside the guest's writable
  directory; :meth:`CanaryFile.assert_unchanged` compares content, mode,
  owner, times, xattrs and inode flags with the snapshot taken before.
* :func:`sandbox` runs ``umlpy run --write <wdir> --report ...`` and returns
  the completed process with its parsed JSON report.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def umlpy_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "umlpy", *args]

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="needs root (the attack uses a root-only power)")
nonroot_only = pytest.mark.skipif(IS_ROOT, reason="only meaningful for an unprivileged user")

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10
FS_NODUMP_FL = 0x40


def umlpy_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _clean_env() -> dict[str, str]:
    """An environment without the test tag: canaries are not guests."""
    env = dict(os.environ)
    env.pop("UMLPY_TEST_TAG", None)
    return env


# -- canary process ------------------------------------------------------------


@dataclass
class CanaryProc:
    popen: subprocess.Popen[bytes]
    log: Path
    pid: int
    secret_addr: int
    secret: bytes = b"CANARY-SECRET-0123456789"

    def events(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def assert_untouched(self) -> None:
        """Alive, not stopped, no signal received, secret intact."""
        assert self.popen.poll() is None, f"canary died: returncode {self.popen.returncode}"
        st = psutil.Process(self.pid).status()
        assert st not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE), st
        assert self.events() == "", f"canary saw: {self.events()!r}"


def _start_canary(build_guest: Any, logdir: Path, **popen_kw: Any) -> CanaryProc:
    exe = build_guest("escape_canary")
    log = logdir / f"canary-{len(list(logdir.glob('canary-*')))}.log"
    p = subprocess.Popen([str(exe), str(log)], stdout=subprocess.PIPE, env=_clean_env(), **popen_kw)
    assert p.stdout is not None
    line = p.stdout.readline().decode().split()
    return CanaryProc(p, log, int(line[0]), int(line[1], 16))


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.kill()
    p.wait()


@pytest.fixture
def canary_proc(build_guest: Any, tmp_path: Path) -> Iterator[CanaryProc]:
    c = _start_canary(build_guest, tmp_path)
    yield c
    _stop(c.popen)


@pytest.fixture
def canary_factory(build_guest: Any, tmp_path: Path) -> Iterator[Any]:
    """canary_factory(**popen_kw) -> CanaryProc, for canaries in a chosen process group."""
    made: list[CanaryProc] = []

    def make(**kw: Any) -> CanaryProc:
        c = _start_canary(build_guest, tmp_path, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        _stop(c.popen)


# -- canary file ---------------------------------------------------------------


def _xattrs(p: Path) -> dict[str, bytes]:
    try:
        return {n: os.getxattr(p, n, follow_symlinks=False) for n in os.listxattr(p, follow_symlinks=False)}
    except OSError:
        return {}


def inode_flags(p: Path) -> int | None:
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("l", 0))
        return int(struct.unpack("l", buf)[0])
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass
class CanaryFile:
    hostdir: Path  # outside the guest's writable directory
    path: Path
    content: bytes = b"host canary: must never change\n"
    snap: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        st = os.lstat(self.path)
        return {
            "content": self.path.read_bytes(),
            "ino": st.st_ino,
            "mode": st.st_mode,
            "uid": st.st_uid,
            "gid": st.st_gid,
            "nlink": st.st_nlink,
            "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns,
            "xattrs": _xattrs(self.path),
            "flags": inode_flags(self.path),
            "dir": sorted(os.listdir(self.hostdir)),
        }

    def assert_unchanged(self) -> None:
        now = self.snapshot()
        diff = {k: (self.snap[k], now[k]) for k in self.snap if self.snap[k] != now[k]}
        assert not diff, f"host canary changed: {diff}"


def _rescue(path: Path) -> None:
    """Undo what a successful attack may have left (immutable flag, odd modes)."""
    if not os.path.lexists(path):
        return
    try:
        flags = inode_flags(path)
        if flags is not None and flags & FS_IMMUTABLE_FL:
            fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("l", flags & ~FS_IMMUTABLE_FL))
            finally:
                os.close(fd)
        os.chmod(path, 0o700, follow_symlinks=False) if not os.path.islink(path) else None
    except OSError:
        pass


@pytest.fixture
def canary_file(tmp_path: Path) -> Iterator[CanaryFile]:
    hostdir = tmp_path / "host"
    hostdir.mkdir()
    path = hostdir / "canary.txt"
    cf = CanaryFile(hostdir, path)
    path.write_bytes(cf.content)
    os.chmod(path, 0o644)
    os.chmod(hostdir, 0o755)
    # Old, distinctive times so a utime/touch attack is visible.
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    cf.snap = cf.snapshot()
    yield cf
    for p in [*hostdir.iterdir(), path]:
        _rescue(p)


# -- running the sandbox ----------------------------------------------------------


@dataclass
class Ran:
    proc: subprocess.CompletedProcess[str]
    report: dict[str, Any]

    @property
    def out(self) -> str:
        return self.proc.stdout

    def denied(self, name: str) -> int:
        return int(self.report.get("denied", {}).get(name, 0))


@pytest.fixture
def wdir(tmp_path: Path) -> Path:
    """The guest's writable directory (world-writable so it works as any user)."""
    d = tmp_path / "rw"
    d.mkdir()
    os.chmod(d, 0o777)
    os.chmod(tmp_path, 0o755)
    return d


def sandbox_cmd(
    argv: Sequence[str | os.PathLike[str]],
    *,
    wdir: Path | None,
    report: Path,
    opts: Sequence[str] = (),
    timeout: float = 20,
) -> list[str]:
    cmd = umlpy_cmd("run", "-q", "--report", str(report), "--timeout", str(timeout))
    if wdir is not None:
        cmd += ["--write", str(wdir)]
    return [*cmd, *opts, "--", *map(str, argv)]


@pytest.fixture
def sandbox(tmp_path: Path, wdir: Path, traceable: None) -> Any:
    """sandbox(argv, opts=(), write=True, timeout=20, **subprocess_kw) -> Ran."""
    counter = [0]

    def run(
        argv: Sequence[str | os.PathLike[str]],
        *,
        opts: Sequence[str] = (),
        write: bool = True,
        timeout: float = 20,
        **kw: Any,
    ) -> Ran:
        counter[0] += 1
        report = tmp_path / f"report-{counter[0]}.json"
        cmd = sandbox_cmd(argv, wdir=wdir if write else None, report=report, opts=opts, timeout=timeout)
        kw.setdefault("cwd", str(wdir))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=umlpy_env(), check=False, **kw)
        rep = json.loads(report.read_text()) if report.exists() else {}
        return Ran(proc, rep)

    return run


class Interactive:
    """umlpy running a guest that prints READY <pid> and waits for stdin to close."""

    def __init__(self, cmd: list[str], **kw: Any) -> None:
        self.p = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=umlpy_env(), **kw,
        )
        assert self.p.stdout is not None
        self.lines: list[str] = []
        self.guest_pid = 0
        for line in self.p.stdout:
            self.lines.append(line)
            if line.startswith("READY"):
                self.guest_pid = int(line.split()[1])
                break
        else:
            self.p.wait(30)
            raise AssertionError(f"guest never got ready: {self.lines!r} {self.p.stderr.read()!r}")  # type: ignore[union-attr]

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, err = self.p.communicate(timeout=timeout)
        self.lines.append(out)
        return self.p.returncode, "".join(self.lines) + err

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate(timeout=30)


@pytest.fixture
def interactive(tmp_path: Path, wdir: Path, traceable: None) -> Iterator[Any]:
    """interactive(argv, opts=(), write=True, **popen_kw) -> Interactive (killed at teardown)."""
    made: list[Interactive] = []

    def start(argv: Sequence[str | os.PathLike[str]], *, opts: Sequence[str] = (), write: bool = True, **kw: Any) -> Interactive:
        report = tmp_path / f"ireport-{len(made)}.json"
        kw.setdefault("cwd", str(wdir))
        it = Interactive(sandbox_cmd(argv, wdir=wdir if write else None, report=report, opts=opts), **kw)
        it.report_path = report  # type: ignore[attr-defined]
        made.append(it)
        return it

    yield start
    for it in made:
        it.kill()


def tracer_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    raise AssertionError("no TracerPid")


def python_guest() -> str:
    """The interpreter for Python guests (the one running the tests)."""
    return sys.executable


def host_tmpdir() -> Path:
    return Path(tempfile.gettempdir())


__all__ = [
    "IS_ROOT",
    "CanaryFile",
    "CanaryProc",
    "Interactive",
    "Ran",
    "inode_flags",
    "nonroot_only",
    "root_only",
    "shutil",
    "signal",
    "stat",
    "tracer_of",
]
