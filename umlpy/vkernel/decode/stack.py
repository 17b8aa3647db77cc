"""``-k``: the guest's stack at a stop, walked by frame pointers and named from ELF symbols.

The walk, from the registers at the stop:

1. ``rip`` — inside the syscall wrapper, just past its ``syscall`` instruction;
2. ``[rsp]`` when it is a return address (it points into executable code
   right after a call instruction): libc's syscall wrappers are leaf
   functions that push nothing, so this is their caller;
3. the frame-pointer chain: ``[rbp+8]`` is a return address and ``[rbp]``
   the caller's ``rbp``, while the chain climbs the stack and lands in code.

Code built without frame pointers (Debian's libc and most of /usr/bin)
ends the chain early; strace, which unwinds with DWARF CFI (libdw), then
shows more frames.  Each frame prints as strace's do:
`` > /usr/lib/x86_64-linux-gnu/libc.so.6(__write+0x10) [0xf8350]`` — the
bracket holds the file offset; a return address is printed as itself but
named by the call instruction before it (address − 1), as libdw does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from umlpy.vkernel.decode import elfsym

MAX_FRAMES = 64

Read = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class Mapping:
    start: int
    end: int
    offset: int
    executable: bool
    path: str


def read_maps(tid: int) -> list[Mapping]:
    out = []
    try:
        with open(f"/proc/{tid}/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        path = parts[5] if len(parts) > 5 else ""
        out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), "x" in parts[1], path))
    return out


def _find(maps: list[Mapping], addr: int) -> Mapping | None:
    for m in maps:
        if m.start <= addr < m.end:
            return m
    return None


def _u64(read: Read, addr: int) -> int | None:
    try:
        data = read(addr, 8)
    except (OSError, OverflowError, ValueError):
        return None
    return struct.unpack("<Q", data)[0] if len(data) == 8 else None


def _after_call(read: Read, maps: list[Mapping], addr: int) -> bool:
    """Whether ``addr`` is in code and follows a call instruction (e8 rel32, or ff /2)."""
    m = _find(maps, addr)
    if m is None or not m.executable or addr - 7 < m.start:
        return False
    try:
        b = read(addr - 7, 7)
    except (OSError, OverflowError, ValueError):
        return False
    if len(b) != 7:
        return False
    if b[2] == 0xE8:  # call rel32
        return True
    # call r/m64: ff with modrm.reg == 2, 2 to 7 bytes long (register, [reg+disp8], [rip+disp32] …)
    return any(b[7 - n] == 0xFF and (b[8 - n] >> 3) & 7 == 2 for n in (2, 3, 4, 6, 7))


def walk(read: Read, maps: list[Mapping], rip: int, rsp: int, rbp: int) -> list[int]:
    """Program counters, innermost first (callers as return addresses)."""
    pcs = [rip]
    top = _u64(read, rsp)
    if top is not None and _after_call(read, maps, top):
        pcs.append(top)
    fp = rbp
    while len(pcs) < MAX_FRAMES and fp and not fp & 7 and fp > rsp:
        saved, ret = _u64(read, fp), _u64(read, fp + 8)
        if saved is None or ret is None:
            break
        m = _find(maps, ret)
        if m is None or not m.executable:
            break
        if ret != pcs[-1]:
            pcs.append(ret)
        if saved <= fp:
            break
        fp = saved
    return pcs


def format_frames(maps: list[Mapping], pcs: list[int]) -> list[str]:
    lines = []
    for k, pc in enumerate(pcs):
        back = 0 if k == 0 else 1  # a return address is named by the call before it, printed as itself
        m = _find(maps, pc - back)
        if m is None or not m.path.startswith("/"):
            lines.append(f" > [unknown] [{pc:#x}]")
            continue
        off = pc - m.start + m.offset
        syms = elfsym.load(m.path)
        hit = syms.lookup(off - back) if syms is not None else None
        sym = f"{hit[0]}+{hit[1] + back:#x}" if hit is not None else ""
        lines.append(f" > {m.path}({sym}) [{off:#x}]")
    return lines


def backtrace(tid: int, read: Read, rip: int, rsp: int, rbp: int) -> list[str]:
    """The lines ``-k`` prints for task ``tid`` stopped with these registers."""
    maps = read_maps(tid)
    return format_frames(maps, walk(read, maps, rip, rsp, rbp))
