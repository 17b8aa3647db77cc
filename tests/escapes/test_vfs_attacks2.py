"""More attacks on the virtual filesystem of ``umlpy run`` (see test_vfs_attacks.py).

Each test checks an outside fact: a secret compiled into a host program
outside the guest's view never printed, a host file unchanged or absent.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")

GUESTS = Path(__file__).resolve().parent.parent / "guests"


def _raw_secret_prog(out: Path, secret: int, *extra: str) -> None:
    """A libc-free position-independent program printing ``secret=HEX``: it
    runs as an ELF interpreter too (the kernel jumps to its entry)."""
    subprocess.run(["gcc", "-O1", "-nostdlib", "-static-pie", "-fPIE", f"-DSECRET={secret:x}", *extra,
                    "-o", str(out), str(GUESTS / "escape_vfs_rawsecret.c")], check=True)


def _elf_with_interp(interp: bytes, phnum: int) -> bytes:
    """An x86-64 ET_EXEC whose PT_INTERP is ``interp``, padded to ``phnum``
    program headers (the kernel accepts a table of up to 64 KiB)."""
    phoff, soff = 64, 64 + 56 * phnum
    s = interp + b"\0"
    total = soff + len(s)
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x400000 + soff, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 3, 4, soff, 0x400000 + soff, 0x400000 + soff, len(s), len(s), 1)
    ph += struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, total, total, 0x1000)
    return eh + ph + b"\0" * 56 * (phnum - 2) + s


@pytest.mark.parametrize("phnum", [3, 300, 1170])
def test_elf_interpreter_outside_the_rootfs_does_not_run(tmp_path: Path, phnum: int) -> None:
    """--root DIR: a program whose PT_INTERP names a host path outside DIR
    must not make the kernel load that host file.  With more than 256
    program headers umlpy once skipped the PT_INTERP lookup, and the kernel
    opened the interpreter by its host path."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    secret = secrets.randbits(48) | 1 << 47
    outside = tmp_path / "outside"
    outside.mkdir()
    _raw_secret_prog(outside / "prog", secret)
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "x").write_bytes(_elf_with_interp(os.fsencode(outside / "prog"), phnum))
    os.chmod(root / "bin" / "x", 0o755)
    r = run_umlpy("run", "-q", "--discard", "--root", str(root), "--", "/bin/x")
    assert "Traceback" not in r.stderr, r.stderr
    assert f"secret={secret:x}" not in r.stdout
    assert r.returncode == 127, (r.returncode, r.stderr)  # ENOENT: no such interpreter in the rootfs


def test_scratch_seal_and_cwd_swapped_for_a_symlink(tmp_path: Path) -> None:
    """The sealed scratch page cannot be made writable, unmapped, replaced,
    moved or discarded, nor written through /proc/self/mem; a cwd (in the
    writable layer) renamed away and replaced by a symlink to a host
    directory leads relative creates nowhere on the host; directories nested
    past PATH_MAX on the host side end in a clean errno."""
    w, host = tmp_path / "w", tmp_path / "host"
    w.mkdir()
    host.mkdir()
    for d in (tmp_path, w, host):
        os.chmod(d, 0o777)
    r = run_umlpy("run", "-q", "--discard", "--", sys.executable, str(GUESTS / "escape_vfs_scratch_cwd.py"),
                  str(w), str(host), timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for call in ("mprotect", "munmap", "mmap_fixed", "mremap", "madvise"):
        assert any(ln.startswith(call + " ") and "Operation not permitted" in ln for ln in lines), lines
    assert "mem opened RW!" not in lines and "mem write ok!" not in lines, lines
    assert os.listdir(host) == [] and os.listdir(w) == []
    assert any(ln.startswith("deep ") for ln in lines), lines
