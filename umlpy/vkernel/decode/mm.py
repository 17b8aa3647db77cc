"""Decoders for the memory family (mmap, mprotect, brk, madvise …)."""

from __future__ import annotations

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import HEX, INT, PTR, ULONG, Arg, Env, Ret, Spec, no_reads, s32, sc

PROT = Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.PROT, "PROT_NONE"), reads=no_reads)
MAP_FLAGS = Arg(lambda e, i: F.map_flags(e.args[i]), reads=no_reads)
ADVICE = Arg(lambda e, i: F.xval(s32(e.args[i]), F.Madv), reads=no_reads)
MREMAP_FLAGS = Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, F.MREMAP), reads=no_reads)


def _mremap_new_addr(e: Env, i: int) -> str | None:
    return f"{e.args[i]:#x}" if e.args[3] & 2 else None


SPECS: dict[str, Spec] = {
    "mmap": sc(PTR, ULONG, PROT, MAP_FLAGS, INT, HEX, ret=Ret.HEX),
    "mprotect": sc(PTR, ULONG, PROT),
    "pkey_mprotect": sc(PTR, ULONG, PROT, INT),
    "munmap": sc(PTR, ULONG),
    "brk": sc(PTR, ret=Ret.HEX),
    "mremap": sc(PTR, ULONG, ULONG, MREMAP_FLAGS, Arg(_mremap_new_addr, reads=no_reads), ret=Ret.HEX),
    "madvise": sc(PTR, ULONG, ADVICE),
    "msync": sc(PTR, ULONG, HEX),
    "mlock": sc(PTR, ULONG),
    "munlock": sc(PTR, ULONG),
    "mincore": sc(PTR, ULONG, PTR),
    "mseal": sc(PTR, ULONG, HEX),
}
