"""Host-side file operations that must not be fooled by symlinks.

Everything the vfs does to the host goes through here:

* :func:`open_dir_beneath` walks ``root/rel`` one component at a time with
  ``openat(O_NOFOLLOW | O_DIRECTORY)``, the userspace equivalent of
  openat2(2) ``RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH``: a symlink anywhere
  on the way (say one the guest planted in its upper layer) is ELOOP or
  ENOTDIR, never followed.  Final components are then handled with the
  ``*at`` calls relative to that directory fd, which do not follow a final
  symlink either (``unlinkat``, ``renameat``, ``mkdirat``, ``fstatat`` with
  ``AT_SYMLINK_NOFOLLOW``, ``openat(O_NOFOLLOW)``).
* :func:`clone_node` copies one node preserving what can be preserved:
  mode, owner (only where permitted: ``fchown`` as non-root fails and is
  ignored), atime/mtime to the nanosecond, extended attributes (each one
  best effort: ``trusted.*`` needs CAP_SYS_ADMIN, some filesystems refuse
  ``user.*`` on symlinks), symlinks as symlinks, fifos as fifos, devices
  only with the privilege to ``mknod``.
* :func:`copy_sparse` copies only the data extents found with
  ``lseek(SEEK_DATA/SEEK_HOLE)`` (lseek(2)) and sets the size with
  ``ftruncate``, so holes stay holes.  Extents are copied with
  copy_file_range(2), falling back to read/write.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from umlpy.vfs.errors import VfsError, from_oserror

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def open_dir_beneath(root: bytes, rel: bytes, *, create_mode: int | None = None) -> int:
    """An fd for directory ``root/rel`` reached without following any symlink
    below ``root`` (``root`` itself is trusted and opened normally).  Missing
    directories are created with ``create_mode`` if given.  Raises OSError."""
    fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        for part in rel.split(b"/") if rel else []:
            if part in (b"", b".", b".."):
                raise OSError(errno.EINVAL, "non-canonical path component", part)
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if create_mode is None:
                    raise
                os.mkdir(part, create_mode, dir_fd=fd)
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat_at(dir_fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def copy_sparse(src_fd: int, dst_fd: int, size: int) -> None:
    """Copy ``size`` bytes keeping holes (SEEK_DATA/SEEK_HOLE)."""
    off = 0
    while off < size:
        try:
            data = os.lseek(src_fd, off, os.SEEK_DATA)
            hole = os.lseek(src_fd, data, os.SEEK_HOLE)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no data after off: the rest is a hole
                break
            if e.errno != errno.EINVAL:  # EINVAL: filesystem without SEEK_DATA
                raise
            data, hole = off, size
        hole = min(hole, size)
        _copy_range(src_fd, dst_fd, data, hole - data)
        off = hole
    os.ftruncate(dst_fd, size)


def _copy_range(src_fd: int, dst_fd: int, off: int, count: int) -> None:
    end = off + count
    use_cfr = True
    while off < end:
        n = 0
        if use_cfr:
            try:
                n = os.copy_file_range(src_fd, dst_fd, min(_CHUNK, end - off), off, off)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                use_cfr = False
                continue
        else:
            buf = os.pread(src_fd, min(_CHUNK, end - off), off)
            n = os.pwrite(dst_fd, buf, off) if buf else 0
        if n == 0:  # source shrank under us
            return
        off += n


def copy_xattrs(src: bytes | int, dst: bytes | int, *, follow: bool = True) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=follow), follow_symlinks=follow)
        except OSError as e:
            log.debug("xattr %s not copied: %s", name, e)


def apply_times_owner(path: bytes, st: os.stat_result, *, chown: bool) -> None:
    """Owner (if ``chown``; EPERM ignored), mode and times of ``st`` onto ``path`` (not followed)."""
    if chown:
        try:
            os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
        except PermissionError:
            pass
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def clone_node(src: bytes, dst: bytes, *, chown: bool) -> os.stat_result:
    """Create ``dst`` (which must not exist) as a copy of the node ``src``
    without following either.  Directories are created empty.  Returns the
    source's stat.  Raises VfsError."""
    try:
        st = os.lstat(src)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    copy_sparse(sfd, dfd, os.fstat(sfd).st_size)
                    copy_xattrs(sfd, dfd)
                finally:
                    os.close(dfd)
            finally:
                os.close(sfd)
        elif stat.S_ISDIR(mode):
            os.mkdir(dst, 0o700)
            copy_xattrs(src, dst)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dst)
            copy_xattrs(src, dst, follow=False)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dst, 0o600)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        else:  # a socket cannot be copied: it is created by bind(2)
            raise VfsError(errno.EPERM, "cannot copy up a socket")
        apply_times_owner(dst, st, chown=chown)
        return st
    except OSError as e:
        raise from_oserror(e) from None
