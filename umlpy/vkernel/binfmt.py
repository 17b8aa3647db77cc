"""What execve(2) will load: ``#!`` interpreters and ELF program interpreters.

The kernel reads both from the file it execs and opens them by *host*
path, behind the tracer's back (fs/binfmt_script.c, fs/binfmt_elf.c).
Under a guest root (``--root DIR``) or when the guest replaced its own
interpreter in the copy-on-write layer, the interpreter the guest means is
a different host file, so the exec handler runs it explicitly (as PRoot
does): a script becomes ``INTERP [ARG] SCRIPT ARGS...``, a dynamically
linked program becomes ``LD.SO --argv0 ARGV0 PROGRAM ARGS...`` with the
program named by its guest path, which ld.so then opens — through the
tracer — like every library after it.
"""

from __future__ import annotations

import struct

BINPRM_BUF_SIZE = 256  # what the kernel reads for the #! line
PT_INTERP = 3


def shebang(head: bytes) -> tuple[bytes, bytes | None] | None:
    """(interpreter, optional argument) of a ``#!`` line, as binfmt_script parses it."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0]
    line = line.strip(b" \t")
    if not line:
        return None
    interp, _, rest = line.replace(b"\t", b" ").partition(b" ")
    rest = rest.strip(b" ")
    return interp, rest or None


def elf_interp(fd: int) -> bytes | None:
    """PT_INTERP of a little-endian ELF file (64- or 32-bit) open at ``fd``, else None.

    Mirrors fs/binfmt_elf.c: the program header table is accepted when
    e_phentsize is exact and it is at most 64 KiB (no smaller cap: a table
    this function skipped but the kernel loads would let the kernel open
    the interpreter by its host path), and the *first* PT_INTERP is the one
    the kernel uses. ELFCLASS32 is parsed too: the compat loader honours it."""
    import os

    head = os.pread(fd, 64, 0)
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    if head[4] == 2:
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        size, fmt = 56, "<IIQQQQ"
    elif head[4] == 1:
        phoff, = struct.unpack_from("<I", head, 28)
        phentsize, phnum = struct.unpack_from("<HH", head, 42)
        size, fmt = 32, "<IIIIII"
    else:
        return None
    if phentsize != size or not 0 < size * phnum <= 65536:
        return None  # the kernel refuses it too (ENOEXEC)
    table = os.pread(fd, size * phnum, phoff)
    if len(table) < size * phnum:
        return None
    for i in range(phnum):
        if head[4] == 2:
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(fmt, table, i * size)
        else:
            p_type, p_offset, _vaddr, _paddr, p_filesz, _memsz = struct.unpack_from(fmt, table, i * size)
        if p_type == PT_INTERP:
            if not 2 <= p_filesz <= 4096:
                return None  # the kernel refuses it (ENOEXEC)
            return os.pread(fd, p_filesz, p_offset).split(b"\0", 1)[0] or None
    return None
