"""Copy-on-write over a host tree, after Linux overlayfs
(Documentation/filesystems/overlayfs.rst), in user space.

One overlay covers one mount: ``lower`` is the host tree (read-only: this
module never writes it), ``upper`` a directory in the sandbox state directory,
``work`` a scratch directory on the same filesystem as ``upper`` where copies
are assembled before being renamed into place, so the guest never sees a
half-copied file.  Paths are *relative* to the layer root (``b""``, ``b"a/b"``)
and canonical: the resolver has already followed every symlink, so no
intermediate component is a symlink in the guest view.

Lookup order, per path:

1. an entry in ``upper`` wins (so creating over a whiteout needs no
   bookkeeping, and a whiteout recorded *before* a host unlink/rmdir/rename
   that then fails is harmless: the upper entry is still there);
2. else the lower entry shows, unless the path or an ancestor is whited out,
   or an ancestor is an opaque directory that exists in ``upper``;
3. else absent.

Whiteouts, opaque marks and owner/mode overrides live in a
:class:`~umlpy.vfs.meta.MetaStore` outside ``upper`` (the guest can write
``upper``; it must not be able to forge a whiteout).

Everything that modifies a path goes through :meth:`Overlay.prepare_write`
(or :meth:`Overlay.prepare_rename`), which checks permissions the way the
host would have checked them on the lower file (the upper copy is owned by
umlpy's uid, so the host alone would be too lenient), copies up, records
whiteouts and opaque marks, and returns the upper path for the host syscall
(or None when the operation is complete: deleting a lower-only entry is just
a whiteout).

Decisions:

* Copy-up breaks hard links between lower files (overlayfs without
  ``index=on`` does the same).  ``link(2)`` in the guest copies the source up
  and links inside ``upper``, so links made by the guest are real links.
  Overrides are keyed by path, so a link does not share them.
* Renaming a directory that has lower content copies the whole subtree up
  (at most ``max_tree_copy`` nodes, else EXDEV, which ``mv`` and friends
  handle by copying, as with overlayfs without ``redirect_dir``) and marks the
  destination opaque.
* Permission checks use the mode bits and the (override) owner; ACLs are not
  evaluated.  Under ``fake_root`` every check passes, as for root.
* Copy-up as non-root of a file owned by someone else records the original
  owner as an override, so the guest still sees (and is checked against) the
  original owner.  Writes to fifos and devices go to the lower node itself:
  they change no file content.
"""

from __future__ import annotations

import enum
import errno
import itertools
import logging
import os
import stat
from dataclasses import dataclass

from umlpy.vfs import hostio, paths
from umlpy.vfs.errors import VfsError, from_oserror
from umlpy.vfs.meta import FakeMeta, MetaStore
from umlpy.vfs.resolve import NodeKind

log = logging.getLogger(__name__)

R_OK, W_OK, X_OK = 4, 2, 1
_counter = itertools.count()


class Layer(enum.Enum):
    UPPER = "upper"
    LOWER = "lower"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Lookup:
    layer: Layer
    host: bytes | None = None
    st: os.stat_result | None = None
    whiteout: bool = False  # absent because deleted in this sandbox

    @property
    def kind(self) -> NodeKind | None:
        return None if self.st is None else NodeKind.from_mode(self.st.st_mode)


class WriteIntent(enum.Enum):
    WRITE = "write"  # open for writing, O_TRUNC, truncate(2), fallocate
    CHMOD = "chmod"
    CHOWN = "chown"
    UTIMES = "utimes"  # explicit times: owner only
    UTIMES_NOW = "utimes-now"  # NULL / UTIME_NOW: owner or write access
    XATTR = "xattr"  # setxattr/removexattr
    LINK_SOURCE = "link-source"  # oldpath of link(2)
    CREATE = "create"  # new non-directory: O_CREAT, mknod, symlink, link newpath, bind
    MKDIR = "mkdir"
    UNLINK = "unlink"
    RMDIR = "rmdir"


@dataclass(frozen=True, slots=True)
class DirEntry:
    name: bytes
    kind: NodeKind
    ino: int


class Overlay:
    def __init__(
        self, lower: bytes, upper: bytes, work: bytes, meta: MetaStore, *, fake_root: bool = False,
        max_tree_copy: int = 10_000,
    ) -> None:
        self.lower, self.upper, self.work, self.meta = lower, upper, work, meta
        self.fake_root = fake_root
        self.max_tree_copy = max_tree_copy
        self._euid, self._egid = os.geteuid(), os.getegid()
        self._groups = {self._egid, *os.getgroups()}
        self._privileged = fake_root or self._euid == 0
        for d in (upper, work):
            os.makedirs(d, mode=0o700, exist_ok=True)

    def upper_path(self, rel: bytes) -> bytes:
        return os.path.join(self.upper, rel) if rel else self.upper

    def lower_path(self, rel: bytes) -> bytes:
        return os.path.join(self.lower, rel) if rel else self.lower

    # --- lookup --------------------------------------------------------------------

    def _upper_is_dir(self, rel: bytes) -> bool:
        return os.path.isdir(self.upper_path(rel)) and not os.path.islink(self.upper_path(rel))

    def lower_visible(self, rel: bytes) -> bool:
        """False if a whiteout or an opaque upper ancestor hides ``lower/rel``."""
        if self.meta.hidden_by_whiteout(rel):
            return False
        opq = self.meta.opaque
        return not (opq and any(a in opq and self._upper_is_dir(a) for a in paths.ancestors(rel)))

    def lookup(self, rel: bytes) -> Lookup:
        up = self.upper_path(rel)
        try:
            return Lookup(Layer.UPPER, up, os.lstat(up))
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as e:
            raise from_oserror(e) from None
        if not self.lower_visible(rel):
            return Lookup(Layer.ABSENT, whiteout=True)
        lo = self.lower_path(rel)
        try:
            return Lookup(Layer.LOWER, lo, os.lstat(lo))
        except (FileNotFoundError, NotADirectoryError):
            return Lookup(Layer.ABSENT)
        except OSError as e:
            raise from_oserror(e) from None

    def lower_children_visible(self, rel: bytes) -> bool:
        """True if the lower directory's entries show through ``rel`` (not opaque, not hidden)."""
        return self.lower_visible(rel) and not (rel in self.meta.opaque and self._upper_is_dir(rel))

    def listdir(self, rel: bytes) -> list[DirEntry]:
        """The merged directory: upper entries, then lower ones not shadowed or whited out."""
        lk = self.lookup(rel)
        if lk.layer is Layer.ABSENT:
            raise VfsError(errno.ENOENT)
        if lk.kind is not NodeKind.DIR:
            raise VfsError(errno.ENOTDIR)
        out: dict[bytes, DirEntry] = {}
        # The upper directory is opened without following symlinks: the
        # guest may have swapped an ancestor for one since the lookup.
        dirs: list[tuple[bytes, bool]] = [(rel, False)] if lk.layer is Layer.UPPER else []
        if self.lower_children_visible(rel):
            dirs.append((self.lower_path(rel), True))
        wo = self.meta.whiteouts
        for d, is_lower in dirs:
            try:
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if is_lower \
                    else hostio.open_dir_beneath(self.upper, d)
                try:
                    with os.scandir(fd) as it:
                        for e in it:
                            name = os.fsencode(e.name)
                            if name in out or (is_lower and (paths.under(rel, name) if rel else name) in wo):
                                continue
                            kind = NodeKind.from_mode(e.stat(follow_symlinks=False).st_mode)
                            out[name] = DirEntry(name, kind, e.inode())
                finally:
                    os.close(fd)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                raise from_oserror(e) from None
        return sorted(out.values(), key=lambda d: d.name)

    # --- permissions ---------------------------------------------------------------

    def meta_of(self, rel: bytes) -> FakeMeta | None:
        """Owner/mode overrides for stat(2) results (fake root, preserved owner)."""
        return self.meta.fake.get(rel)

    def _may(self, rel: bytes, st: os.stat_result, want: int) -> bool:
        if self._privileged:
            return True
        fm = self.meta.fake.get(rel, FakeMeta())
        uid = st.st_uid if fm.uid is None else fm.uid
        gid = st.st_gid if fm.gid is None else fm.gid
        mode = st.st_mode if fm.mode is None else fm.mode
        if uid == self._euid:
            bits = mode >> 6
        elif gid in self._groups:
            bits = mode >> 3
        else:
            bits = mode
        return bits & want == want

    def _is_owner(self, rel: bytes, st: os.stat_result) -> bool:
        if self._privileged:
            return True
        fm = self.meta.fake.get(rel, FakeMeta())
        return (st.st_uid if fm.uid is None else fm.uid) == self._euid

    def _check_parent(self, rel: bytes, *, deleting: Lookup | None = None) -> None:
        """W|X on the parent (EACCES), and the sticky-bit rule for deletions (EPERM)."""
        parent = paths.split(b"/" + rel)[0][1:]
        plk = self.lookup(parent)
        if plk.st is None:
            raise VfsError(errno.ENOENT)
        if not stat.S_ISDIR(plk.st.st_mode):
            raise VfsError(errno.ENOTDIR)  # the walk fails before any permission check
        if not self._may(parent, plk.st, W_OK | X_OK):
            raise VfsError(errno.EACCES)
        sticky = bool(plk.st.st_mode & stat.S_ISVTX)
        if sticky and deleting is not None and deleting.st is not None and not (
            self._is_owner(rel, deleting.st) or self._is_owner(parent, plk.st)
        ):
            raise VfsError(errno.EPERM, "sticky directory")

    # --- copy-up -------------------------------------------------------------------

    def _ensure_upper_dir(self, rel: bytes) -> None:
        if not rel:
            return
        if self._upper_is_dir(rel):
            return
        lk = self.lookup(rel)
        if lk.layer is Layer.ABSENT:
            raise VfsError(errno.ENOENT)
        if lk.kind is not NodeKind.DIR:
            raise VfsError(errno.ENOTDIR)
        self.copy_up(rel)

    def copy_up(self, rel: bytes) -> bytes:
        """Make ``rel`` exist in ``upper`` (parents first); return its upper path."""
        lk = self.lookup(rel)
        if lk.layer is Layer.UPPER:
            return self.upper_path(rel)
        if lk.layer is Layer.ABSENT or lk.host is None:
            raise VfsError(errno.ENOENT)
        self._ensure_upper_dir(paths.split(b"/" + rel)[0][1:])
        tmp = os.path.join(self.work, b"%d.%d" % (os.getpid(), next(_counter)))
        st = hostio.clone_node(lk.host, tmp, chown=self._euid == 0)
        foreign = (st.st_uid, st.st_gid) != (self._euid, self._egid)
        # The copy could not be chowned (not root): remember the original
        # owner, so the guest (and umlpy diff) still see it, fake root or not.
        if self._euid != 0 and foreign and rel not in self.meta.fake:
            self.meta.set_fake(rel, uid=st.st_uid, gid=st.st_gid)
        dst = self.upper_path(rel)
        try:
            if stat.S_ISDIR(st.st_mode) or not os.path.lexists(dst):
                os.rename(tmp, dst)
        except OSError as e:
            raise from_oserror(e) from None
        finally:
            if os.path.lexists(tmp):
                os.rmdir(tmp) if stat.S_ISDIR(st.st_mode) else os.unlink(tmp)
        log.debug("copied up %r", rel)
        return dst

    def copy_up_tree(self, rel: bytes, budget: list[int] | None = None) -> None:
        """Copy a directory and everything visible below it, then mark it opaque."""
        budget = budget if budget is not None else [self.max_tree_copy]
        self.copy_up(rel)
        has_lower = os.path.lexists(self.lower_path(rel)) and self.lower_children_visible(rel)
        if not has_lower:
            return
        for e in self.listdir(rel):
            budget[0] -= 1
            if budget[0] < 0:
                raise VfsError(errno.EXDEV, "directory too large to copy up for rename")
            child = paths.under(rel, e.name) if rel else e.name
            if e.kind is NodeKind.DIR:
                self.copy_up_tree(child, budget)
            else:
                self.copy_up(child)
        self.meta.set_opaque(rel)

    def is_empty_dir(self, rel: bytes) -> bool:
        return not self.listdir(rel)

    # --- the write gate -----------------------------------------------------------

    def prepare_write(self, rel: bytes, intent: WriteIntent) -> bytes | None:
        """Make ``rel`` ready for a write-intent syscall; the host path to use,
        or None if nothing is left for the host to do (lower-only deletions)."""
        lk = self.lookup(rel)
        W = WriteIntent
        if intent in (W.CREATE, W.MKDIR):
            if lk.layer is not Layer.ABSENT:
                raise VfsError(errno.EEXIST)
            self._check_parent(rel)
            self._ensure_upper_dir(paths.split(b"/" + rel)[0][1:])
            if intent is W.MKDIR and (lk.whiteout or os.path.lexists(self.lower_path(rel))):
                self.meta.set_opaque(rel)
            return self.upper_path(rel)
        if lk.layer is Layer.ABSENT or lk.st is None:
            raise VfsError(errno.ENOENT)
        kind = lk.kind
        if intent in (W.UNLINK, W.RMDIR):
            if intent is W.UNLINK and kind is NodeKind.DIR:
                raise VfsError(errno.EISDIR)
            if intent is W.RMDIR:
                if kind is not NodeKind.DIR:
                    raise VfsError(errno.ENOTDIR)
                if not rel:
                    raise VfsError(errno.EBUSY)
                if not self.is_empty_dir(rel):
                    raise VfsError(errno.ENOTEMPTY)
                self.meta.drop_whiteouts(rel)
            self._check_parent(rel, deleting=lk)
            if os.path.lexists(self.lower_path(rel)):
                self.meta.add_whiteout(rel)
            self.meta.drop_fake(rel)
            return lk.host if lk.layer is Layer.UPPER else None
        if intent is W.WRITE:
            if kind is NodeKind.DIR:
                raise VfsError(errno.EISDIR)
            if kind is NodeKind.OTHER and lk.layer is Layer.LOWER:
                return lk.host  # fifo/device: the data goes to the node, not the tree
            if not self._may(rel, lk.st, W_OK):
                raise VfsError(errno.EACCES)
        elif intent in (W.CHMOD, W.CHOWN, W.UTIMES):
            if not self._is_owner(rel, lk.st):
                raise VfsError(errno.EPERM)
        elif intent is W.UTIMES_NOW:
            if not (self._is_owner(rel, lk.st) or self._may(rel, lk.st, W_OK)):
                raise VfsError(errno.EACCES)
        elif intent is W.XATTR:
            if not self._may(rel, lk.st, W_OK):
                raise VfsError(errno.EACCES)
        elif intent is W.LINK_SOURCE and kind is NodeKind.DIR:
            raise VfsError(errno.EPERM)
        return self.copy_up(rel)

    def prepare_rename(
        self, old: bytes, new: bytes, *, noreplace: bool = False, exchange: bool = False
    ) -> tuple[bytes, bytes]:
        """Ready a rename(2)/renameat2(2); return the two upper paths for the host."""
        lo, ln = self.lookup(old), self.lookup(new)
        if lo.layer is Layer.ABSENT:
            raise VfsError(errno.ENOENT)
        if not old or not new:
            raise VfsError(errno.EBUSY)
        if old == new:
            return self.copy_up(old), self.upper_path(new)
        if exchange and ln.layer is Layer.ABSENT:
            raise VfsError(errno.ENOENT)
        old_dir = lo.kind is NodeKind.DIR
        if old_dir and paths.is_within(b"/" + new, b"/" + old):
            raise VfsError(errno.EINVAL, "rename into own subdirectory")
        if not exchange and ln.layer is not Layer.ABSENT:
            if noreplace:
                raise VfsError(errno.EEXIST)
            if old_dir and ln.kind is not NodeKind.DIR:
                raise VfsError(errno.ENOTDIR)
            if not old_dir and ln.kind is NodeKind.DIR:
                raise VfsError(errno.EISDIR)
            if old_dir and not self.is_empty_dir(new):
                raise VfsError(errno.ENOTEMPTY)
        self._check_parent(old, deleting=lo)
        self._check_parent(new, deleting=ln if ln.layer is not Layer.ABSENT else None)
        for rel, lk in ((old, lo), (new, ln)) if exchange else ((old, lo),):
            if lk.kind is NodeKind.DIR:
                self.copy_up_tree(rel)
                self.meta.set_opaque(rel)
            else:
                self.copy_up(rel)
        self._ensure_upper_dir(paths.split(b"/" + new)[0][1:])
        if exchange:
            # Each directory lands where the other was: opaque there, or the
            # lower entry at its new path (say a host symlink, followed by
            # every lower lookup below it) would show through it.
            if lo.kind is NodeKind.DIR:
                self.meta.set_opaque(new)
            if ln.kind is NodeKind.DIR:
                self.meta.set_opaque(old)
            tmp = b"\0swap"
            self.meta.move_fake(old, tmp)
            self.meta.move_fake(new, old)
            self.meta.move_fake(tmp, new)
        else:
            if old_dir:
                self.meta.set_opaque(new)
            if os.path.lexists(self.lower_path(old)):
                self.meta.add_whiteout(old)
            self.meta.move_fake(old, new)
        return self.upper_path(old), self.upper_path(new)

    # --- fake root ------------------------------------------------------------------

    def fake_chown(self, rel: bytes, uid: int, gid: int) -> None:
        """chown under --fake-root: recorded, never applied to the host (-1 = unchanged)."""
        self.prepare_write(rel, WriteIntent.CHOWN)
        self.meta.set_fake(rel, uid=None if uid == -1 else uid, gid=None if gid == -1 else gid)

    def fake_chmod(self, rel: bytes, mode: int) -> None:
        """chmod under --fake-root: recorded; the upper copy keeps owner rw(x) so
        umlpy, really unprivileged, can still serve the fake root's accesses."""
        up = self.prepare_write(rel, WriteIntent.CHMOD)
        assert up is not None
        st = os.lstat(up)
        if stat.S_ISLNK(st.st_mode):
            raise VfsError(errno.EOPNOTSUPP)
        self.meta.set_fake(rel, mode=mode)
        os.chmod(up, (mode & 0o7777) | (0o700 if stat.S_ISDIR(st.st_mode) else 0o600))
