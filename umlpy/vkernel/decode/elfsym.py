"""ELF symbol tables for ``-k``, read with :mod:`struct` (ELF64 little-endian, elf(5)).

A code address in a mapped file becomes a file offset (address − mapping
start + mapping offset), then an ELF virtual address through the PT_LOAD
segment holding that offset, then ``symbol+offset``.  Symbols come from
``.symtab`` when the file has one, else ``.dynsym`` (stripped system
libraries keep only that).  Like strace's libdw backend, the nearest
function symbol at or below the address names it even past the symbol's
size: a static function of a stripped library is shown as its nearest
exported predecessor.  At one address a GLOBAL symbol wins over a WEAK
one (``__write`` over ``write``), a WEAK over a LOCAL.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass
from functools import lru_cache

_PT_LOAD = 1
_SHT_SYMTAB, _SHT_DYNSYM = 2, 11
_STT_FUNC, _STT_GNU_IFUNC = 2, 10
_BIND_RANK = {1: 0, 2: 1, 0: 2}  # GLOBAL, WEAK, LOCAL
_MAX_FILE = 512 << 20


@dataclass(frozen=True, slots=True)
class Symbols:
    loads: tuple[tuple[int, int, int], ...]  # (p_offset, p_vaddr, p_filesz) of each PT_LOAD
    addrs: tuple[int, ...]  # sorted symbol values
    names: tuple[str, ...]

    def vaddr(self, file_offset: int) -> int | None:
        for off, vaddr, size in self.loads:
            if off <= file_offset < off + size:
                return file_offset - off + vaddr
        return None

    def lookup(self, file_offset: int) -> tuple[str, int] | None:
        """``(name, offset into it)`` for the code at ``file_offset``."""
        va = self.vaddr(file_offset)
        if va is None:
            return None
        k = bisect.bisect_right(self.addrs, va) - 1
        if k < 0:
            return None
        return self.names[k], va - self.addrs[k]


def load(path: str) -> Symbols | None:
    """The symbols of ``path`` (cached while the file is unchanged); None if it is not a readable ELF64."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _load(path, st.st_ino, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _load(path: str, ino: int, mtime: int) -> Symbols | None:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_FILE)
        return parse(data)
    except (OSError, struct.error, IndexError):
        return None


def parse(data: bytes) -> Symbols | None:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    loads = []
    for k in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + k * phentsize)
        if p_type == _PT_LOAD:
            loads.append((p_offset, p_vaddr, p_filesz))
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    table = next((s for s in sections if s[1] == _SHT_SYMTAB), None) or next(
        (s for s in sections if s[1] == _SHT_DYNSYM), None)
    best: dict[int, tuple[int, str]] = {}
    if table is not None:
        _n, _t, _fl, _addr, off, size, link, _info, _al, entsize = table
        stroff = sections[link][4]
        for k in range(size // (entsize or 24)):
            st_name, info, _other, shndx, value, _size = struct.unpack_from("<IBBHQQ", data, off + k * entsize)
            if info & 0xF not in (_STT_FUNC, _STT_GNU_IFUNC) or shndx == 0 or value == 0:
                continue
            rank = _BIND_RANK.get(info >> 4, 3)
            prev = best.get(value)
            if prev is None or rank < prev[0]:
                end = data.index(b"\0", stroff + st_name)
                best[value] = (rank, data[stroff + st_name:end].decode("utf-8", "replace"))
    addrs = tuple(sorted(best))
    return Symbols(tuple(loads), addrs, tuple(best[a][1] for a in addrs))
