"""Guest memory copied at a stop and served again later, for decoding elsewhere.

``umlpy trace -o FILE`` formats in another process, after the guest was
resumed (:mod:`umlpy.tracefmt`).  At the stop the tracer runs the
arguments' ``reads`` (or, where they are not declared, the decoders
themselves) over a :class:`Recording`, which reads the guest and keeps
every answer, failures included, keyed by the request.  The formatter then
decodes over a :class:`Replay` of those answers: the same requests get the
same bytes, so the text is what decoding at the stop would have printed.

A request the copy does not hold (a ``reads`` that does not match its
formatter) is a bug; it raises :class:`NotCopied`, which the decoders'
guard turns into the raw value, and is counted so the formatter can say so.
"""

from __future__ import annotations

import errno

from umlpy.vkernel.decode.base import Memory

# (kind, addr, size) -> bytes, or the errno of the failure.  Kinds: 0 read, 1 cstring.
Copy = dict[tuple[int, int, int], "bytes | int"]


class NotCopied(Exception):
    """The formatter asked for guest memory that was not copied at the stop."""


class Recording:
    """A :class:`Memory` that reads through ``mem`` and keeps what it got."""

    __slots__ = ("copy", "mem")

    def __init__(self, mem: Memory) -> None:
        self.mem = mem
        self.copy: Copy = {}

    def read(self, addr: int, size: int) -> bytes:
        key = (0, addr, size)
        try:
            data = self.mem.read(addr, size)
        except (OSError, OverflowError, ValueError) as e:
            raise self._failed(key, e) from None
        self.copy[key] = data
        return data

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        key = (1, addr, limit)
        try:
            data = self.mem.read_cstring(addr, limit)
        except (OSError, OverflowError, ValueError) as e:
            raise self._failed(key, e) from None
        self.copy[key] = data
        return data

    def _failed(self, key: tuple[int, int, int], e: Exception) -> OSError:
        # Env treats OverflowError and ValueError as it treats EFAULT: unreadable.
        err = (e.errno or errno.EFAULT) if isinstance(e, OSError) else errno.EFAULT
        self.copy[key] = err
        return OSError(err, "guest memory unreadable")


class Replay:
    """A :class:`Memory` answering from a copy made by :class:`Recording`."""

    __slots__ = ("copy", "misses")

    def __init__(self, copy: Copy) -> None:
        self.copy = copy
        self.misses = 0

    def read(self, addr: int, size: int) -> bytes:
        return self._get((0, addr, size))

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        return self._get((1, addr, limit))

    def _get(self, key: tuple[int, int, int]) -> bytes:
        v = self.copy.get(key)
        if v is None:
            self.misses += 1
            raise NotCopied(key)
        if isinstance(v, int):
            raise OSError(v, "guest memory unreadable")
        return v
