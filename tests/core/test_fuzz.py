"""Fuzzing the tracer: random syscall numbers and arguments from a real guest.

Property: whatever the guest asks, umlpy never fails internally, never
wedges (the run ends by itself or by --timeout), and every errno the guest
sees is one a Linux kernel can return (1..133, or ERESTART*-free).
Calls that would end the driver, block on signals or mess with its own
signal plumbing are left out of the pool; everything else — including
unknown numbers, x32 numbers and bad pointers — is fair game.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_umlpy
from umlpy.vkernel.arch import x86_64

pytestmark = pytest.mark.usefixtures("traceable")

_N = x86_64.SYSCALL_NUMBERS
EXCLUDED = {
    _N[n]
    for n in (
        "exit", "exit_group", "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "rt_sigsuspend", "pause",
        "setitimer", "alarm", "timer_create", "timer_settime", "fork", "vfork", "clone", "clone3",
        "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "signalfd", "signalfd4",
        "munmap", "mremap", "mprotect", "madvise", "brk", "mmap", "execve", "execveat", "sigaltstack",
        "close", "close_range", "dup2", "dup3", "prctl", "arch_prctl", "set_robust_list", "set_tid_address",
        "seccomp", "setrlimit", "prlimit64", "shmdt", "shmat", "process_madvise", "mseal", "personality",
        "pidfd_send_signal", "futex", "futex_wait", "futex_waitv", "wait4", "waitid", "rseq", "ptrace",
        "sched_setaffinity", "sched_setscheduler", "sched_setattr", "setsid", "setpgid", "setuid", "setgid",
        "setresuid", "setresgid", "setreuid", "setregid", "setfsuid", "setfsgid", "setgroups", "capset",
        "map_shadow_stack", "uretprobe", "vhangup", "io_destroy", "remap_file_pages", "pkey_mprotect",
        "unshare", "migrate_pages", "set_mempolicy", "mbind", "move_pages", "memfd_secret",
        "landlock_restrict_self", "truncate", "ftruncate", "fallocate", "write", "pwrite64", "writev",
        "pwritev", "pwritev2", "sendfile", "splice", "tee", "vmsplice", "copy_file_range",
    )
    if n in _N
}
POOL = sorted(set(range(470)) - EXCLUDED) + [0x40000000 + 2, 0x40000000 + 39, 500, 1000, 335, 400]
ARG = st.one_of(
    st.integers(0, 2**64 - 1),
    st.integers(0, 4096),
    st.sampled_from([0, 1, 2, 0xFFFFFFFF, 2**63, 2**64 - 1, 0x7FFF_FFFF_F000, 0x1000]),
)
CALL = st.tuples(st.sampled_from(POOL), *(ARG,) * 6)
KERNEL_ERRNOS = set(range(1, 134))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CALL, min_size=20, max_size=60))
def test_random_syscalls_never_break_the_tracer(build_guest, tmp_path: Path, calls) -> None:  # type: ignore[no-untyped-def]
    exe = build_guest("fuzz")
    feed = "".join(" ".join(str(x) for x in c) + "\n" for c in calls)
    r = run_umlpy("run", "-q", "--timeout", "20", "--max-procs", "20", "--write", str(tmp_path), "--",
                  str(exe), input=feed, cwd=str(tmp_path))
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.returncode != 125
    assert r.returncode != 124, "a fuzz run wedged until the timeout"
    for line in r.stdout.splitlines():
        nr, ret, err = (int(x) for x in line.split())
        if ret == -1:
            assert err in KERNEL_ERRNOS, (nr, err, errno.errorcode.get(err))
