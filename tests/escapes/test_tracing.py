"""Tracing tricks: leave the tracer, replace it, kill it, or blind it.

Outside facts used here: /proc/PID/status TracerPid of guest processes as
the test sees it, the tracer process still alive with the guest's exit
status, canary processes unsignalled, no guest process left behind (the
autouse ``no_guest_survives`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import os
import signal

import psutil

from tests.escapes.conftest import IS_ROOT, CanaryProc, nonroot_only, tracer_of


def test_clone_untraced_raw(interactive, build_guest) -> None:
    """clone(CLONE_UNTRACED) through the raw syscall, also with the flag
    copied above bit 31: both children must still be traced by umlpy."""
    it = interactive([build_guest("escape_clone_untraced")])
    umlpy_pid = it.p.pid
    line = next(l for l in it.lines if l.startswith("READY"))
    children = [int(x) for x in line.split()[1:]]
    assert all(c > 0 for c in children), it.lines
    for c in children:
        assert tracer_of(c) == umlpy_pid
    rc, out = it.finish()
    assert rc == 0, out
    for c in children:  # killed with the tree when main exited
        assert not psutil.pid_exists(c) or psutil.Process(c).status() == psutil.STATUS_ZOMBIE


def test_ptrace_attach_seize_sibling_and_tracer(interactive, build_guest) -> None:
    """PTRACE_ATTACH/SEIZE of an own child and of umlpy itself."""
    it = interactive([build_guest("escape_ptrace_sibling")])
    assert tracer_of(it.guest_pid) == it.p.pid  # the child is still umlpy's
    assert tracer_of(it.p.pid) == 0  # nobody traces umlpy
    rc, out = it.finish()
    assert rc == 0, out
    assert "attach_tracer=-1" in out and "seize_child=-1" in out


def test_ptrace_traceme(sandbox, build_guest) -> None:
    """PTRACE_TRACEME / DETACH of itself, then a refused call that umlpy must still see."""
    r = sandbox([build_guest("escape_traceme")])
    assert r.proc.returncode == 0, r.proc.stderr
    assert r.denied("ptrace") == 2
    assert r.denied("io_uring_setup") == 1  # still traced after the attempt


def test_signals_to_tracer(sandbox, build_guest) -> None:
    """SIGSTOP and SIGKILL to umlpy through kill/tkill/tgkill/rt_sig*/pidfds:
    umlpy lives on and reports the guest's own exit status."""
    r = sandbox([build_guest("escape_kill_tracer")])
    assert r.proc.returncode == 42, r.proc.stderr
    assert r.report["exit_code"] == 42


def test_kill_minus_one(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """kill(-1, SIGKILL) from a guest child: only guest processes die."""
    r = sandbox([build_guest("escape_kill_group"), "minus1"])
    canary_proc.assert_untouched()
    # The guest's main process is a guest too: it dies of SIGKILL, and the
    # run completes with that status in the report.
    assert r.report["signal"] == signal.SIGKILL, r.proc.stderr


def test_kill_zero_shared_pgrp(sandbox, build_guest, canary_factory) -> None:
    """kill(0, SIGKILL) where umlpy's process group also holds a host canary."""
    canary = canary_factory(process_group=0)
    r = sandbox([build_guest("escape_kill_group"), "zero"], process_group=canary.pid)
    canary.assert_untouched()
    assert r.report, r.proc.stderr  # umlpy itself survived to write its report


def test_killpg_shared_pgrp(sandbox, build_guest, canary_factory) -> None:
    """killpg(getpgrp(), SIGKILL) (kill(-pgrp)) with a host canary in the group."""
    canary = canary_factory(process_group=0)
    r = sandbox([build_guest("escape_kill_group"), "pgrp"], process_group=canary.pid)
    canary.assert_untouched()
    assert r.report, r.proc.stderr


def test_seccomp_new_listener(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """A guest USER_NOTIF filter for kill with a listener answering CONTINUE."""
    r = sandbox([build_guest("escape_seccomp_listener"), canary_proc.pid])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()
    assert r.denied("seccomp") == 3


def test_seccomp_guest_filter_trace(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """A guest filter returning RET_TRACE with forged data for kill."""
    r = sandbox([build_guest("escape_seccomp_own"), canary_proc.pid, "trace"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_seccomp_guest_filter_errno(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """A guest filter returning RET_ERRNO(0) for kill (ERRNO outranks TRACE)."""
    r = sandbox([build_guest("escape_seccomp_own"), canary_proc.pid, "errno"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_seccomp_guest_filter_allow(sandbox, build_guest, canary_proc: CanaryProc) -> None:
    """A guest filter returning RET_ALLOW for kill (ALLOW cannot undo TRACE)."""
    r = sandbox([build_guest("escape_seccomp_own"), canary_proc.pid, "allow"])
    assert r.proc.returncode == 0, r.proc.stderr
    canary_proc.assert_untouched()


def test_set_dumpable_zero(interactive, build_guest) -> None:
    """prctl(PR_SET_DUMPABLE, 0) is emulated: the guest stays dumpable (its
    environ stays readable to its owner) and stays traced."""
    it = interactive([build_guest("escape_dumpable")])
    assert tracer_of(it.guest_pid) == it.p.pid
    with open(f"/proc/{it.guest_pid}/environ", "rb") as f:  # EACCES if non-dumpable (non-root)
        assert b"UMLPY_TEST_TAG" in f.read()
    with open(f"/proc/{it.guest_pid}/status") as f:
        status = f.read()
    assert f"TracerPid:\t{it.p.pid}" in status
    rc, out = it.finish()
    assert rc == 0, out


@nonroot_only
def test_exec_unreadable_binary_keeps_audit(sandbox, build_guest, wdir) -> None:
    """Exec of an execute-only (0111) binary makes the image non-dumpable in
    the kernel, PR_SET_DUMPABLE emulation or not.  umlpy then can no longer
    read /proc/PID/exe (nor the guest's memory): the exec must still be in
    the report."""
    copy = wdir / "xonly"
    r = sandbox([build_guest("escape_nondump_exec"), "/bin/true", copy], opts=["--host-fs"])
    assert r.proc.returncode == 0, r.proc.stderr
    assert str(copy) in r.report["execs"], r.report["execs"]


@nonroot_only
def test_exec_unreadable_binary_is_killed_under_the_vfs(sandbox, build_guest, wdir) -> None:
    """With the virtual filesystem, a process whose memory umlpy cannot read
    could not have its paths translated: it is killed, and the report says why."""
    copy = wdir / "xonly"
    r = sandbox([build_guest("escape_nondump_exec"), "/bin/true", copy])
    assert r.proc.returncode != 0
    assert str(copy) in r.report["execs"], r.report["execs"]
    assert any("execute-only image" in w for w in r.report["warnings"]), r.report["warnings"]


def test_umlpy_killed_takes_guests(interactive, build_guest) -> None:
    """SIGKILL to umlpy from outside: PTRACE_O_EXITKILL kills the whole tree
    (children ignoring SIGTERM included).  The autouse leftover check
    verifies nothing survives."""
    it = interactive([build_guest("escape_exitkill")])
    guests = [it.guest_pid] + [c.pid for c in psutil.Process(it.guest_pid).children()]
    assert len(guests) == 4
    os.kill(it.p.pid, signal.SIGKILL)
    it.p.wait(30)
    for pid in guests:
        try:
            psutil.Process(pid).wait(10)
        except psutil.NoSuchProcess:
            pass
    assert IS_ROOT in (True, False)
