"""Error types of the virtual filesystem.

Two kinds, as STYLE habit 10 asks:

* :class:`VfsError` is guest-visible: it carries one errno that a syscall
  handler returns to the guest unchanged (``-errno``).  Host ``OSError``\\ s
  become ``VfsError`` in exactly one place, :func:`from_oserror`.
* :class:`VfsBug` is an internal invariant violation (a caller passed a
  relative path where an absolute canonical one is required, a layer is
  missing...).  It must stop the sandbox, never be turned into an errno.
"""

from __future__ import annotations

import errno as _errno
import os


class VfsError(Exception):
    """A guest-visible failure: ``VfsError(errno.ENOENT)``."""

    __slots__ = ("errno",)

    def __init__(self, err: int, detail: str = "") -> None:
        self.errno = err
        name = _errno.errorcode.get(err, str(err))
        super().__init__(f"{name}: {detail}" if detail else name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VfsError) and other.errno == self.errno

    def __hash__(self) -> int:
        return hash(self.errno)


class VfsBug(Exception):
    """An internal invariant was broken: stop the sandbox, do not map to an errno."""


def from_oserror(exc: OSError, detail: str = "") -> VfsError:
    """The one place a host ``OSError`` becomes a guest-visible error.

    An ``OSError`` without an errno (it should not happen for syscalls) is
    reported as EIO rather than guessed at.
    """
    err = exc.errno if exc.errno is not None else _errno.EIO
    return VfsError(err, detail or (os.fsdecode(exc.filename) if exc.filename else ""))
