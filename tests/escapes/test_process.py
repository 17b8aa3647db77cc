"""Process attacks: reach a host process's memory, signals or limits.

The canary is a host process started by the test; it logs every catchable
signal and watches its own secret buffer.  Each test also reads the
canary's scheduling and resource state from /proc (via psutil).
"""

from __future__ import annotations

import os

import psutil

from tests.escapes.conftest import CanaryProc


def _state(pid: int) -> dict[str, object]:
    p = psutil.Process(pid)
    return {
        "nice": p.nice(),
        "nofile": p.rlimit(psutil.RLIMIT_NOFILE),
        "affinity": p.cpu_affinity(),
        "ionice": tuple(p.ionice()),
        "sched": os.sched_getscheduler(pid),
    }


def test_process_vm_writev(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_vm_write"), canary_proc.pid, hex(canary_proc.secret_addr), "write"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_process_vm_readv(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_vm_write"), canary_proc.pid, hex(canary_proc.secret_addr), "read"])
    assert r.proc.returncode == 0, r.proc.stderr
    assert canary_proc.secret.decode() not in r.out  # nothing exfiltrated


def test_proc_pid_mem_write(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """open(/proc/<canary>/mem, O_RDWR) + pwrite; also pread for a leak."""
    r = sandbox([build_guest("escape_proc_mem"), canary_proc.pid, hex(canary_proc.secret_addr)])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    assert canary_proc.secret.decode() not in r.out


def test_proc_tracer_mem(sandbox, build_guest) -> None:
    """/proc/<umlpy>/mem (umlpy is the main guest's parent): umlpy is
    non-dumpable and outside the guest's Landlock domain, so not even the
    open succeeds, and the run completes normally."""
    r = sandbox([build_guest("escape_proc_mem"), "ppid", "0"])
    assert r.proc.returncode == 0, r.proc.stderr
    assert "open_mem_rw=-1" in r.out and "open_mem_ro=-1" in r.out


def test_pidfd_open_send_signal(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_pidfd"), canary_proc.pid, "open"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_proc_dirfd_as_pidfd(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """open("/proc/<canary>") is a pidfd for pidfd_send_signal / pidfd_getfd."""
    r = sandbox([build_guest("escape_pidfd"), canary_proc.pid, "proc"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_scheduling_and_limits(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """setpriority(PRIO_USER/PGRP/PROCESS), prlimit64 (also with junk above
    bit 31 of the pid), sched_setaffinity, sched_setscheduler, ioprio_set
    (user and process) and kcmp, all aimed at the canary."""
    before = _state(canary_proc.pid)
    me_before = _state(os.getpid())
    r = sandbox([build_guest("escape_priority"), canary_proc.pid])
    assert r.proc.returncode == 0, r.proc.stderr
    assert _state(canary_proc.pid) == before
    assert _state(os.getpid()) == me_before  # the test runner shares the uid and pgrp
    canary_proc.assert_untouched()
    assert "kcmp=-1 errno=ESRCH" in r.out


def test_fsetown_sigio(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """F_SETOWN(canary)+F_SETSIG+O_ASYNC on a pipe: the kernel itself would
    send the signal; Landlock's signal scope stops it."""
    r = sandbox([build_guest("escape_fsetown"), canary_proc.pid])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_fsetown_sigio_without_landlock(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_fsetown"), canary_proc.pid], opts=["--no-landlock"], write=False)
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
