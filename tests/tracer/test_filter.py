"""The generated seccomp program, run in a small classic-BPF interpreter.

Checks the properties the sandbox rests on for every number, not samples:
nothing unknown is allowed, foreign ABIs and x32 always stop, argument
checks look only at the low 32 bits (as the kernel does for ``int``).
"""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from umlpy.tracer import bpf
from umlpy.vkernel import filter as seccomp_filter
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.table import BY_NR, TABLE, Trap

AUDIT_ARCH_I386 = 0x40000003


def run(prog: list[bpf.Insn], nr: int, arch: int = bpf.AUDIT_ARCH_X86_64, args: tuple[int, ...] = (0,) * 6) -> int:
    data = struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *args)
    a, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == 0x20:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x15:
            pc += jt if a == k else jf
        elif code == 0x35:
            pc += jt if a >= k else jf
        elif code == 0x45:
            pc += jt if a & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


PROG = seccomp_filter.build()


def test_every_known_number_gets_its_table_action() -> None:
    for nr, e in BY_NR.items():
        got = run(PROG, nr)
        match e.trap:
            case Trap.NATIVE:
                assert got == bpf.SECCOMP_RET_ALLOW, e.name
            case Trap.ENTER | Trap.REFUSED:
                assert got == bpf.SECCOMP_RET_TRACE, e.name
            case Trap.ERRNO:
                assert got == bpf.SECCOMP_RET_ERRNO | e.errno, e.name
            case Trap.CONDITIONAL:
                assert got in (bpf.SECCOMP_RET_ALLOW, bpf.SECCOMP_RET_TRACE), e.name


def test_unknown_numbers_never_allowed() -> None:
    for nr in range(1200):
        if nr not in x86_64.SYSCALL_NAMES:
            assert run(PROG, nr) == bpf.SECCOMP_RET_TRACE, nr
    for nr in (0x40000000, 0x40000001, 0x40000000 + 59, 0x7FFFFFFF, -1, -2):
        assert run(PROG, nr) == bpf.SECCOMP_RET_TRACE


@given(st.integers(0, 600), st.sampled_from([AUDIT_ARCH_I386, 0, 0x40000028, 0xC00000B7]))
def test_foreign_arch_always_traps(nr: int, arch: int) -> None:
    assert run(PROG, nr, arch) == bpf.SECCOMP_RET_TRACE


@given(st.integers(0, 2**64 - 1))
def test_clone_untraced_checked_on_low_32_bits(flags: int) -> None:
    got = run(PROG, x86_64.SYSCALL_NUMBERS["clone"], args=(flags, 0, 0, 0, 0, 0))
    want = bpf.SECCOMP_RET_TRACE if flags & 0x00800000 else bpf.SECCOMP_RET_ALLOW
    assert got == want


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_prctl_option_compared_as_int(option: int, high: int) -> None:
    got = run(PROG, x86_64.SYSCALL_NUMBERS["prctl"], args=((high << 32) | option, 0, 0, 0, 0, 0))
    want = bpf.SECCOMP_RET_TRACE if option in (4, 22, 35) else bpf.SECCOMP_RET_ALLOW
    assert got == want


NET_PROG = seccomp_filter.build(net_none=True)


@given(st.sampled_from(["accept", "accept4"]), st.integers(0, 2**64 - 1) | st.sampled_from([0, 1 << 32, 1 << 63]))
def test_accept_stops_for_any_non_null_address_pointer(name: str, pointer: int) -> None:
    """A pointer is read whole by the kernel: 0x100000000 is not NULL."""
    got = run(NET_PROG, x86_64.SYSCALL_NUMBERS[name], args=(3, pointer, 0, 0, 0, 0))
    assert got == (bpf.SECCOMP_RET_ALLOW if pointer == 0 else bpf.SECCOMP_RET_TRACE)
    assert run(PROG, x86_64.SYSCALL_NUMBERS[name], args=(3, pointer, 0, 0, 0, 0)) == bpf.SECCOMP_RET_ALLOW


def test_trace_all_traps_everything_but_errno_entries() -> None:
    prog = seccomp_filter.build(trace_all=True)
    for nr, e in BY_NR.items():
        want = bpf.SECCOMP_RET_ERRNO | e.errno if e.trap is Trap.ERRNO else bpf.SECCOMP_RET_TRACE
        assert run(prog, nr) == want, e.name


def test_task_limit_traps_fork_family() -> None:
    prog = seccomp_filter.build(task_limit=True)
    for name in ("fork", "vfork", "clone"):
        assert run(prog, x86_64.SYSCALL_NUMBERS[name]) == bpf.SECCOMP_RET_TRACE


def test_table_covers_both_abis() -> None:
    assert len([n for n in TABLE if n in x86_64.SYSCALL_NUMBERS]) == len(x86_64.SYSCALL_NAMES)
    for required in ("io_uring_setup", "bpf", "ptrace", "perf_event_open", "kexec_load", "mount", "fsopen",
                     "userfaultfd", "open_by_handle_at", "iopl", "init_module"):
        assert TABLE[required].trap is Trap.REFUSED, required


def test_names_agree_with_python_ptrace() -> None:
    from ptrace.syscall.linux import x86_64 as pt

    renamed = {283: "timerfd_create"}  # python-ptrace keeps the pre-2.6.25 name
    for nr, name in pt.SYSCALL_NAMES.items():
        if nr < 512:
            assert x86_64.SYSCALL_NAMES.get(nr) == renamed.get(nr, name), nr
