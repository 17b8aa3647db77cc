"""The declared ``reads`` of every decoder copy what its formatter reads.

``umlpy trace -o FILE`` copies guest memory at the stop with the arguments'
``reads`` and formats later over that copy (umlpy.vkernel.decode.replay,
umlpy.tracefmt).  Here, for every syscall whose arguments all declare
their reads, over a fake guest memory: the line decoded over the copy is
the line decoded over the memory itself, and nothing was missing.
"""

from __future__ import annotations

import errno

import pytest

from umlpy.vkernel.decode import SPECS, Env, Options, decode_enter, decode_exit, format_return, reads_declared
from umlpy.vkernel.decode.base import no_reads, s64
from umlpy.vkernel.decode.replay import Recording, Replay


class FakeMemory:
    """Deterministic guest memory: bytes derived from the address; page 0x6000 is unmapped."""

    def read(self, addr: int, size: int) -> bytes:
        if 0x6000 <= addr < 0x7000:
            raise OSError(errno.EFAULT, "unmapped")
        return bytes((addr + k * 7) & 0xFF for k in range(size))

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        if 0x6000 <= addr < 0x7000:
            raise OSError(errno.EFAULT, "unmapped")
        if addr == 0x5000:
            raise OSError(errno.ENAMETOOLONG, "long")
        return b"/some/path\x01" if addr & 1 else b"x"


ARGS = [
    (0, 0, 0, 0, 0, 0),
    (3, 0x1000, 0x2000, 0x11, 0x3000, 0x40),
    (0xFFFFFF9C, 0x1001, 0x6000, 8, 0x4000, 0x100),
    (1, 0x5000, 0x400, 0x242, 0o644, 0),
    (2, 0x2002, 3, 0x1000, 0x1010, 8),
]
RETS = [0, 5, 40, -2 & 0xFFFFFFFFFFFFFFFF, 0x7F0000]
DECLARED = sorted(n for n, s in SPECS.items() if reads_declared(s))


def _line(name: str, env: Env, ret: int, exit_mem: object | None = None) -> str:
    d = decode_enter(name, env)
    if exit_mem is not None:
        env.mem = exit_mem  # type: ignore[assignment]
    r = s64(ret)
    decode_exit(d, r)
    return f"{d.text()} = {format_return(d, r)}"


def test_the_hot_calls_are_declared() -> None:
    for name in ("read", "write", "openat", "close", "newfstatat", "fstat", "mmap", "getdents64", "fcntl",
                 "rt_sigaction", "rt_sigprocmask", "lseek", "access", "brk"):
        assert name in DECLARED, name


@pytest.mark.parametrize("name", DECLARED)
def test_a_replayed_line_is_the_live_line(name: str) -> None:
    spec = SPECS[name]
    for opts in (Options(), Options(strsize=4, verbose=True, hex_strings=1)):
        for args in ARGS:
            for ret in RETS:
                live = _line(name, Env(FakeMemory(), 1, args, opts), ret)
                # What the tracer copies at the two stops.
                at_entry = Recording(FakeMemory())
                env = Env(at_entry, 1, args, opts)
                for i, a in enumerate(spec.args):
                    if not a.out and a.reads is not no_reads:
                        assert a.reads is not None
                        try:
                            a.reads(env, i)
                        except OSError:
                            pass
                at_exit = Recording(FakeMemory())
                env = Env(at_exit, 1, args, opts)
                env.ret = s64(ret)
                if not -4095 <= s64(ret) < 0:
                    for i, a in enumerate(spec.args):
                        if a.out and a.reads is not no_reads:
                            assert a.reads is not None
                            try:
                                a.reads(env, i)
                            except OSError:
                                pass
                first, second = Replay(at_entry.copy), Replay(at_exit.copy)
                replayed = _line(name, Env(first, 1, args, opts), ret, second)
                assert (first.misses, second.misses) == (0, 0), (name, args, ret)
                assert replayed == live, (name, args, ret)
