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
    """PT_INTERP of a 64-bit little-endian ELF file open at ``fd``, else None."""
    import os

    head = os.pread(fd, 64, 0)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", head, 32)
    phentsize, phnum = struct.unpack_from("<HH", head, 54)
    if phentsize < 56 or phnum > 256:
        return None
    table = os.pread(fd, phentsize * phnum, phoff)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == PT_INTERP and 0 < p_filesz <= 4096:
            return os.pread(fd, p_filesz, p_offset).split(b"\0", 1)[0] or None
    return None
