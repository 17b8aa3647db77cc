"""Strings as strace prints them (strace's util.c ``string_quote``).

Printable ASCII is itself; ``"`` and ``\\`` are escaped; \\t \\n \\v \\f \\r
use their C escapes; any other byte is octal, with the short form (``\\0``)
unless the next byte is an octal digit, which forces three digits
(``\\0001``).  ``-x`` prints non-printables as ``\\xNN``, ``-xx`` every byte.
A string longer than ``-s`` is cut and followed by ``...`` after the quote.
Paths are never cut (strace prints them up to PATH_MAX).
"""

from __future__ import annotations

import re

from umlpy.vkernel.decode.base import Arg, Env, ptr_str, s64

PATH_MAX = 4096

_C_ESC = {0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def _build_table() -> list[str]:
    out = []
    for b in range(256):
        if b in _C_ESC:
            out.append(_C_ESC[b])
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("")  # octal, depends on the next byte
    return out


_TABLE = _build_table()


_OCT_SHORT = [t or f"\\{b:o}" for b, t in enumerate(_TABLE)]
_HEX_ESC = [t or f"\\x{b:02x}" for b, t in enumerate(_TABLE)]
_PLAIN = re.compile(rb"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# An octally escaped byte followed by an octal digit: it needs all three digits.
_OCT_BEFORE_DIGIT = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f-\xff](?=[0-7])")


def quote(data: bytes, *, hex_mode: int = 0) -> str:
    """``data`` in double quotes with strace's escaping."""
    if hex_mode >= 2:
        return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'
    if _PLAIN.fullmatch(data):  # the common case: nothing to escape
        return '"' + data.decode("ascii") + '"'
    if hex_mode == 1:
        return '"' + "".join([_HEX_ESC[b] for b in data]) + '"'
    parts = [_OCT_SHORT[b] for b in data]
    for m in _OCT_BEFORE_DIGIT.finditer(data):
        parts[m.start()] = f"\\{data[m.start()]:03o}"
    return '"' + "".join(parts) + '"'


def counted(e: Env, addr: int, length: int, *, force_hex: bool = False) -> str:
    """A buffer of ``length`` bytes, cut at -s."""
    if addr == 0:
        return "NULL"
    shown = min(max(length, 0), e.opts.strsize)
    data = e.read(addr, shown)
    if data is None:
        return ptr_str(addr)
    q = quote(data, hex_mode=2 if force_hex else e.opts.hex_strings)
    return q + "..." if length > shown else q


def cstring(e: Env, addr: int, limit: int | None = None) -> str:
    """A NUL-terminated string, cut at ``limit`` (default -s)."""
    if addr == 0:
        return "NULL"
    lim = e.opts.strsize if limit is None else limit
    data = e.cstring(addr, lim)
    if data is None:
        return ptr_str(addr)
    if len(data) > lim:
        return quote(data[:lim], hex_mode=e.opts.hex_strings) + "..."
    return quote(data, hex_mode=e.opts.hex_strings)


def path(e: Env, i: int) -> str:
    return cstring(e, e.args[i], PATH_MAX)


def string(e: Env, i: int) -> str:
    return cstring(e, e.args[i])


def counted_reads(e: Env, addr: int, length: int) -> None:
    """What :func:`counted` reads."""
    if addr:
        e.read(addr, min(max(length, 0), e.opts.strsize))


def buf_in(len_arg: int) -> Arg:
    """An input buffer whose length is argument ``len_arg`` (write, sendto)."""
    return Arg(lambda e, i: counted(e, e.args[i], e.args[len_arg] & 0xFFFFFFFFFFFFFFFF),
               reads=lambda e, i: counted_reads(e, e.args[i], e.args[len_arg] & 0xFFFFFFFFFFFFFFFF))


def _buf_out(e: Env, i: int) -> str:
    ret = s64(e.ret or 0)
    return counted(e, e.args[i], ret)


BUF_OUT = Arg(_buf_out, out=True, reads=lambda e, i: counted_reads(e, e.args[i], s64(e.ret or 0)))
PATH = Arg(path, reads=lambda e, i: e.args[i] and e.cstring(e.args[i], PATH_MAX))
STRING = Arg(string, reads=lambda e, i: e.args[i] and e.cstring(e.args[i], e.opts.strsize))
