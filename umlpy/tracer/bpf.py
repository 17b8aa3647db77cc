"""Assemble a seccomp classic-BPF program from per-syscall decisions.

The program (seccomp(2), "Filter return values"; struct seccomp_data in
include/uapi/linux/seccomp.h) is laid out as:

1. architecture check: anything but AUDIT_ARCH_X86_64 returns ``other_arch``
   (RET_TRACE, so the virtual kernel decides on i386 calls made through
   ``int 0x80``; never ALLOW);
2. the x32 bit (``nr >= 0x40000000``) returns ``x32``;
3. a chain of ascending ranges ``[lo, hi] -> action``: two instructions per
   range, so every jump offset stays tiny whatever the table size;
4. numbers past the table return ``unknown``.

Argument checks only read the low 32 bits of an argument: the kernel ignores
the upper half of ``int`` parameters, so comparing all 64 bits would let a
guest set a high bit to dodge the check.  Pointers are the exception: the
kernel reads them whole, so :class:`IfArgNull` tests both halves.

When a syscall's path through the program reads no argument, the kernel's
seccomp action cache (Linux >= 5.11) learns that it is always ALLOW and
skips the filter entirely: a native syscall then costs nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SECCOMP_RET_KILL_PROCESS: Final = 0x80000000
SECCOMP_RET_ERRNO: Final = 0x00050000
SECCOMP_RET_TRACE: Final = 0x7FF00000
SECCOMP_RET_ALLOW: Final = 0x7FFF0000

AUDIT_ARCH_X86_64: Final = 0xC000003E
X32_SYSCALL_BIT: Final = 0x40000000

_LD_W_ABS: Final = 0x20
_JEQ_K: Final = 0x15
_JGE_K: Final = 0x35
_JSET_K: Final = 0x45
_RET_K: Final = 0x06

_OFF_NR: Final = 0
_OFF_ARCH: Final = 4


def _off_arg(i: int) -> int:
    return 16 + 8 * i  # low 32 bits on little-endian


Insn = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Ret:
    """Return a fixed seccomp action."""

    value: int


@dataclass(frozen=True, slots=True)
class IfArgMask:
    """``then`` if ``low32(args[arg]) & mask`` is non-zero, else ``otherwise``."""

    arg: int
    mask: int
    then: Ret
    otherwise: Ret


@dataclass(frozen=True, slots=True)
class IfArgIn:
    """``then`` if ``low32(args[arg])`` is one of ``values``, else ``otherwise``."""

    arg: int
    values: tuple[int, ...]
    then: Ret
    otherwise: Ret


@dataclass(frozen=True, slots=True)
class IfArgNull:
    """``then`` if all 64 bits of ``args[arg]`` are zero (a NULL pointer), else ``otherwise``.

    For pointer arguments, which the kernel reads whole: testing only the low
    half would let ``0x100000000`` pass as NULL.
    """

    arg: int
    then: Ret
    otherwise: Ret


Rule = Ret | IfArgMask | IfArgIn | IfArgNull

ALLOW: Final = Ret(SECCOMP_RET_ALLOW)
TRACE: Final = Ret(SECCOMP_RET_TRACE)


def errno(e: int) -> Ret:
    return Ret(SECCOMP_RET_ERRNO | (e & 0xFFFF))


def _block(rule: Rule) -> list[Insn]:
    """Instructions that end in a return; they may clobber the accumulator."""
    match rule:
        case Ret(value):
            return [(_RET_K, 0, 0, value)]
        case IfArgMask(arg, mask, then, otherwise):
            return [
                (_LD_W_ABS, 0, 0, _off_arg(arg)),
                (_JSET_K, 0, 1, mask & 0xFFFFFFFF),
                (_RET_K, 0, 0, then.value),
                (_RET_K, 0, 0, otherwise.value),
            ]
        case IfArgIn(arg, values, then, otherwise):
            n = len(values)
            out: list[Insn] = [(_LD_W_ABS, 0, 0, _off_arg(arg))]
            for i, v in enumerate(values):
                # jump to "then", which sits after the remaining compares and the "otherwise" ret
                out.append((_JEQ_K, n - i, 0, v & 0xFFFFFFFF))
            out.append((_RET_K, 0, 0, otherwise.value))
            out.append((_RET_K, 0, 0, then.value))
            return out
        case IfArgNull(arg, then, otherwise):
            return [
                (_LD_W_ABS, 0, 0, _off_arg(arg)),
                (_JEQ_K, 0, 2, 0),  # low half non-zero: otherwise
                (_LD_W_ABS, 0, 0, _off_arg(arg) + 4),
                (_JEQ_K, 1, 0, 0),  # high half zero too: then
                (_RET_K, 0, 0, otherwise.value),
                (_RET_K, 0, 0, then.value),
            ]
    raise TypeError(rule)


def assemble(
    rules: dict[int, Rule],
    *,
    default: Rule,
    unknown: Rule,
    x32: Rule,
    other_arch: Ret,
) -> list[Insn]:
    """Build the program. ``rules`` maps x86-64 numbers to rules; gaps get ``default``."""
    top = max(rules) if rules else -1
    ranges: list[tuple[int, int, Rule]] = []
    for nr in range(top + 1):
        rule = rules.get(nr, default)
        if ranges and ranges[-1][2] == rule and ranges[-1][1] == nr - 1:
            lo, _, r = ranges[-1]
            ranges[-1] = (lo, nr, r)
        else:
            ranges.append((nr, nr, rule))
    prog: list[Insn] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, other_arch.value),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    x32_block = _block(x32)
    prog.append((_JGE_K, 0, len(x32_block), X32_SYSCALL_BIT))
    prog.extend(x32_block)
    for _lo, hi, rule in ranges:
        blk = _block(rule)
        if len(blk) > 255:
            raise ValueError("rule block too long for a BPF jump")
        prog.append((_JGE_K, len(blk), 0, hi + 1))
        prog.extend(blk)
    prog.extend(_block(unknown))
    if len(prog) > 4096:
        raise ValueError(f"seccomp program too long ({len(prog)} instructions)")
    return prog

