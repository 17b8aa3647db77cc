"""Races against the tracer: values checked in one place and used in another.

kill(2)'s pid travels in a register: another thread cannot change it
between umlpy's check and the kernel's use.  pidfd_send_signal(2)'s fd is a
register too, but what it *names* is the fd table, which another thread can
change with dup2 between umlpy's /proc/PID/fdinfo lookup and the kernel's
fdget.  Tracer and guest run on different CPUs here (``--cpu spread``) so the
race is real.
"""

from __future__ import annotations

from tests.escapes.conftest import CanaryProc


def test_kill_pid_flip(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_kill_race"), canary_proc.pid, 3000], opts=["--cpu", "spread"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_kill_pid_flip_without_landlock(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """Same, with the Landlock backstop off: the register check alone holds."""
    r = sandbox([build_guest("escape_kill_race"), canary_proc.pid, 3000], opts=["--cpu", "spread", "--no-landlock"],
                write=False)
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_pidfd_fd_flip_finds_no_canary_in_the_virtual_proc(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """With the virtual filesystem, /proc/<canary> does not exist to begin with."""
    r = sandbox([build_guest("escape_pidfd_race"), canary_proc.pid, 3000], opts=["--cpu", "spread"])
    assert r.proc.stdout.startswith("setup failed") and "bad=-1" in r.proc.stdout
    canary_proc.assert_untouched()


def test_pidfd_fd_flip(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """On the host's filesystem (--host-fs), dup2 flips fd N between an own
    pidfd and /proc/<canary>; Landlock's signal scope catches what the
    tracer's check lets through."""
    r = sandbox([build_guest("escape_pidfd_race"), canary_proc.pid, 3000], opts=["--cpu", "spread", "--host-fs"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_pidfd_fd_flip_without_landlock(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    r = sandbox([build_guest("escape_pidfd_race"), canary_proc.pid, 3000],
                opts=["--cpu", "spread", "--no-landlock", "--host-fs"], write=False)
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
