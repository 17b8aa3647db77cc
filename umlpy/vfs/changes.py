"""The review step: what a sandboxed run changed, and applying it.

:func:`diff` compares the upper layer, whiteouts and opaque directories of an
:class:`~umlpy.vfs.overlay.Overlay` with its lower (host) tree and lists the
differences: ``CREATED`` (no host entry), ``MODIFIED`` (content, symlink
target, type, mode, owner or mtime differ; ``meta_only`` when only
mode/owner/mtime do) and ``DELETED`` (only the topmost deleted path of a
deleted tree is listed).  An entry that was copied up but never changed, or
deleted and re-created identical, is not a change.  Directory mtimes are
ignored (they move whenever a child does).

:func:`commit` is the only code in umlpy that writes the host tree.  It
assumes the upper layer is hostile: the guest wrote it and may have planted
symlinks or swapped directories since :func:`diff` ran.  So every path, on
both sides, is reached with :func:`~umlpy.vfs.hostio.open_dir_beneath`
(``O_NOFOLLOW`` at each component) and the last component is handled with
``*at`` calls that never follow it.  Files are written to a temporary name in
the target directory and ``renameat``'d over the old entry, so a symlink
sitting at the target name is replaced, not followed, and a crash leaves
either the old or the new file.  Regular files keep their holes; files the
guest hard-linked together inside the upper layer are committed as hard links
when their links are committed in the same call.  Deletions are applied
first, deepest first, then creations and modifications, parents first.  A
committed entry is removed from the upper layer (its whiteout from the
store), so a later :func:`diff` no longer lists it.

:func:`discard` throws the upper layer and the metadata away.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace

from umlpy.vfs import hostio, paths
from umlpy.vfs.overlay import Overlay
from umlpy.vfs.resolve import NodeKind

log = logging.getLogger(__name__)


class ChangeKind(enum.Enum):
    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Change:
    rel: bytes  # relative to the overlay's root
    kind: ChangeKind
    node: NodeKind  # the new node's kind (the old one's for DELETED)
    size: int  # st_size of the new node (of the old one for DELETED)
    old_size: int | None = None  # for MODIFIED
    meta_only: bool = False
    mount: bytes = b"/"  # guest path of the overlay's mount

    @property
    def path(self) -> bytes:
        """The guest path."""
        return paths.under(self.mount, self.rel) if self.rel else self.mount


@dataclass(frozen=True, slots=True)
class CommitResult:
    applied: tuple[bytes, ...]  # guest paths
    failed: tuple[tuple[bytes, str], ...]  # (guest path, "ERRNO: message")


def _lstat(p: bytes) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _same_content(a: bytes, b: bytes) -> bool:
    fa = os.open(a, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fb = os.open(b, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                ca, cb = os.read(fa, 1 << 20), os.read(fb, 1 << 20)
                if ca != cb:
                    return False
                if not ca:
                    return True
        finally:
            os.close(fb)
    finally:
        os.close(fa)


def _effective(ov: Overlay, rel: bytes, st: os.stat_result) -> tuple[int, int, int]:
    """(mode bits, uid, gid) as the guest sees them."""
    fm = ov.meta_of(rel)
    if fm is None:
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    return (
        stat.S_IMODE(st.st_mode) if fm.mode is None else fm.mode,
        st.st_uid if fm.uid is None else fm.uid,
        st.st_gid if fm.gid is None else fm.gid,
    )


def _compare(ov: Overlay, rel: bytes, ust: os.stat_result, lst: os.stat_result) -> Change | None:
    kind = NodeKind.from_mode(ust.st_mode)
    if stat.S_IFMT(ust.st_mode) != stat.S_IFMT(lst.st_mode):
        return Change(rel, ChangeKind.MODIFIED, kind, ust.st_size, lst.st_size)
    up, lo = ov.upper_path(rel), ov.lower_path(rel)
    if kind is NodeKind.REG and (ust.st_size != lst.st_size or not _same_content(up, lo)):
        return Change(rel, ChangeKind.MODIFIED, kind, ust.st_size, lst.st_size)
    if kind is NodeKind.SYMLINK and os.readlink(up) != os.readlink(lo):
        return Change(rel, ChangeKind.MODIFIED, kind, ust.st_size, lst.st_size)
    lmeta = (stat.S_IMODE(lst.st_mode), lst.st_uid, lst.st_gid)
    umeta = _effective(ov, rel, ust)
    if kind is NodeKind.SYMLINK:  # symlink modes are meaningless
        lmeta, umeta = lmeta[1:] + (0,), umeta[1:] + (0,)
    if umeta != lmeta or (kind is not NodeKind.DIR and ust.st_mtime_ns != lst.st_mtime_ns):
        return Change(rel, ChangeKind.MODIFIED, kind, ust.st_size, lst.st_size, meta_only=True)
    return None


def _walk_upper(ov: Overlay, rel: bytes, lower_ok: bool, out: list[Change]) -> None:
    try:
        it = os.scandir(ov.upper_path(rel))
    except (FileNotFoundError, NotADirectoryError):
        return
    with it:
        for e in it:
            crel = paths.under(rel, e.name) if rel else e.name
            ust = e.stat(follow_symlinks=False)
            lst = _lstat(ov.lower_path(crel)) if lower_ok else None
            if lst is None:
                out.append(Change(crel, ChangeKind.CREATED, NodeKind.from_mode(ust.st_mode), ust.st_size))
            elif (ch := _compare(ov, crel, ust, lst)) is not None:
                out.append(ch)
            if stat.S_ISDIR(ust.st_mode):
                _walk_upper(ov, crel, lst is not None and stat.S_ISDIR(lst.st_mode), out)


def _deleted(ov: Overlay, rel: bytes, out: list[Change]) -> None:
    lst = _lstat(ov.lower_path(rel))
    if lst is not None:
        out.append(Change(rel, ChangeKind.DELETED, NodeKind.from_mode(lst.st_mode), lst.st_size))


def diff(ov: Overlay, *, mount: bytes = b"/") -> list[Change]:
    """Everything that differs between the merged view and the lower tree
    (``mount``: the guest path of the overlay, for :attr:`Change.path`)."""
    out: list[Change] = []
    _walk_upper(ov, b"", True, out)
    for w in ov.meta.whiteouts:
        parent = paths.split(b"/" + w)[0][1:]
        if _lstat(ov.upper_path(w)) is not None or not ov.lower_children_visible(parent):
            continue  # replaced (compared above), or covered by an ancestor's deletion/opaque dir
        if ov.lookup(parent).kind is NodeKind.DIR:
            _deleted(ov, w, out)
    for o in ov.meta.opaque:
        lo = ov.lower_path(o)
        if not (_isdir(ov.upper_path(o)) and _isdir(lo)):
            continue
        for name in os.listdir(lo):
            crel = paths.under(o, name) if o else name
            if _lstat(ov.upper_path(crel)) is None:
                _deleted(ov, crel, out)
    return sorted({replace(c, mount=mount) for c in out}, key=lambda c: c.rel)


def _isdir(p: bytes) -> bool:
    st = _lstat(p)
    return st is not None and stat.S_ISDIR(st.st_mode)


# --- commit ------------------------------------------------------------------------


def _remove_at(dfd: int, name: bytes) -> None:
    st = hostio.lstat_at(dfd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd)  # fd-based, does not follow symlinks
    else:
        os.unlink(name, dir_fd=dfd)


def _split_rel(rel: bytes) -> tuple[bytes, bytes]:
    parent, name = paths.split(b"/" + rel)
    return parent[1:], name


class _Committer:
    def __init__(self, ov: Overlay) -> None:
        self.ov = ov
        self.root = os.geteuid() == 0
        self.links: dict[tuple[int, int], bytes] = {}
        self.seq = 0

    def delete(self, ch: Change) -> None:
        parent, name = _split_rel(ch.rel)
        tfd = hostio.open_dir_beneath(self.ov.lower, parent)
        try:
            _remove_at(tfd, name)
        finally:
            os.close(tfd)
        self.ov.meta.drop_whiteouts(ch.rel)

    def write(self, ch: Change) -> None:
        parent, name = _split_rel(ch.rel)
        upfd = hostio.open_dir_beneath(self.ov.upper, parent)
        try:
            tfd = hostio.open_dir_beneath(self.ov.lower, parent, create_mode=0o755)
            try:
                self._write_at(ch.rel, upfd, tfd, name)
            finally:
                os.close(tfd)
        finally:
            os.close(upfd)

    def _write_at(self, rel: bytes, upfd: int, tfd: int, name: bytes) -> None:
        ust = hostio.lstat_at(upfd, name)
        if ust is None:
            raise OSError(errno.ENOENT, "vanished from the upper layer")
        mode, uid, gid = _effective(self.ov, rel, ust)
        tst = hostio.lstat_at(tfd, name)
        if tst is not None and stat.S_IFMT(tst.st_mode) != stat.S_IFMT(ust.st_mode):
            _remove_at(tfd, name)
            tst = None
        if stat.S_ISDIR(ust.st_mode):
            if tst is None:
                os.mkdir(name, 0o700, dir_fd=tfd)
            dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=tfd)
            try:
                if self.root:
                    os.fchown(dfd, uid, gid)
                os.fchmod(dfd, mode)
            finally:
                os.close(dfd)
            return
        self.seq += 1
        tmp = b".umlpy-commit.%d.%d" % (os.getpid(), self.seq)
        key = (ust.st_dev, ust.st_ino)
        if stat.S_ISREG(ust.st_mode) and key in self.links:  # a link to a file committed above
            lparent, lname = _split_rel(self.links[key])
            lfd = hostio.open_dir_beneath(self.ov.lower, lparent)
            try:
                os.link(lname, tmp, src_dir_fd=lfd, dst_dir_fd=tfd, follow_symlinks=False)
            finally:
                os.close(lfd)
        elif stat.S_ISREG(ust.st_mode):
            self._copy_file(upfd, tfd, name, tmp, ust, mode, uid, gid)
            if ust.st_nlink > 1:
                self.links[key] = rel
        elif stat.S_ISLNK(ust.st_mode):
            os.symlink(os.readlink(name, dir_fd=upfd), tmp, dir_fd=tfd)
            if self.root:
                os.chown(tmp, uid, gid, dir_fd=tfd, follow_symlinks=False)
        elif stat.S_ISFIFO(ust.st_mode):
            os.mkfifo(tmp, mode, dir_fd=tfd)
        elif stat.S_ISCHR(ust.st_mode) or stat.S_ISBLK(ust.st_mode):
            os.mknod(tmp, stat.S_IFMT(ust.st_mode) | mode, ust.st_rdev, dir_fd=tfd)
        else:
            raise OSError(errno.EOPNOTSUPP, "cannot commit a socket")
        try:
            os.rename(tmp, name, src_dir_fd=tfd, dst_dir_fd=tfd)
        except OSError:
            os.unlink(tmp, dir_fd=tfd)
            raise
        os.unlink(name, dir_fd=upfd)
        self.ov.meta.drop_whiteouts(rel)
        self.ov.meta.drop_fake(rel)

    def _copy_file(
        self, upfd: int, tfd: int, name: bytes, tmp: bytes, ust: os.stat_result, mode: int, uid: int, gid: int
    ) -> None:
        sfd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=upfd)
        try:
            if not stat.S_ISREG(os.fstat(sfd).st_mode):
                raise OSError(errno.EINVAL, "upper entry changed type")
            dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=tfd)
            try:
                hostio.copy_sparse(sfd, dfd, os.fstat(sfd).st_size)
                hostio.copy_xattrs(sfd, dfd)
                if self.root:
                    os.fchown(dfd, uid, gid)
                os.fchmod(dfd, mode)
                os.utime(dfd, ns=(ust.st_atime_ns, ust.st_mtime_ns))
            except BaseException:
                os.unlink(tmp, dir_fd=tfd)
                raise
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)


def commit(ov: Overlay, selection: Iterable[bytes] | None = None, *, mount: bytes = b"/") -> CommitResult:
    """Apply the selected changes (guest paths, see :attr:`Change.path`;
    None = all) to the host.  Changes are recomputed, never taken on trust."""
    changes = diff(ov, mount=mount)
    if selection is not None:
        wanted = set(selection)
        changes = [c for c in changes if c.path in wanted]
    c = _Committer(ov)
    applied: list[bytes] = []
    failed: list[tuple[bytes, str]] = []
    dels = sorted((ch for ch in changes if ch.kind is ChangeKind.DELETED), key=lambda ch: ch.rel, reverse=True)
    writes = [ch for ch in changes if ch.kind is not ChangeKind.DELETED]
    for ch in dels + writes:
        try:
            c.delete(ch) if ch.kind is ChangeKind.DELETED else c.write(ch)
        except OSError as e:
            log.warning("commit of %r failed: %s", ch.rel, e)
            failed.append((ch.path, f"{errno.errorcode.get(e.errno or 0, 'EIO')}: {e.strerror}"))
        else:
            applied.append(ch.path)
    ov.meta.compact()
    return CommitResult(tuple(applied), tuple(failed))


def make_removable(top: bytes | str) -> None:
    """Give every directory below ``top`` owner rwx, so a tree copied with
    read-only directories can be removed."""
    root = os.fsencode(top)
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)


def discard(ov: Overlay) -> None:
    """Forget every change: empty the upper and work dirs, clear the metadata."""
    for top in (ov.upper, ov.work):
        if os.path.lexists(top):
            os.chmod(top, 0o700)
            make_removable(top)
            shutil.rmtree(top)
        os.makedirs(top, mode=0o700)
    ov.meta.clear()
