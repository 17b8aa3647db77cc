"""Guest paths: bytes, parsed into values, joined and normalized lexically.

Follows path_resolution(7) and the kernel's fs/namei.c:

* A path is the bytes the guest passed, up to (not including) its first NUL:
  ``strncpy_from_user`` stops there, so :func:`parse` truncates at a NUL too.
* The empty path is ENOENT (unless the caller passes ``AT_EMPTY_PATH``, in
  which case it names the dirfd itself).
* A path of ``PATH_MAX`` (4096) bytes or more, counting the terminating NUL,
  is ENAMETOOLONG (``getname_flags``).  A single component longer than
  ``NAME_MAX`` (255) is ENAMETOOLONG when the walk reaches it, not before, so
  ``/missing/<256 x a>`` is ENOENT: :func:`check_component` is called by the
  resolver at lookup time, not by :func:`parse`.
* Repeated slashes collapse; ``.`` and ``..`` are kept as components, because
  ``a/..`` is *not* lexically ``.`` when ``a`` is a symlink.  Only the resolver,
  which sees the filesystem, may remove them.
* A trailing slash (or a trailing ``.``/``..``) makes the last component
  "must be a directory, follow it if it is a symlink" (``LOOKUP_DIRECTORY``
  and ``LOOKUP_FOLLOW`` in namei.c).  :class:`LastKind` mirrors the kernel's
  ``LAST_NORM``/``LAST_DOT``/``LAST_DOTDOT``/``LAST_ROOT``, which decides
  e.g. ``rmdir("x/.")`` = EINVAL and ``mkdir("x/..")`` = EEXIST.

:func:`normalize` is the *lexical* normalization, with ``..`` clamped at the
root, used only on canonical paths (no symlinks left) and on configuration
paths (mount points, hidden paths).
"""

from __future__ import annotations

import enum
import errno
from dataclasses import dataclass

from umlpy.vfs.errors import VfsError

PATH_MAX = 4096
NAME_MAX = 255
SEP = b"/"


class LastKind(enum.Enum):
    """The kind of a path's last component (namei.c ``LAST_*``)."""

    NORM = "norm"
    DOT = "dot"
    DOTDOT = "dotdot"
    ROOT = "root"  # "/" itself, or the empty path under AT_EMPTY_PATH


@dataclass(frozen=True, slots=True)
class GuestPath:
    """A parsed guest path.

    ``parts`` are the non-empty components in order, ``.`` and ``..``
    included.  ``trailing_slash`` is true when the path ends in ``/`` after at
    least one component.
    """

    absolute: bool
    parts: tuple[bytes, ...]
    trailing_slash: bool

    @property
    def last_kind(self) -> LastKind:
        if not self.parts:
            return LastKind.ROOT
        last = self.parts[-1]
        if last == b".":
            return LastKind.DOT
        if last == b"..":
            return LastKind.DOTDOT
        return LastKind.NORM

    @property
    def must_be_dir(self) -> bool:
        """True if the last component must resolve to a directory (``dir/``,
        ``x/.``, ``x/..``, ``/``); false for the empty AT_EMPTY_PATH path."""
        return self.trailing_slash or self.last_kind in (LastKind.DOT, LastKind.DOTDOT) or (self.absolute and not self.parts)

    def __bytes__(self) -> bytes:
        body = SEP.join(self.parts)
        if self.absolute:
            body = SEP + body
        if self.trailing_slash and self.parts:
            body += SEP
        return body


def parse(raw: bytes, *, allow_empty: bool = False) -> GuestPath:
    """Parse guest bytes into a :class:`GuestPath`.

    Raises ``VfsError(ENOENT)`` for an empty path unless ``allow_empty``
    (``AT_EMPTY_PATH``) and ``VfsError(ENAMETOOLONG)`` at ``PATH_MAX``.
    """
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    if len(raw) >= PATH_MAX:
        raise VfsError(errno.ENAMETOOLONG, "path longer than PATH_MAX")
    if not raw:
        if allow_empty:
            return GuestPath(absolute=False, parts=(), trailing_slash=False)
        raise VfsError(errno.ENOENT, "empty path")
    parts = tuple(p for p in raw.split(SEP) if p)
    return GuestPath(
        absolute=raw.startswith(SEP),
        parts=parts,
        trailing_slash=raw.endswith(SEP) and bool(parts),
    )


def check_component(name: bytes) -> None:
    """ENAMETOOLONG for a component longer than NAME_MAX."""
    if len(name) > NAME_MAX:
        raise VfsError(errno.ENAMETOOLONG, "component longer than NAME_MAX")


def normalize(path: bytes) -> bytes:
    """Lexically normalize an absolute path: collapse ``//``, drop ``.``,
    apply ``..`` with the root as its own parent.  Relative input is taken
    relative to ``/``.  Never touches the filesystem.
    """
    out: list[bytes] = []
    for part in path.split(SEP):
        if not part or part == b".":
            continue
        if part == b"..":
            if out:
                out.pop()
            continue
        out.append(part)
    return SEP + SEP.join(out)


def join(base: bytes, name: bytes) -> bytes:
    """``base/name`` for a canonical absolute ``base`` and one component."""
    if base == SEP:
        return SEP + name
    return base + SEP + name


def join_path(base: bytes, raw: bytes) -> bytes:
    """Lexical join of ``raw`` onto the absolute ``base`` (absolute ``raw``
    wins), normalized.  Useful for configuration, not for guest lookups."""
    if raw.startswith(SEP):
        return normalize(raw)
    return normalize(base + SEP + raw)


def split(path: bytes) -> tuple[bytes, bytes]:
    """``(parent, name)`` of a canonical absolute path; ``/`` -> ``(/, b"")``."""
    if path == SEP:
        return SEP, b""
    head, _, tail = path.rpartition(SEP)
    return (head or SEP), tail


def is_within(path: bytes, prefix: bytes) -> bool:
    """True if canonical ``path`` is ``prefix`` or below it."""
    if prefix == SEP:
        return path.startswith(SEP)
    return path == prefix or path.startswith(prefix + SEP)


def relative_to(path: bytes, prefix: bytes) -> bytes:
    """The part of canonical ``path`` below ``prefix`` without a leading
    slash (``b""`` for ``prefix`` itself).  ``ValueError`` if not within."""
    if not is_within(path, prefix):
        raise ValueError(f"{path!r} is not within {prefix!r}")
    if prefix == SEP:
        return path[1:]
    return path[len(prefix) + 1 :]


def under(prefix: bytes, rel: bytes) -> bytes:
    """Inverse of :func:`relative_to`."""
    if not rel:
        return prefix
    return join(prefix, rel)


def ancestors(rel: bytes) -> list[bytes]:
    """Proper ancestors of a relative path, shortest first, ``b""`` included:
    ``a/b/c`` -> ``[b"", b"a", b"a/b"]``."""
    if not rel:
        return []
    out = [b""]
    parts = rel.split(SEP)
    for i in range(1, len(parts)):
        out.append(SEP.join(parts[:i]))
    return out
