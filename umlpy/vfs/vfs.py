"""The facade the syscall handlers use: mounts + resolution + overlays.

Theory of operation (PRoot's path pipeline, gVisor's VFS split):

1. :meth:`Vfs.resolve` walks the guest path in the guest's view
   (resolve.py) with this object as the :class:`~umlpy.vfs.resolve.Accessor`:
   each component is located in the mount table (mounts.py), then looked up
   in the mount's overlay (overlay.py) or directly on the host for ``rw``/``ro``
   binds and tmpfs.  Hidden paths are absent; a walk that meets one of the
   configured hidden paths calls :attr:`Vfs.on_hidden` with the path asked
   for and the hidden path (the run report's "secrets touched"), and is not
   cached, so every attempt is seen.  The answer, :class:`Resolved`,
   carries the canonical guest path, the node, the host path to *read* it
   through and the facts a handler needs (mount, layer, last-component kind).
2. Before any write-intent syscall the handler calls :meth:`Vfs.prepare_write`
   (or :meth:`Vfs.prepare_rename`) and hands the host kernel the path it
   returns; ``None`` means the vfs already did everything (a deletion of a
   lower-only file is only a whiteout) and the handler emulates success.
3. Paths going back to the guest (getcwd, readlink of /proc/self/fd/N...) go
   through :meth:`Vfs.to_guest`; None means "not visible to the guest".

Per-mount state in the state directory: ``upper/<key>``, ``work/<key>``,
``meta/<key>.jsonl`` where ``<key>`` is ``root`` for ``/`` and the hex of the
guest mount point otherwise, so the same configuration finds the same layers
again for ``umlpy diff/commit/discard``.  The state directory is hidden from
the guest wherever a mount would show it.

Mount identity for ``RESOLVE_NO_XDEV`` is (mount point, st_dev of the lower
node), so the host's own mounts below ``--root`` (``/proc``, ``/dev``...)
count as crossings too; entries only in the upper layer take the lower
root's device, as overlayfs presents a single device.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from umlpy.vfs import changes as _changes
from umlpy.vfs import hostio, paths
from umlpy.vfs.errors import VfsError, from_oserror
from umlpy.vfs.meta import FakeMeta, MetaStore
from umlpy.vfs.meter import UpperMeter
from umlpy.vfs.mounts import Access, BindSpec, Location, Mount, MountKind, MountTable
from umlpy.vfs.overlay import DirEntry, Layer, Overlay, WriteIntent
from umlpy.vfs.paths import LastKind
from umlpy.vfs.resolve import Node, NodeKind, ResolveFlag, resolve

log = logging.getLogger(__name__)

MagicLinks = Callable[[bytes], "tuple[NodeKind | None, bytes] | None"]
"""Per-task answers for ``/proc/self/...``: guest path -> (SYMLINK or
MAGICLINK, target), ``(None, b"")`` for a path the task must not see
(another sandbox's /proc/PID), or None for an ordinary path."""


class FsView(Protocol):
    """What resolution needs from a task's fs context (vkernel FsContext)."""

    @property
    def root(self) -> bytes: ...

    @property
    def cwd(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class VfsConfig:
    state_dir: bytes
    root: bytes = b"/"
    root_access: Access = Access.COW
    binds: tuple[BindSpec, ...] = ()
    tmpfs: tuple[bytes, ...] = ()
    hidden: tuple[bytes, ...] = ()
    synthetic: tuple[tuple[bytes, bytes], ...] = ()  # (guest path, content)
    fake_root: bool = False
    # The uid/gid the guest believes it has (--uid/--gid); fake_root means 0/0.
    fake_uid: int | None = None
    fake_gid: int | None = None

    @property
    def identity(self) -> tuple[int, int] | None:
        """(uid, gid) shown to the guest instead of the real ones, or None."""
        if self.fake_uid is None and self.fake_gid is None:
            return (0, 0) if self.fake_root else None
        real = (0, 0) if self.fake_root else (os.geteuid(), os.getegid())
        return (real[0] if self.fake_uid is None else self.fake_uid, real[1] if self.fake_gid is None else self.fake_gid)


@dataclass(frozen=True, slots=True)
class Resolved:
    guest: bytes  # canonical guest path
    node: Node | None  # None: absent (only under MAY_CREATE)
    host: bytes | None  # host path to read through now; None if absent in a COW mount
    mount: Mount
    rel: bytes  # path below the mount point
    layer: Layer | None  # UPPER/LOWER/ABSENT in a COW mount, None elsewhere
    last: LastKind = LastKind.NORM
    trailing_slash: bool = False
    must_be_dir: bool = False

    @property
    def readonly(self) -> bool:
        return self.mount.access is Access.RO


_KERNEL_TREES = (b"/proc", b"/dev")


@dataclass(frozen=True, slots=True)
class _View:
    root: bytes = b"/"
    cwd: bytes | None = b"/"


_ROOT_VIEW = _View()


def _key(guest: bytes) -> bytes:
    return b"root" if guest == b"/" else guest.hex().encode()


@dataclass(slots=True)
class _Magic:
    """An Accessor adding per-task magic links in front of the Vfs."""

    vfs: Vfs
    magic: MagicLinks
    cache: dict[bytes, tuple[NodeKind | None, bytes] | None] = field(default_factory=dict)

    def _ask(self, guest: bytes) -> tuple[NodeKind | None, bytes] | None:
        if guest not in self.cache:
            self.cache[guest] = self.magic(guest)
        return self.cache[guest]

    def lstat(self, path: bytes) -> Node | None:
        m = self._ask(path)
        if m is None:
            return self.vfs.lstat(path)
        self.vfs._volatile = True
        return None if m[0] is None else Node(m[0], b"magic")

    def readlink(self, path: bytes) -> bytes:
        m = self._ask(path)
        return m[1] if m else self.vfs.readlink(path)


@dataclass(frozen=True, slots=True)
class _Witness:
    """A lower directory as it was when a name was missing from it."""

    path: bytes
    ino: int
    mtime_ns: int


# Directory mtimes tick with the kernel's coarse clock (a jiffy, <= 10 ms at
# HZ=100): a directory changed less than this long ago may change again
# without its mtime moving, so a name missing from it is not cached.
_SETTLE_NS = 50_000_000


def _witness(ov: Overlay, rel: bytes) -> _Witness | None:
    """The lower parent of the missing ``rel``, taken *after* the lookup
    that missed it, then the name looked up again: a create in between
    shows in one or the other.  None: do not cache the miss (the parent
    changed very recently, or the name appeared)."""
    parent = ov.lower_path(rel.rpartition(b"/")[0])
    try:
        st = os.lstat(parent)
    except OSError:
        st = None
    if st is not None and time.time_ns() - st.st_mtime_ns < _SETTLE_NS:
        return None
    if os.path.lexists(ov.lower_path(rel)):
        return None
    return _Witness(parent, st.st_ino, st.st_mtime_ns) if st is not None else _Witness(parent, 0, 0)


def _unchanged(w: _Witness) -> bool:
    try:
        st = os.lstat(w.path)
    except OSError:
        return w.ino == 0
    return st.st_ino == w.ino and st.st_mtime_ns == w.mtime_ns


class Vfs:
    def __init__(self, config: VfsConfig) -> None:
        self.config = config
        state = os.path.realpath(config.state_dir)
        os.makedirs(state, mode=0o700, exist_ok=True)
        self.state_dir = state
        self.mounts = MountTable(config.root, state_dir=state, root_access=config.root_access)
        for b in config.binds:
            self.mounts.add_bind(b)
        for t in config.tmpfs:
            self.mounts.add_tmpfs(t)
        for g, content in config.synthetic:
            self.mounts.add_synthetic(g, content)
        for h in config.hidden:
            self.mounts.hide(h)
        self._secrets = tuple(paths.normalize(h) for h in config.hidden)
        # The hidden directories and files by identity too: the same inode
        # reached by another host path (a bind mount of a hidden directory,
        # a hard link to a hidden file, another case on a case-insensitive
        # filesystem) is hidden as well.  Landlock, path-based, misses those.
        self._hidden_ids: dict[tuple[int, int], bytes] = {}
        for h in self._secrets:
            try:
                st = os.lstat(self.mounts.locate(h).host)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                self._hidden_ids[(st.st_dev, st.st_ino)] = h
        self.on_hidden: Callable[[bytes, bytes], None] | None = None
        # Guest paths the guest wrote or tried to write, transient ones
        # included (a compiler's /tmp files leave no change behind): what
        # an audit must allow.  Bounded.
        self.written: set[bytes] = set()
        self.meter = UpperMeter()  # files guest writes may land in (the live status's overlay bytes)
        self._hit: bytes | None = None  # the hidden path the walk in progress met
        for m in self.mounts.mounts:
            if m.kind in (MountKind.ROOT, MountKind.BIND) and paths.is_within(state, m.host):
                self.mounts.hide(paths.under(m.guest, paths.relative_to(state, m.host)))
        self.empty = os.path.join(state, b"empty")
        os.makedirs(self.empty, mode=0o555, exist_ok=True)
        self.overlays: dict[bytes, Overlay] = {}
        self._lower_dev: dict[bytes, int] = {}
        # Lookup caches (see invalidate): where a guest path lands (the mount
        # table is fixed), and what is there in the copy-on-write mounts.
        self._where: dict[bytes, Location] = {}
        self._seen: dict[bytes, tuple[os.stat_result | None, Layer | None, bytes | None]] = {}
        self._resolved: dict[tuple[bytes, bytes, bytes, int], Resolved | VfsError] = {}
        self._volatile = False  # the walk in progress touched something never cached
        # Names the lower layer lacked, with the witness that says so (see _witness):
        # per looked-up name, per cached resolution, and the last one the walk in progress met.
        self._absent: dict[bytes, _Witness] = {}
        self._negative: dict[tuple[bytes, bytes, bytes, int], _Witness] = {}
        self._walk_witness: _Witness | None = None
        self._merge: dict[bytes, bool] = {}
        self._writable_roots: tuple[bytes, ...] | None = None
        self._to_guest: dict[bytes, bytes | None] = {}  # the mapping back is fixed: cached for good
        for d in (b"upper", b"work", b"meta"):
            os.makedirs(os.path.join(state, d), mode=0o700, exist_ok=True)
        for m in self.mounts.mounts:
            if m.access is Access.COW and m.kind in (MountKind.ROOT, MountKind.BIND):
                k = _key(m.guest)
                meta = MetaStore(os.path.join(state, b"meta", k + b".jsonl"))
                self.overlays[m.guest] = Overlay(
                    m.host, os.path.join(state, b"upper", k), os.path.join(state, b"work", k), meta,
                    fake_root=config.fake_root,
                )
                self._lower_dev[m.guest] = os.stat(m.host).st_dev

    # --- caches -----------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget what lookups found in the copy-on-write mounts.

        Called before and after anything changes their namespace (the
        handlers call it again at the exit of the guest's own creating,
        deleting and renaming calls, so a lookup made while the host kernel
        was still at work is not kept).  Changes made to the lower host
        tree by other host programs during a run: a name found is used
        as it was (a deletion shows anyway: the host kernel gets the path),
        a name the lower layer lacked is checked again on each use against
        its lower parent directory (:func:`_witness`), so a host program's
        create shows at once; read-write binds, /proc and the other
        non-layered mounts are never cached.
        """
        self._seen.clear()
        self._resolved.clear()
        self._merge.clear()
        self._absent.clear()
        self._negative.clear()

    def _locate(self, guest: bytes) -> Location:
        loc = self._where.get(guest)
        if loc is None:
            if len(self._where) > 100_000:
                self._where.clear()
            loc = self._where[guest] = self.mounts.locate(guest)
        return loc

    # --- Accessor protocol (guest view) ---------------------------------------------

    def _stat(self, loc: Location) -> tuple[os.stat_result | None, Layer | None, bytes | None]:
        ov = self.overlays.get(loc.mount.guest)
        if ov is not None:
            key = loc.mount.guest + b"\0" + loc.rel
            hit = self._seen.get(key)
            if hit is not None:
                w = self._absent.get(key) if hit[0] is None else None
                if w is None:
                    return hit
                if _unchanged(w):
                    self._walk_witness = w
                    return hit
                self.invalidate()  # the host changed the lower directory since
            lk = ov.lookup(loc.rel)
            if len(self._seen) > 100_000:
                self._seen.clear()
                self._absent.clear()
            if lk.st is None and not lk.whiteout:
                w = _witness(ov, loc.rel)
                if w is None:
                    self._volatile = True  # changing under our eyes: not cached
                    return lk.st, lk.layer, lk.host
                self._absent[key] = self._walk_witness = w
            out = self._seen[key] = (lk.st, lk.layer, lk.host)
            return out
        self._volatile = True
        try:
            return os.lstat(loc.host), None, loc.host
        except (FileNotFoundError, NotADirectoryError):
            return None, None, loc.host
        except OSError as e:
            raise from_oserror(e) from None

    def lstat(self, path: bytes) -> Node | None:
        if self.mounts.is_hidden(path):
            for h in self._secrets:
                if paths.is_within(path, h):
                    self._hit, self._volatile = h, True
            return None
        loc = self._locate(path)
        m = loc.mount
        if m.kind is MountKind.SYNTHETIC:
            return None if loc.rel else Node(NodeKind.REG, (m.guest, 0))
        st, layer, _ = self._stat(loc)
        if st is None:
            return Node(NodeKind.DIR, (m.guest, 0)) if self.mounts.is_implied_dir(path) else None
        if self._hidden_ids and layer is not Layer.UPPER:
            secret = self._hidden_ids.get((st.st_dev, st.st_ino))
            if secret is not None:
                self._hit, self._volatile = secret, True
                return None
        dev = self._lower_dev[m.guest] if layer is Layer.UPPER else st.st_dev
        return Node(NodeKind.from_mode(st.st_mode), (m.guest, dev))

    def readlink(self, path: bytes) -> bytes:
        _, _, host = self._stat(self._locate(path))
        if host is None:
            raise VfsError(errno.ENOENT)
        try:
            return os.readlink(host)
        except OSError as e:
            raise from_oserror(e) from None

    # --- resolution -------------------------------------------------------------------

    def resolve(
        self, ctx: FsView, dirfd_path: bytes | None, path: bytes, flags: ResolveFlag = ResolveFlag.NONE,
        *, magic: MagicLinks | None = None,
    ) -> Resolved:
        """Resolve ``path`` for a task: relative to ``dirfd_path`` (the
        canonical guest path of the dirfd) or, for AT_FDCWD (None), the cwd."""
        base = dirfd_path if dirfd_path is not None else (ctx.cwd or b"/")
        key = (path, b"" if path.startswith(b"/") else base, ctx.root, int(flags) | (0 if magic is None else 1 << 20))
        hit = self._resolved.get(key)
        if hit is not None:
            w = self._negative.get(key)
            if w is not None and not _unchanged(w):
                self.invalidate()  # the host changed the lower directory since
            elif isinstance(hit, VfsError):
                raise VfsError(hit.errno, "cached")
            else:
                return hit
        acc = self if magic is None else _Magic(self, magic)
        self._volatile = False
        self._hit = None
        self._walk_witness = None
        out: Resolved | VfsError
        try:
            r = resolve(acc, path, base=base, root=ctx.root, flags=flags)
            res = self.locate(r.path, node=r.node)
            out = Resolved(res.guest, r.node, res.host, res.mount, res.rel, res.layer, r.last, r.trailing_slash,
                           r.must_be_dir)
        except VfsError as e:
            out = e
        if self._hit is not None and self.on_hidden is not None:
            self.on_hidden(paths.join_path(base, path), self._hit)
        if not self._volatile:
            if len(self._resolved) > 100_000:
                self._resolved.clear()
                self._negative.clear()
            self._resolved[key] = out
            if self._walk_witness is not None and (isinstance(out, VfsError) or out.node is None):
                self._negative[key] = self._walk_witness
        if isinstance(out, VfsError):
            raise out
        return out

    def locate(self, guest: bytes, *, node: Node | None = None) -> Resolved:
        """Facts about an already canonical guest path (no walk)."""
        loc = self._locate(guest)
        if node is None:
            node = self.lstat(guest)
        if loc.mount.kind is MountKind.SYNTHETIC:
            return Resolved(guest, node, loc.mount.host, loc.mount, loc.rel, None)
        st, layer, host = self._stat(loc)
        if st is None and node is not None and node.kind is NodeKind.DIR:
            host = self.empty  # implied directory leading to a mount point
        return Resolved(guest, node, host, loc.mount, loc.rel, layer)

    # --- writes -----------------------------------------------------------------------

    def _writable(self, res: Resolved) -> Overlay | None:
        if self.mounts.is_hidden(res.guest):
            raise VfsError(errno.EACCES, "hidden path")
        if res.mount.kind is MountKind.SYNTHETIC or res.readonly or res.host == self.empty:
            raise VfsError(errno.EROFS)
        return self.overlays.get(res.mount.guest)

    def _note_written(self, guest: bytes) -> None:
        if len(self.written) < 50_000:
            self.written.add(guest)

    def prepare_write(self, res: Resolved, intent: WriteIntent) -> bytes | None:
        """The host path for a write-intent syscall on ``res`` (after copy-up and
        bookkeeping), or None if the vfs completed it (emulate success)."""
        self._note_written(res.guest)
        if not res.rel and res.mount.kind is not MountKind.ROOT and intent in (WriteIntent.UNLINK, WriteIntent.RMDIR):
            raise VfsError(errno.EBUSY, "mount point")
        ov = self._writable(res)
        if ov is None:
            return res.host if res.host is not None else Location(res.mount, res.rel).host
        self.invalidate()
        try:
            host = ov.prepare_write(res.rel, intent)
        finally:
            self.invalidate()
        if host is not None and intent in (WriteIntent.WRITE, WriteIntent.CREATE):
            self.meter.note(host)
        return host

    def prepare_rename(
        self, old: Resolved, new: Resolved, *, noreplace: bool = False, exchange: bool = False
    ) -> tuple[bytes, bytes]:
        self._note_written(old.guest)
        self._note_written(new.guest)
        if old.mount != new.mount:
            raise VfsError(errno.EXDEV)
        if not old.rel or not new.rel:
            raise VfsError(errno.EBUSY, "mount point")
        ov = self._writable(old)
        self._writable(new)
        if ov is None:
            return Location(old.mount, old.rel).host, Location(new.mount, new.rel).host
        self.invalidate()
        try:
            ho, hn = ov.prepare_rename(old.rel, new.rel, noreplace=noreplace, exchange=exchange)
        finally:
            self.invalidate()
        self.meter.note(hn)
        return ho, hn

    def prepare_dir(self, res: Resolved) -> bytes:
        """A directory the host kernel may create unnamed files in (O_TMPFILE):
        copied up in a copy-on-write mount."""
        self._note_written(res.guest)
        ov = self._writable(res)
        if ov is None:
            return res.host if res.host is not None else Location(res.mount, res.rel).host
        self.invalidate()
        try:
            return ov.copy_up(res.rel)
        finally:
            self.invalidate()

    def writable_hosts(self) -> tuple[bytes, ...]:
        """Host directories guest writes may land in (the Landlock allow-list).

        The host's /proc and /dev, bound read-write so their existing nodes
        work, are not among them: beneath them lie /proc/sys, /proc/PID/mem
        and raw disks.  The few device nodes a guest may write are granted
        one by one (:data:`umlpy.tracer.landlock.DEVICE_WRITABLE`).  The
        mounts are fixed once built, so this is computed once."""
        if self._writable_roots is None:
            out = [p for ov in self.overlays.values() for p in (ov.upper, ov.work)]
            out += [m.host for m in self.mounts.mounts if m.kind is MountKind.TMPFS]
            out += [m.host for m in self.mounts.mounts
                    if m.kind is MountKind.BIND and m.access is Access.RW and m.host not in _KERNEL_TREES]
            self._writable_roots = tuple(out)
        return self._writable_roots

    def guest_writable(self, host: bytes) -> bool:
        """Is canonical host path ``host`` beneath a directory the guest can write?"""
        return any(paths.is_within(host, r) for r in self.writable_hosts())

    def open_parent_beneath(self, host: bytes) -> tuple[int, bytes] | None:
        """(fd of the directory holding ``host``, reached from the writable root
        it lies in without following any symlink; the last name), or None when
        ``host`` is not beneath a writable root.  Raises VfsError."""
        for root in self.writable_hosts():
            if not paths.is_within(host, root) or host == root:
                continue
            parent, name = paths.split(b"/" + paths.relative_to(host, root))
            try:
                return hostio.open_dir_beneath(root, parent[1:]), name
            except OSError as e:
                raise from_oserror(e) from None
        return None

    def open_beneath(self, host: bytes) -> int:
        """An ``O_PATH`` fd of ``host``, a path :meth:`prepare_write` returned,
        reached from the writable root it lies in without following any
        symlink (the guest may have planted one there since it was resolved).
        Raises VfsError."""
        for root in self.writable_hosts():
            if not paths.is_within(host, root):
                continue
            rel = paths.relative_to(host, root)
            parent, name = paths.split(b"/" + rel) if rel else (b"/", b".")
            try:
                dfd = hostio.open_dir_beneath(root, parent[1:])
                try:
                    return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                finally:
                    os.close(dfd)
            except OSError as e:
                raise from_oserror(e) from None
        raise VfsError(errno.EACCES, "not beneath a writable directory")

    def walk_back(self, guest: bytes) -> Resolved | None:
        """``guest`` (a :meth:`to_guest` answer for an fd's host path) walked
        again in the guest's view; None when the walk no longer ends there
        (an ancestor was replaced by a symlink, deleted, hidden)."""
        try:
            res = self.resolve(_ROOT_VIEW, None, guest, ResolveFlag.NOFOLLOW)
        except VfsError:
            return None
        return res if res.guest == guest and res.node is not None else None

    def fake_chown(self, res: Resolved, uid: int, gid: int) -> None:
        self._note_written(res.guest)
        ov = self._writable(res)
        if ov is None:
            raise VfsError(errno.EPERM, "fake ownership only on copy-on-write mounts")
        ov.fake_chown(res.rel, uid, gid)
        self.invalidate()

    def fake_chmod(self, res: Resolved, mode: int) -> None:
        self._note_written(res.guest)
        ov = self._writable(res)
        if ov is None:
            raise VfsError(errno.EPERM, "fake modes only on copy-on-write mounts")
        ov.fake_chmod(res.rel, mode)
        self.invalidate()

    def meta_of(self, res: Resolved) -> FakeMeta | None:
        """Owner/mode overrides to apply to stat(2) results for ``res``."""
        ov = self.overlays.get(res.mount.guest)
        return ov.meta_of(res.rel) if ov is not None else None

    # --- reading back -----------------------------------------------------------------

    def to_guest(self, host: bytes) -> bytes | None:
        """The guest path for a canonical host path, None if the guest must not see it."""
        if not host.startswith(b"/"):
            return None
        known = self._to_guest.get(host, b"")
        if known != b"":
            return known
        if len(self._to_guest) > 100_000:
            self._to_guest.clear()
        out = self._to_guest[host] = self._map_back(host)
        return out

    def _map_back(self, host: bytes) -> bytes | None:
        host = paths.normalize(host)
        for mguest, ov in self.overlays.items():
            if paths.is_within(host, ov.upper):
                guest = paths.under(mguest, paths.relative_to(host, ov.upper))
                ok = self.mounts.locate(guest).mount.guest == mguest and not self.mounts.is_hidden(guest)
                return guest if ok else None
        return self.mounts.to_guest(host)

    def shows(self, host: bytes) -> bool:
        """Is the file at canonical host path ``host`` in the guest's view:
        a guest path leads there and it is not a hidden inode (reached by
        another host path: a bind mount, a hard link)?"""
        if self.to_guest(host) is None:
            return False
        # A hidden inode, or one below a hidden directory, reached by
        # another host path.  (Gone since: the guest unlinked its own file.)
        d = host
        while self._hidden_ids and d not in (b"/", b""):
            try:
                st = os.stat(d)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) in self._hidden_ids:
                return False
            d = os.path.dirname(d)
        return True

    def needs_merge(self, guest: bytes) -> bool:
        """Could a listing of canonical guest directory ``guest`` differ from
        its host directory's own?  (Else the host's getdents can answer.)"""
        known = self._merge.get(guest)
        if known is None:
            known = self._merge[guest] = self._needs_merge(guest)
        return known

    def _needs_merge(self, guest: bytes) -> bool:
        if self.mounts.mountpoints_in(guest) or self.mounts.has_hidden_child(guest):
            return True
        loc = self.mounts.locate(guest)
        ov = self.overlays.get(loc.mount.guest)
        if ov is None:
            return False
        if os.path.isdir(ov.upper_path(loc.rel)) and os.path.lexists(ov.lower_path(loc.rel)):
            return True
        return ov.meta.has_whiteouts_below(loc.rel)

    def listdir(self, guest: bytes) -> list[DirEntry]:
        """Entries of a canonical guest directory, merged, without hidden ones."""
        if self.mounts.is_hidden(guest):
            raise VfsError(errno.ENOENT)
        loc = self.mounts.locate(guest)
        if loc.mount.kind is MountKind.SYNTHETIC:
            raise VfsError(errno.ENOTDIR)
        ov = self.overlays.get(loc.mount.guest)
        entries: dict[bytes, DirEntry] = {}
        try:
            if ov is not None:
                entries = {e.name: e for e in ov.listdir(loc.rel)}
            else:
                with os.scandir(loc.host) as it:
                    for e in it:
                        kind = NodeKind.from_mode(e.stat(follow_symlinks=False).st_mode)
                        entries[e.name] = DirEntry(e.name, kind, e.inode())
        except (VfsError, FileNotFoundError):
            if not self.mounts.is_implied_dir(guest):
                raise VfsError(errno.ENOENT) from None
        except OSError as e:
            raise from_oserror(e) from None
        for name, is_dir in self.mounts.mountpoints_in(guest).items():
            res = self.locate(paths.join(guest, name))
            ino = os.stat(res.host).st_ino if res.host else 1
            entries[name] = DirEntry(name, NodeKind.DIR if is_dir else NodeKind.REG, ino)
        return sorted((e for e in entries.values() if self.mounts.keep_entry(guest, e.name)), key=lambda e: e.name)

    # --- review -----------------------------------------------------------------------

    def changes(self) -> list[_changes.Change]:
        out: list[_changes.Change] = []
        for mguest, ov in self.overlays.items():
            out.extend(_changes.diff(ov, mount=mguest))
        return sorted(out, key=lambda c: c.path)

    def commit(self, selection: Iterable[bytes] | None = None) -> _changes.CommitResult:
        self.invalidate()
        sel = None if selection is None else set(selection)
        applied: list[bytes] = []
        failed: list[tuple[bytes, str]] = []
        for mguest, ov in self.overlays.items():
            r = _changes.commit(ov, sel, mount=mguest)
            applied.extend(r.applied)
            failed.extend(r.failed)
        return _changes.CommitResult(tuple(applied), tuple(failed))

    def discard(self) -> None:
        self.invalidate()
        for ov in self.overlays.values():
            _changes.discard(ov)

    def close(self) -> None:
        for ov in self.overlays.values():
            ov.meta.close()
