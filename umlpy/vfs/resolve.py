"""Path resolution in the guest's view: path_resolution(7), openat2(2).

A pipeline of small steps, as PRoot does it (choose the base, join,
canonicalize in the guest view) but walking component by component like the
kernel's ``link_path_walk`` so that symlinks, ``..`` and mount crossings are
judged at the moment they are met:

* The walk starts at the task's root for an absolute path, else at the base
  (cwd or dirfd), which must be a directory (ENOTDIR).
* ``..`` at the root stays at the root (the virtual root clamps it, as
  ``chroot`` does).  ``..`` of a canonical path is its lexical parent: the
  path the walk is at never contains a symlink.
* A symlink met in the middle of a path, or last when following, is read
  through the :class:`Accessor`; its target is walked from the current
  directory, or from the *virtual* root when absolute, so ``-> /etc/shadow``
  means the guest's ``/etc/shadow``.  After ``MAXSYMLINKS`` (40) links the
  41st fails with ELOOP (namei.c ``pick_link``).
* ``NOFOLLOW`` (``O_NOFOLLOW``, ``AT_SYMLINK_NOFOLLOW``, or the intent of
  unlink/mkdir/rename/...) leaves a trailing symlink unfollowed, unless the
  path ends in ``/`` (``LOOKUP_FOLLOW`` is forced by a trailing slash).
* A non-directory used as a directory is ENOTDIR; a missing component is
  ENOENT, except the last one under ``MAY_CREATE`` (``O_CREAT``, mkdir...).

openat2(2) ``RESOLVE_*`` flags (same bit values as Linux, so a handler can
pass ``open_how.resolve`` through after rejecting unknown bits):

* ``RESOLVE_NO_XDEV``: crossing a mount (down into one, ``..`` out of one,
  a symlink jump to a root on another mount) is EXDEV.
* ``RESOLVE_NO_MAGICLINKS``: a magic link (``/proc/PID/fd/N``...) is ELOOP.
* ``RESOLVE_NO_SYMLINKS``: any followed symlink is ELOOP (magic ones too).
* ``RESOLVE_BENEATH``: the walk must stay below the base: an absolute path,
  an absolute symlink or ``..`` at the base is EXDEV.
* ``RESOLVE_IN_ROOT``: the base acts as the root: absolute paths and
  symlinks restart there and ``..`` clamps there.
* Under ``BENEATH``/``IN_ROOT``, magic links are EXDEV (namei.c
  ``nd_jump_link``: "not currently safe for scoped lookups").

Magic links: the accessor reports ``NodeKind.MAGICLINK`` and ``readlink``
returns the canonical guest path of the object (the vkernel answers
``/proc/self/*`` from its own state).  The walk *jumps* there, it does not
re-resolve the text.  A target that is not a path (``pipe:[42]``) is returned
as the result when last, and is ENOTDIR in the middle of a path.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from umlpy.vfs import paths
from umlpy.vfs.errors import VfsError, from_oserror
from umlpy.vfs.paths import LastKind

MAXSYMLINKS = 40


class ResolveFlag(enum.IntFlag):
    NONE = 0
    # openat2(2) RESOLVE_* with their Linux values
    NO_XDEV = 0x01
    NO_MAGICLINKS = 0x02
    NO_SYMLINKS = 0x04
    BENEATH = 0x08
    IN_ROOT = 0x10
    # umlpy's own bits for the classic flags
    NOFOLLOW = 0x1000  # O_NOFOLLOW / AT_SYMLINK_NOFOLLOW / create-type syscalls
    DIRECTORY = 0x2000  # O_DIRECTORY: the result must be a directory
    MAY_CREATE = 0x4000  # a missing last component is not an error
    EMPTY_PATH = 0x8000  # AT_EMPTY_PATH: "" names the base itself


RESOLVE_MASK = 0x1F
_NO_XDEV, _NO_MAGICLINKS, _NO_SYMLINKS, _BENEATH, _IN_ROOT = 0x01, 0x02, 0x04, 0x08, 0x10
_NOFOLLOW, _DIRECTORY, _MAY_CREATE, _EMPTY_PATH = 0x1000, 0x2000, 0x4000, 0x8000


class NodeKind(enum.Enum):
    DIR = "dir"
    REG = "file"
    SYMLINK = "symlink"
    MAGICLINK = "magiclink"
    OTHER = "other"  # fifo, socket, device

    @classmethod
    def from_mode(cls, mode: int) -> NodeKind:
        if stat.S_ISDIR(mode):
            return cls.DIR
        if stat.S_ISREG(mode):
            return cls.REG
        if stat.S_ISLNK(mode):
            return cls.SYMLINK
        return cls.OTHER


@dataclass(frozen=True, slots=True)
class Node:
    kind: NodeKind
    mount: Hashable = None  # compared under RESOLVE_NO_XDEV


class Accessor(Protocol):
    """How the resolver sees the guest filesystem (canonical guest paths)."""

    def lstat(self, path: bytes) -> Node | None:
        """The node at ``path`` without following it, None if absent."""

    def readlink(self, path: bytes) -> bytes:
        """The target of the (magic) link at ``path``."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a guest path leads.

    ``path`` is canonical (absolute, no symlink, ``.`` or ``..`` left); for
    a missing last component (``node is None``, only under ``MAY_CREATE``) it
    is where the entry would be created and its parent exists.
    """

    path: bytes
    node: Node | None
    last: LastKind
    trailing_slash: bool
    must_be_dir: bool
    links: int = 0

    @property
    def parent(self) -> bytes:
        return paths.split(self.path)[0]

    @property
    def name(self) -> bytes:
        return paths.split(self.path)[1]


class HostDirAccessor:
    """An :class:`Accessor` over a real host directory used as the guest root
    (tests, and any mount with no layering)."""

    def __init__(self, root: bytes) -> None:
        self.root = os.path.realpath(root)

    def host(self, path: bytes) -> bytes:
        return self.root + path if self.root != b"/" else path

    def lstat(self, path: bytes) -> Node | None:
        try:
            st = os.lstat(self.host(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise from_oserror(e) from None
        return Node(NodeKind.from_mode(st.st_mode), st.st_dev)

    def readlink(self, path: bytes) -> bytes:
        try:
            return os.readlink(self.host(path))
        except OSError as e:
            raise from_oserror(e) from None


def _lstat_dir(acc: Accessor, path: bytes) -> Node:
    node = acc.lstat(path)
    if node is None:
        raise VfsError(errno.ENOENT, "base vanished")
    if node.kind is not NodeKind.DIR:
        raise VfsError(errno.ENOTDIR)
    return node


def resolve(
    acc: Accessor,
    raw: bytes,
    *,
    base: bytes,
    root: bytes = b"/",
    flags: ResolveFlag = ResolveFlag.NONE,
) -> Resolution:
    """Resolve guest path ``raw`` against canonical ``base`` and ``root``."""
    flags = int(flags)  # type: ignore[assignment]  # plain int tests: IntFlag's are slow per call
    gp = paths.parse(raw, allow_empty=bool(flags & _EMPTY_PATH))
    scoped = bool(flags & (_BENEATH | _IN_ROOT))
    if flags & _IN_ROOT:
        root = base
    scope = base if flags & _BENEATH else None
    must_dir = gp.must_be_dir or bool(flags & _DIRECTORY)
    follow_last = gp.trailing_slash or not flags & _NOFOLLOW
    no_xdev = bool(flags & _NO_XDEV)

    if not gp.parts and not gp.absolute:  # "" under AT_EMPTY_PATH: the base itself
        node = acc.lstat(base)
        if node is None:
            raise VfsError(errno.ENOENT)
        if must_dir and node.kind is not NodeKind.DIR:
            raise VfsError(errno.ENOTDIR)
        return Resolution(base, node, LastKind.ROOT, False, must_dir)

    if gp.absolute:
        if scope is not None:
            raise VfsError(errno.EXDEV, "absolute path under RESOLVE_BENEATH")
        cur = root
    else:
        cur = base
    cur_node = _lstat_dir(acc, cur)
    pending = list(reversed(gp.parts))
    links = 0
    last = LastKind.ROOT

    def result(path: bytes, node: Node | None) -> Resolution:
        return Resolution(path, node, last, gp.trailing_slash, must_dir, links)

    while pending:
        name = pending.pop()
        is_last = not pending
        if name == b".":
            last = LastKind.DOT
            continue
        if name == b"..":
            last = LastKind.DOTDOT
            if scope is not None and cur == scope:
                raise VfsError(errno.EXDEV, "'..' out of RESOLVE_BENEATH scope")
            if cur == root:
                continue
            parent = paths.split(cur)[0]
            pnode = _lstat_dir(acc, parent)
            if no_xdev and pnode.mount != cur_node.mount:
                raise VfsError(errno.EXDEV, "'..' crosses a mount")
            cur, cur_node = parent, pnode
            continue
        last = LastKind.NORM
        paths.check_component(name)
        child = paths.join(cur, name)
        node = acc.lstat(child)
        if node is None:
            if is_last and flags & _MAY_CREATE:
                return result(child, None)
            raise VfsError(errno.ENOENT)
        if node.kind in (NodeKind.SYMLINK, NodeKind.MAGICLINK) and (follow_last or not is_last):
            if flags & _NO_SYMLINKS:
                raise VfsError(errno.ELOOP, "symlink under RESOLVE_NO_SYMLINKS")
            if links >= MAXSYMLINKS:
                raise VfsError(errno.ELOOP, "too many levels of symbolic links")
            links += 1
            target = acc.readlink(child)
            if node.kind is NodeKind.MAGICLINK:
                if flags & _NO_MAGICLINKS:
                    raise VfsError(errno.ELOOP, "magic link under RESOLVE_NO_MAGICLINKS")
                if not target.startswith(b"/"):
                    if is_last:
                        return result(child, node)
                    raise VfsError(errno.ENOTDIR)
                tnode = acc.lstat(target)
                if tnode is None:
                    raise VfsError(errno.ENOENT, "magic link target gone")
                if no_xdev and tnode.mount != cur_node.mount:
                    raise VfsError(errno.EXDEV, "magic link crosses a mount")
                if scoped:
                    raise VfsError(errno.EXDEV, "magic link in a scoped lookup")
                if tnode.kind is not NodeKind.DIR:
                    if not is_last or must_dir:
                        raise VfsError(errno.ENOTDIR)
                    return result(target, tnode)
                cur, cur_node = target, tnode
                continue
            if not target:
                raise VfsError(errno.ENOENT, "empty symlink")
            tp = paths.parse(target)
            if tp.absolute:
                if scope is not None:
                    raise VfsError(errno.EXDEV, "absolute symlink under RESOLVE_BENEATH")
                rnode = _lstat_dir(acc, root)
                if no_xdev and rnode.mount != cur_node.mount:
                    raise VfsError(errno.EXDEV, "absolute symlink crosses a mount")
                cur, cur_node = root, rnode
            if is_last and tp.must_be_dir:
                must_dir = True
            pending.extend(reversed(tp.parts))
            continue
        if node.kind is NodeKind.DIR:
            if no_xdev and node.mount != cur_node.mount:
                raise VfsError(errno.EXDEV, "crosses a mount")
            cur, cur_node = child, node
            continue
        if not is_last or must_dir:
            raise VfsError(errno.ENOTDIR)
        return result(child, node)
    return result(cur, cur_node)
