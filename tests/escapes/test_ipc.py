"""IPC out of the sandbox: unix sockets, SysV and POSIX IPC, terminals,
/dev/shm, fanotify.

Abstract unix sockets are scoped by Landlock (ABI 6) to the guest's domain.
Everything that lives in a host namespace the guest shares and that no
trapped syscall or Landlock right covers is a hole until the vfs/vnet
layers and IPC virtualization land.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import subprocess
import termios
import uuid
from pathlib import Path

import pytest

from tests.escapes.conftest import IS_ROOT, CanaryFile, root_only, sandbox_cmd, umlpy_env

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def test_abstract_unix_stream(sandbox, build_guest) -> None:
    name = f"umlpy-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind("\0" + name)
        srv.listen(4)
        srv.setblocking(False)
        r = sandbox([build_guest("escape_unix_connect"), "abstract", name])
        assert r.proc.returncode == 0, r.proc.stderr
        with pytest.raises(BlockingIOError):
            srv.accept()


def test_abstract_unix_dgram(sandbox, build_guest) -> None:
    name = f"umlpy-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name)
        srv.setblocking(False)
        r = sandbox([build_guest("escape_unix_connect"), "dgram", name])
        assert r.proc.returncode == 0, r.proc.stderr
        with pytest.raises(BlockingIOError):
            srv.recv(64)


def test_pathname_unix_socket(sandbox, build_guest, tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(path))
        os.chmod(path, 0o777)
        srv.listen(4)
        srv.setblocking(False)
        r = sandbox([build_guest("escape_unix_connect"), "path", path])
        assert r.proc.returncode == 0, r.proc.stderr
        with pytest.raises(BlockingIOError):
            srv.accept()


def test_sysv_shm(sandbox, build_guest) -> None:
    _libc.shmat.restype = ctypes.c_void_p
    shmid = _libc.shmget(0, 4096, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT|0600
    assert shmid >= 0, os.strerror(ctypes.get_errno())
    addr = _libc.shmat(shmid, None, 0)
    try:
        ctypes.memmove(addr, b"HOSTDATA", 8)
        r = sandbox([build_guest("escape_sysv_shm"), shmid])
        assert r.proc.returncode == 0, r.proc.stderr
        assert ctypes.string_at(addr, 8) == b"HOSTDATA"
    finally:
        _libc.shmdt(ctypes.c_void_p(addr))
        _libc.shmctl(shmid, 0, None)  # IPC_RMID


class _MqAttr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long),
                ("curmsgs", ctypes.c_long), ("pad", ctypes.c_long * 4)]


def test_posix_mqueue(sandbox, build_guest) -> None:
    """mq_open(O_WRONLY) of a host queue: the mqueue filesystem is a normal
    mount to Landlock, so under --write the open is refused (EACCES)."""
    name = f"/umlpy-escape-{uuid.uuid4().hex[:16]}".encode()
    q = _libc.mq_open(name, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o600, None)
    if q < 0:
        pytest.xfail(f"mq_open unavailable ({os.strerror(ctypes.get_errno())}); hole not demonstrable")
    try:
        r = sandbox([build_guest("escape_mqueue"), name.decode()])
        assert r.proc.returncode == 0, r.proc.stderr
        attr = _MqAttr()
        assert _libc.mq_getattr(q, ctypes.byref(attr)) == 0
        assert attr.curmsgs == 0, "the guest delivered a message into a host queue"
        assert "mq_open=-1" in r.out
    finally:
        _libc.mq_close(q)
        _libc.mq_unlink(name)


def test_dev_shm_tamper(sandbox, build_guest) -> None:
    """The guest's /dev/shm is a private tmpfs: another host program's POSIX
    shared memory object is not even there to open."""
    name = f"umlpy-escape-{uuid.uuid4().hex}"
    path = Path("/dev/shm") / name
    if not path.parent.is_dir():
        pytest.xfail("no /dev/shm")
    path.write_bytes(b"HOSTDATA")
    try:
        r = sandbox([build_guest("escape_dev_shm"), "/" + name])
        assert r.proc.returncode == 0, r.proc.stderr
        assert path.read_bytes() == b"HOSTDATA"
    finally:
        path.unlink()


def _pty_run(wdir: Path, tmp_path: Path, argv: list[str], *, ctty: bool) -> tuple[bytes, str]:
    """Run umlpy with a fresh pty as stdin (and controlling tty if ``ctty``);
    returns what a later reader of that terminal would read, and the output."""
    master, slave = os.openpty()
    try:
        def make_ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        report = tmp_path / "pty-report.json"
        p = subprocess.run(
            sandbox_cmd(argv, wdir=wdir, report=report),
            stdin=slave, capture_output=True, text=True, timeout=60, env=umlpy_env(), cwd=wdir, check=False,
            start_new_session=ctty, preexec_fn=make_ctty if ctty else None,
        )
        os.set_blocking(slave, False)
        try:
            pending = os.read(slave, 4096)
        except BlockingIOError:
            pending = b""
        return pending, p.stdout + p.stderr
    finally:
        os.close(master)
        os.close(slave)


def test_tiocsti_controlling_tty(build_guest, wdir: Path, tmp_path: Path, traceable: None) -> None:
    legacy = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if not IS_ROOT and legacy.exists() and legacy.read_text().strip() == "0":
        pytest.xfail("legacy_tiocsti=0: TIOCSTI needs CAP_SYS_ADMIN here; hole not demonstrable")
    pending, out = _pty_run(wdir, tmp_path, [str(build_guest("escape_tiocsti")), "-"], ctty=True)
    assert b"INJECTED" not in pending, out


@root_only
def test_tiocsti_foreign_pty(build_guest, wdir: Path, tmp_path: Path, traceable: None) -> None:
    master, slave = os.openpty()
    try:
        r_argv = [str(build_guest("escape_tiocsti")), os.ttyname(slave)]
        p = subprocess.run(sandbox_cmd(r_argv, wdir=wdir, report=tmp_path / "r.json"), capture_output=True,
                           text=True, timeout=60, env=umlpy_env(), cwd=wdir, stdin=subprocess.DEVNULL, check=False)
        os.set_blocking(slave, False)
        try:
            pending = os.read(slave, 4096)
        except BlockingIOError:
            pending = b""
        assert b"INJECTED" not in pending, p.stdout + p.stderr
    finally:
        os.close(master)
        os.close(slave)


@root_only
def test_fanotify_denies_host_open(interactive, build_guest, canary_file: CanaryFile) -> None:
    it = interactive([build_guest("escape_fanotify"), canary_file.path, "3"])
    try:
        with open(canary_file.path, "rb") as f:
            data = f.read()
    except OSError as e:
        data = None
        err = e.errno
    it.finish()
    assert data == canary_file.content, f"host open of the canary failed: {errno.errorcode.get(err, err)}"
