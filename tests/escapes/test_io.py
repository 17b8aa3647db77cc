"""I/O paths the tracer would never see: io_uring, userfaultfd, file
handles, bpf, perf.  All are refused by the syscall table (EPERM) and the
refusal is in the report; the attack's target (a host file) is unchanged."""

from __future__ import annotations

import os

from tests.escapes.conftest import CanaryFile, root_only


def test_io_uring(sandbox, build_guest, canary_file: CanaryFile) -> None:
    """io_uring_setup (also with junk above bit 31 of the entry count), and
    an IORING_OP_OPENAT(O_TRUNC) of a host file if a ring were granted."""
    r = sandbox([build_guest("escape_io_uring"), canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()
    assert r.denied("io_uring_setup") == 2
    assert r.denied("io_uring_enter") == 1 and r.denied("io_uring_register") == 1


def _uffds(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link == "anon_inode:[userfaultfd]":
            out.append(link)
    return out


def test_userfaultfd_syscall(interactive, build_guest) -> None:
    """userfaultfd(2), also with UFFD_USER_MODE_ONLY: the guest holds no uffd."""
    it = interactive([build_guest("escape_userfaultfd"), "syscall"])
    assert _uffds(it.guest_pid) == []
    rc, out = it.finish()
    assert rc == 0, out


@root_only
def test_userfaultfd_device_with_write(interactive, build_guest) -> None:
    """/dev/userfaultfd + USERFAULTFD_IOC_NEW under --write: Landlock refuses
    the device open (write) / ioctl (IOCTL_DEV) outside the writable dirs."""
    it = interactive([build_guest("escape_userfaultfd"), "dev"])
    assert _uffds(it.guest_pid) == []
    it.finish()


@root_only
def test_userfaultfd_device_default(interactive, build_guest) -> None:
    """/dev/userfaultfd without --write (umlpy's default): the same
    userfaultfd the syscall table refuses is one open()+ioctl() away."""
    it = interactive([build_guest("escape_userfaultfd"), "dev"], write=False)
    held = _uffds(it.guest_pid)
    it.finish()
    assert held == []


def test_open_by_handle_at(sandbox, build_guest, canary_file: CanaryFile) -> None:
    r = sandbox([build_guest("escape_open_by_handle"), canary_file.path])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()
    assert r.denied("open_by_handle_at") == 1 and r.denied("name_to_handle_at") == 1


def test_bpf_and_perf(sandbox, build_guest) -> None:
    r = sandbox([build_guest("escape_bpf_perf")])
    assert r.proc.returncode == 0, r.proc.stderr
    assert r.denied("bpf") == 1 and r.denied("perf_event_open") == 2
