"""ABI tricks: other syscall ABIs, odd numbers, syscalls from JIT pages.

umlpy's filter sends every non-x86-64 architecture, the x32 range and every
number it does not know to the tracer, which refuses them with ENOSYS.
Each test points the call at a canary outside the sandbox.
"""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.escapes.conftest import CanaryFile, CanaryProc


def test_int80_open_write_truncate(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """i386 open(O_TRUNC)+write, truncate and creat through int $0x80."""
    new = canary_file.hostdir / "created-by-int80"
    r = sandbox([build_guest("escape_int80_open"), canary_file.path, new])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()
    assert not new.exists()
    assert r.denied("i386:open") == 1 and r.denied("i386:truncate") == 1
    assert all(d["abi"] == "i386" for d in r.report["denials"])


def test_int80_kill(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """i386 kill/tkill/tgkill and kill(-1) through int $0x80."""
    r = sandbox([build_guest("escape_int80_kill"), canary_proc.pid])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    assert r.denied("i386:kill") == 2 and r.denied("i386:tgkill") == 1


def test_int80_connect_abstract(sandbox, build_guest) -> None:
    """i386 socketcall/socket/connect to an abstract socket the test listens on."""
    name = f"umlpy-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind("\0" + name)
        srv.listen(4)
        srv.setblocking(False)
        r = sandbox([build_guest("escape_int80_connect"), name])
        assert r.proc.returncode == 0, r.proc.stderr
        with pytest.raises(BlockingIOError):
            srv.accept()
    assert r.denied("i386:socketcall") == 1 and r.denied("i386:connect") == 1


def test_sysenter(sandbox, build_guest, canary_proc: CanaryProc, canary_file: CanaryFile) -> None:
    """sysenter from 64-bit code (an i386 entry on Intel; #UD on AMD)."""
    r = sandbox([build_guest("escape_sysenter"), canary_proc.pid, canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    canary_file.assert_unchanged()


def test_x32_numbers(sandbox, build_guest, canary_proc: CanaryProc, canary_file: CanaryFile) -> None:
    """x32 kill/tgkill/open/truncate (nr | 0x40000000), the x32-only 512..547,
    and kill with junk above bit 31 of the number."""
    r = sandbox([build_guest("escape_x32"), canary_proc.pid, canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    canary_file.assert_unchanged()
    x32 = [d for d in r.report["denials"] if d["abi"] == "x32"]
    assert len(x32) == 4 + 36
    assert all(d["errno"] == "ENOSYS" for d in x32)


def test_unknown_numbers(sandbox, build_guest, canary_proc: CanaryProc, canary_file: CanaryFile) -> None:
    """336..423, 470..1023 and huge numbers, called with kill/truncate arguments.

    336 (uprobe, Linux 6.16) is special: like 335 (uretprobe) the kernel runs
    it *without consulting seccomp* (it only works from a uprobe trampoline
    and fails with ENXIO elsewhere), so it cannot appear among the denials.
    """
    r = sandbox([build_guest("escape_unknown_nrs"), canary_proc.pid, canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    canary_file.assert_unchanged()
    per_nr = 2 * ((423 - 337 + 1) + (1023 - 470 + 1))
    assert r.report and sum(r.report["denied"].values()) >= per_nr + 3


def test_jit_page_syscall(sandbox, build_guest, canary_proc: CanaryProc, canary_file: CanaryFile) -> None:
    """The syscall instruction in a fresh RWX (or W-then-X) anonymous page."""
    r = sandbox([build_guest("escape_jit"), canary_proc.pid, canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    canary_file.assert_unchanged()
