"""Reading syscall arguments as the kernel does, and small facts about guest tasks."""

from __future__ import annotations

import os


def s32(v: int) -> int:
    """An ``int``/``pid_t`` argument as the kernel sees it: the low 32 bits, signed.

    The kernel ignores the upper half of ``int`` parameters, so a check on
    all 64 bits could be dodged by setting a high bit.
    """
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def pgid_of(pid: int) -> int | None:
    """The process group of ``pid``, or None if it is gone."""
    try:
        return os.getpgid(pid)
    except OSError:
        return None
