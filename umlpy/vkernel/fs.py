"""The file family: every path the guest names goes through the virtual filesystem.

Theory of operation (PRoot's pipeline, with gVisor's rule that the host
kernel never reads a path the guest can still change):

1. The handler reads the path from guest memory *once*, and resolves it in
   the guest's view (:meth:`umlpy.vfs.Vfs.resolve`): relative paths start at
   the guest path of the task's cwd or dirfd, which are read back from the
   host (``/proc/TID/cwd``, ``/proc/TID/fd/N``) and mapped with
   :meth:`~umlpy.vfs.Vfs.to_guest` — so fchdir, dup, fork and SCM_RIGHTS need
   no bookkeeping here.
2. Write intents (O_CREAT, O_TRUNC, mkdir, unlink, rename, chmod...) go
   through :meth:`~umlpy.vfs.Vfs.prepare_write`: copy-up, whiteouts,
   permission checks the host would have made on the lower file.
3. The resulting *host* path is placed in the task's sealed scratch region
   (:mod:`umlpy.vkernel.scratch`) and the path register points there; the
   dirfd becomes irrelevant (the path is absolute).  Deletions the vfs
   completed itself (a lower-only file: just a whiteout) are emulated.
4. Every open becomes ``openat2`` with ``RESOLVE_NO_SYMLINKS``: the host
   path has no symlink in it (the resolver followed them all in the guest
   view), so a symlink the guest plants in its upper layer while the call is
   in flight makes the open fail (ELOOP) instead of leaving the sandbox.
   Other calls on upper paths are backed by Landlock: writes can only land
   beneath the state directory and the read-write binds.  execve(2) must
   name its file to the kernel, which also opens a ``#!`` or ELF
   interpreter by host path: what it loaded is checked at
   ``PTRACE_EVENT_EXEC``, before it runs (:func:`foreign_image`).
5. Results that carry paths come back in guest terms: getcwd and readlink
   of ``/proc/PID/{cwd,exe,root,fd/N}`` are emulated, directory listings are
   merged by the vfs (getdents64 is emulated, the position kept in the
   kernel's own file offset so fork-shared fds and seekdir stay right), and
   stat results show the owner/mode overrides of copied-up files.
   /proc/PID/{maps,smaps,numa_maps} and the mount table files
   (mountinfo, mounts, mountstats: :mod:`umlpy.vfs.mountinfo`) are served as
   snapshots in guest terms; statfs(2) of a read-only mount sets ST_RDONLY.

/proc: ``/proc/self`` and ``/proc/thread-self`` resolve to the calling
task, ``/proc/PID`` of a process outside the sandbox does not exist (and is
not listed), and ``/proc/PID/mem`` never opens for writing (a ptracer-style
write through it ignores page protections and seals: it could change the
scratch region).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from umlpy.tracer import _ffi
from umlpy.tracer.landlock import DEVICE_WRITABLE
from umlpy.tracer.loop import SyscallContext
from umlpy.vfs import mountinfo, paths
from umlpy.vfs.errors import VfsError
from umlpy.vfs.meta import FakeMeta
from umlpy.vfs.mounts import MountKind
from umlpy.vfs.overlay import Layer, WriteIntent
from umlpy.vfs.resolve import NodeKind, ResolveFlag
from umlpy.vkernel import fdops, scratch, unixnames
from umlpy.vkernel.args import AT_FDCWD, s32
from umlpy.vkernel.outcome import PASS, Deny, Emulate, GuestError, Outcome, Rewrite

if TYPE_CHECKING:
    from umlpy.vfs.vfs import Resolved, Vfs
    from umlpy.vkernel.state import Kernel
    from umlpy.vkernel.task import Task

PATH_MAX = 4096
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000

O_ACCMODE, O_WRONLY, O_RDWR = 0o3, 0o1, 0o2
O_CREAT, O_EXCL, O_TRUNC = 0o100, 0o200, 0o1000
O_DIRECTORY, O_NOFOLLOW, O_PATH = 0o200000, 0o400000, 0o10000000
O_LARGEFILE = 0o100000
O_CLOEXEC = 0o2000000
O_TMPFILE = 0o20000000 | O_DIRECTORY
# Every flag openat(2) knows (include/linux/fcntl.h VALID_OPEN_FLAGS);
# openat ignores the rest, openat2 would refuse them.
VALID_OPEN_FLAGS = 0o3 | 0o100 | 0o200 | 0o400 | 0o1000 | 0o2000 | 0o4000 | 0o10000 | 0o20000 | 0o40000 \
    | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | 0o1000000 | 0o2000000 | 0o4000000 | O_PATH | 0o20000000
RESOLVE_NO_SYMLINKS = 0x04
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4

NR_OPENAT2 = 437

W = WriteIntent


@dataclass(slots=True)
class _Call:
    """One trapped file call: its task, the guest's view and the placements."""

    k: Kernel
    ctx: SyscallContext
    task: Task
    vfs: Vfs

    def path(self, idx: int, *, allow_null: bool = False) -> bytes | None:
        ptr = self.ctx.args[idx]
        if ptr == 0 and allow_null:
            return None
        try:
            return self.ctx.read_cstring(ptr, PATH_MAX - 1)
        except OverflowError:
            raise GuestError(errno.EFAULT) from None
        except OSError as e:
            raise GuestError(e.errno or errno.EFAULT) from None

    def base(self, dirfd: int, path: bytes) -> bytes | None:
        """The guest path relative names start at (None for absolute paths)."""
        if path.startswith(b"/"):
            return None
        tid = self.ctx.tid
        try:
            host = os.readlink(f"/proc/{tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{tid}/fd/{dirfd}")
        except OSError:
            raise GuestError(errno.ENOENT if dirfd == AT_FDCWD else errno.EBADF) from None
        if not host.startswith("/"):
            raise GuestError(errno.ENOTDIR)  # a pipe, socket or anonymous inode
        guest = self.vfs.to_guest(os.fsencode(host))
        if guest is None:
            raise GuestError(errno.ENOENT, f"{host} is not in the guest's view")
        return guest

    def resolve(
        self, dirfd_idx: int | None, path_idx: int, flags: ResolveFlag = ResolveFlag.NONE, *, path: bytes | None = None
    ) -> Resolved:
        raw = self.path(path_idx) if path is None else path
        assert raw is not None
        dirfd = s32(self.ctx.args[dirfd_idx]) if dirfd_idx is not None else AT_FDCWD
        if not raw and not flags & ResolveFlag.EMPTY_PATH:
            raise GuestError(errno.ENOENT)
        base = self.base(dirfd, raw)
        try:
            return self.vfs.resolve(self.task.fs, base, raw, flags, magic=self.magic)
        except VfsError as e:
            raise GuestError(e.errno, str(e)) from None

    def magic(self, guest: bytes) -> tuple[NodeKind | None, bytes] | None:
        return proc_magic(self.k, self.vfs, self.task, guest)

    def place(self, data: bytes) -> int:
        return scratch.place(self.task, self.ctx, data)


def _call(k: Kernel, ctx: SyscallContext) -> _Call:
    task = k.tasks.get(ctx.tid)
    if task is None or k.vfs is None:
        raise GuestError(errno.ENOSYS, "not a guest task")
    c = _Call(k, ctx, task, k.vfs)
    # Probe first: creating the scratch region re-runs the handler, which
    # must not have copied up or whited out anything yet.
    c.place(b"")
    return c


def _settled(c: _Call) -> Callable[[int], int | None]:
    """At the exit of a call that changed the namespace: lookups made while
    the host kernel was at it may be stale (see Vfs.invalidate)."""

    def done(ret: int) -> None:
        c.vfs.invalidate()

    return done


def _vfs_errors(fn: Callable[[], bytes | None]) -> bytes | None:
    try:
        return fn()
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None


def _vfs_int(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None


# -- /proc ------------------------------------------------------------------------

_PROC_LINKS = (b"cwd", b"exe", b"root")


def proc_magic(k: Kernel, vfs: Vfs, task: Task, guest: bytes) -> tuple[NodeKind | None, bytes] | None:
    """The per-task view of /proc (see the module docstring)."""
    if not guest.startswith(b"/proc/"):
        return None
    parts = guest[6:].split(b"/")
    who = parts[0]
    if len(parts) == 1:
        if who == b"self":
            return NodeKind.SYMLINK, b"%d" % task.tgid
        if who == b"thread-self":
            return NodeKind.SYMLINK, b"%d/task/%d" % (task.tgid, task.tid)
    if not who.isdigit():
        return None
    if int(who) not in k.tgids() and not _guest_zombie(k, int(who)):
        return None, b""  # not this sandbox's process: absent
    rest = parts[1:]
    if len(rest) >= 2 and rest[0] == b"task":
        if not rest[1].isdigit() or int(rest[1]) not in k.tasks:
            return None, b""
        rest = rest[2:]
    if not (rest in ([b"cwd"], [b"exe"], [b"root"]) or (len(rest) == 2 and rest[0] == b"fd" and rest[1].isdigit())
            or (len(rest) == 2 and rest[0] == b"map_files")):
        return None
    if rest == [b"root"]:
        return NodeKind.MAGICLINK, task.fs.root if int(who) == task.tgid else b"/"
    try:
        host = os.readlink(guest)
    except OSError:
        return None
    if not host.startswith(b"/"):
        return NodeKind.MAGICLINK, host  # pipe:[N], socket:[N], anon_inode:...
    g = vfs.to_guest(host)
    return NodeKind.MAGICLINK, g if g is not None else b"(unreachable)" + host.rsplit(b"/", 1)[-1]


_MAPS_FILES = (b"/maps", b"/smaps", b"/numa_maps")
_MOUNT_FILES = (b"/mountinfo", b"/mounts", b"/mountstats")
_PATH_FILES = _MAPS_FILES + _MOUNT_FILES
_MOUNT_RENDER = {b"mountinfo": mountinfo.render_mountinfo, b"mounts": mountinfo.render_mounts,
                 b"mountstats": mountinfo.render_mountstats}


def _proc_in_guest_terms(c: _Call, guest: bytes) -> bytes | None:
    """/proc/PID/{maps,smaps,numa_maps} name the files mapped by host path
    (copied-up files, a --root's libraries), /proc/PID/{mountinfo,mounts,
    mountstats} the host's mount table: served as a snapshot in guest
    terms, from a file in the state directory that exists only while opened."""
    head, name = guest.rsplit(b"/", 1)
    mounts = guest.endswith(_MOUNT_FILES)
    try:  # the same /proc file (mountinfo for the mount table), read by the tracer
        with open(head + b"/mountinfo" if mounts else guest, "rb") as f:
            text = f.read()
    except OSError:
        return None
    if mounts:
        table = mountinfo.guest_mounts(text, c.vfs.mounts, c.vfs.state_dir)
        data = _MOUNT_RENDER[name](table)
    else:
        data = _maps_in_guest_terms(c, guest, text)
    synth = os.path.join(c.vfs.state_dir, b"synth")
    os.makedirs(synth, mode=0o700, exist_ok=True)
    fd, snap = tempfile.mkstemp(dir=synth)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    c.ctx.on_exit(lambda ret: _unlink_quietly(snap))
    return os.fsencode(snap)


def _maps_in_guest_terms(c: _Call, guest: bytes, text: bytes) -> bytes:
    out = []
    for line in text.splitlines(keepends=True):
        i = line.find(b" /")
        if i < 0 or (b"/numa_maps" in guest and b"file=/" not in line):
            out.append(line)
            continue
        if guest.endswith(b"/numa_maps"):
            j = line.find(b"file=/") + 5
            k = line.find(b" ", j)
            path, head, tail = line[j:k if k > 0 else len(line) - 1], line[:j], line[k if k > 0 else len(line) - 1:]
        else:
            head, rest = line[: i + 1], line[i + 1 :]
            path, tail = rest.rstrip(b"\n"), b"\n"
        deleted = path.endswith(b" (deleted)")
        seen = c.vfs.to_guest(path.removesuffix(b" (deleted)"))
        shown = (seen if seen is not None else b"[umlpy]") + (b" (deleted)" if deleted else b"")
        out.append(head + shown + tail)
    return b"".join(out)


def _unlink_quietly(path: bytes | str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_DEVICES_WRITABLE = tuple(os.fsencode(d) for d in DEVICE_WRITABLE)


def _guest_zombie(k: Kernel, pid: int) -> bool:
    """An exited, not yet reaped child of a guest process: the tracer has
    forgotten it, but its parent still sees it in /proc until wait()."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat_line = f.read()
    except OSError:
        return False
    fields = stat_line.rsplit(b")", 1)[-1].split()
    return len(fields) > 1 and fields[0] in (b"Z", b"X") and int(fields[1]) in k.tgids()


def _kernel_write_refused(res: Resolved) -> bool:
    """Writes into the host's /proc and /dev, bound so that their existing
    nodes work: only the sandbox's own /proc/PID entries, never a mem file
    (a ptracer-style write through it ignores page protections and seals),
    and only the device nodes any program may write (/dev/null, a tty...).
    /proc/sys, /proc/sysrq-trigger or /dev/sda would change the host.
    (Landlock refuses the same where the host has it.)"""
    g = res.guest
    if g.startswith(b"/proc/"):
        pid = g[6:].split(b"/", 1)[0]
        return not pid.isdigit() or g.endswith(b"/mem")
    if res.mount.kind is MountKind.BIND and res.mount.guest == b"/dev" and res.host is not None:
        return not any(paths.is_within(res.host, d) for d in _DEVICES_WRITABLE)
    return False


# -- opens --------------------------------------------------------------------------


def _open(c: _Call, dirfd_idx: int | None, path_idx: int, flags: int, mode: int, resolve: int = 0,
          *, as_is: bool = True) -> Outcome:
    flags &= VALID_OPEN_FLAGS
    create = bool(flags & O_CREAT)
    tmpfile = flags & O_TMPFILE == O_TMPFILE
    rf = ResolveFlag(resolve & 0x1F)
    if flags & O_NOFOLLOW or (create and flags & O_EXCL):
        rf |= ResolveFlag.NOFOLLOW
    if create and not tmpfile:
        rf |= ResolveFlag.MAY_CREATE
    elif flags & O_DIRECTORY:
        rf |= ResolveFlag.DIRECTORY
    res = c.resolve(dirfd_idx, path_idx, rf)
    acc = flags & O_ACCMODE
    writes = (acc in (O_WRONLY, O_RDWR) or flags & O_TRUNC) and not flags & O_PATH
    kernel_resolve = RESOLVE_NO_SYMLINKS
    if (res.node is None or tmpfile or writes) and _kernel_write_refused(res):
        return Deny(errno.EACCES, f"{res.guest!r} opened for writing")
    if res.node is None:
        if res.must_be_dir or res.trailing_slash:
            raise GuestError(errno.EISDIR)
        host = _vfs_errors(lambda: c.vfs.prepare_write(res, W.CREATE))
    elif create and flags & O_EXCL:
        raise GuestError(errno.EEXIST)
    elif res.node.kind is NodeKind.MAGICLINK:
        if _reopen_widens(res.guest, flags):
            return Deny(errno.EACCES, f"{res.guest!r} reopened with more access than its fd has")
        host, kernel_resolve = res.guest, 0  # /proc/PID/fd/N of a pipe: the kernel reopens it
    elif tmpfile:
        if res.node.kind is not NodeKind.DIR:
            raise GuestError(errno.ENOTDIR)
        host = _vfs_errors(lambda: c.vfs.prepare_dir(res))
    elif writes:
        if res.node.kind is NodeKind.DIR:
            raise GuestError(errno.EISDIR)
        host = _vfs_errors(lambda: c.vfs.prepare_write(res, W.WRITE))
    else:
        host = res.host
        if not flags & O_PATH and res.node.kind is not NodeKind.DIR:
            c.k.note_read(res.guest)  # the run report's "files read"
        if res.guest.startswith(b"/proc/") and res.guest.endswith(_PATH_FILES):
            host = _proc_in_guest_terms(c, res.guest) or host
    if host is None:
        raise GuestError(errno.ENOENT)
    if res.guest.startswith(b"/proc/") and not host.startswith(c.vfs.state_dir):
        kernel_resolve = 0  # /proc/PID/... is the kernel's, not the guest's to change
    settled = _settled(c) if res.node is None else None
    if as_is and not c.vfs.guest_writable(host):
        # A host file the guest cannot change (the lower layer, /proc): no
        # symlink can be planted on the way, so the call runs as it is,
        # with only its path replaced (one register: the cheap rewrite).
        return Rewrite(((path_idx, c.place(host + b"\0")),), settled)
    if not (create or tmpfile):
        mode = 0
    if flags & O_PATH:
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC  # openat ignores the rest; openat2 refuses it
    else:
        flags |= O_LARGEFILE  # openat adds it on 64-bit
    how = struct.pack("<QQQ", flags, mode & 0o7777, kernel_resolve)
    path_addr = c.place(host + b"\0")
    how_addr = c.place(how)
    return Rewrite(((0, AT_FDCWD), (1, path_addr), (2, how_addr), (3, len(how))), settled, nr=NR_OPENAT2)


def _links_outside(link: bytes) -> bool:
    """Does magic link ``link`` (one the vfs found no guest path for) name a
    host file, i.e. one outside the guest's view, rather than a pipe or socket?"""
    try:
        return os.readlink(link).startswith(b"/")
    except OSError:
        return False


def _reopen_widens(link: bytes, flags: int) -> bool:
    """Would opening magic link ``link`` (``/proc/PID/fd/N`` or ``map_files``
    naming a file outside the guest's view: an fd the caller handed it on a
    hidden file or one outside ``--root``) give more access than the fd
    has?  The kernel's reopen checks only the file's mode, so a read-only
    fd would reopen writable (and ``O_TRUNC`` truncate), a write-only one
    readable.  Pipes, sockets and other non-files reopen as the kernel
    says."""
    if not _links_outside(link) or flags & O_PATH:
        return False  # a pipe, a socket, gone (the kernel's reopen fails too), or only a reference
    have = None
    if b"/fd/" in link:
        try:
            with open(link.replace(b"/fd/", b"/fdinfo/"), "rb") as f:
                for line in f:
                    if line.startswith(b"flags:"):
                        fl = int(line.split()[1], 8)
                        have = None if fl & O_PATH else fl & O_ACCMODE
        except (OSError, ValueError, IndexError):
            return True
    acc = flags & O_ACCMODE
    want_read = acc in (0, O_RDWR)
    want_write = acc in (O_WRONLY, O_RDWR) or bool(flags & O_TRUNC)
    return (want_read and have not in (0, O_RDWR)) or (want_write and have not in (O_WRONLY, O_RDWR))


def sys_open(k: Kernel, ctx: SyscallContext) -> Outcome:
    a = ctx.args
    return _open(_call(k, ctx), None, 0, a[1] & 0xFFFFFFFF, a[2])


def sys_creat(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _open(_call(k, ctx), None, 0, O_CREAT | O_WRONLY | O_TRUNC, ctx.args[1])


def sys_openat(k: Kernel, ctx: SyscallContext) -> Outcome:
    a = ctx.args
    return _open(_call(k, ctx), 0, 1, a[2] & 0xFFFFFFFF, a[3])


def sys_openat2(k: Kernel, ctx: SyscallContext) -> Outcome:
    c = _call(k, ctx)
    size = ctx.args[3]
    if size < 24 or size > 4096:
        raise GuestError(errno.EINVAL)
    raw = ctx.read(ctx.args[2], size)
    if any(raw[24:]):
        raise GuestError(errno.E2BIG)
    flags, mode, resolve = struct.unpack_from("<QQQ", raw)
    if flags & ~VALID_OPEN_FLAGS or resolve & ~0x1F or (mode and not flags & (O_CREAT | O_TMPFILE)) or mode & ~0o7777:
        raise GuestError(errno.EINVAL)
    return _open(c, 0, 1, flags, mode, resolve, as_is=False)


# -- lookups that only read ---------------------------------------------------------


def _rewrite_path(c: _Call, path_idx: int, host: bytes | None, *, on_exit: Callable[[int], int | None] | None = None
                  ) -> Outcome:
    if host is None:
        raise GuestError(errno.ENOENT)
    return Rewrite(((path_idx, c.place(host + b"\0")),), on_exit)


def _at_flags(flags: int, *, follow_default: bool = True) -> ResolveFlag:
    rf = ResolveFlag.NONE
    if flags & AT_SYMLINK_NOFOLLOW or not follow_default:
        rf |= ResolveFlag.NOFOLLOW
    if flags & AT_EMPTY_PATH:
        rf |= ResolveFlag.EMPTY_PATH
    return rf


# name -> (dirfd arg, path arg, at-flags arg, follows by default)
_LOOKUPS: dict[str, tuple[int | None, int, int | None, bool]] = {
    "stat": (None, 0, None, True),
    "lstat": (None, 0, None, False),
    "newfstatat": (0, 1, 3, True),
    "statx": (0, 1, 2, True),
    "access": (None, 0, None, True),
    "faccessat": (0, 1, None, True),
    "faccessat2": (0, 1, 3, True),
    "statfs": (None, 0, None, True),
    "getxattr": (None, 0, None, True),
    "lgetxattr": (None, 0, None, False),
    "listxattr": (None, 0, None, True),
    "llistxattr": (None, 0, None, False),
    "getxattrat": (0, 1, 2, True),
    "listxattrat": (0, 1, 2, True),
    "file_getattr": (0, 1, 4, True),
    "chdir": (None, 0, None, True),
    "inotify_add_watch": (None, 1, None, True),
}
_STATS = {"stat": 1, "lstat": 1, "newfstatat": 2, "fstat": 1}  # name -> struct stat buffer arg
_NO_META = FakeMeta()


def sys_lookup(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Calls that name a path and change nothing: translate it."""
    c = _call(k, ctx)
    name = k.name_of(ctx.nr)
    dirfd_idx, path_idx, flags_idx, follow = _LOOKUPS[name]
    flags = ctx.args[flags_idx] & 0xFFFFFFFF if flags_idx is not None else 0
    if name == "inotify_add_watch":
        follow = not flags & 0x02000000  # IN_DONT_FOLLOW
        flags = 0
    rf = _at_flags(flags, follow_default=follow)
    if name == "chdir":
        rf |= ResolveFlag.DIRECTORY
    raw = c.path(path_idx, allow_null=bool(flags & AT_EMPTY_PATH))
    if raw is None:
        return PASS  # NULL with AT_EMPTY_PATH (Linux >= 6.11): the fd itself; a register, not memory
    if not raw and flags & AT_EMPTY_PATH:
        # The fd itself; the empty string still goes through the scratch
        # region, or a racing thread could turn it into a path.
        return Rewrite(((path_idx, c.place(b"\0")),), _fd_stat_fix(c, name, s32(ctx.args[0])))
    res = c.resolve(dirfd_idx, path_idx, rf, path=raw)
    if name in _ON_REF and res.host is not None and res.node is not None and c.vfs.guest_writable(res.host):
        return _lookup_on_ref(c, name, res, flags)
    if name in _READ_ON_REF and res.host is not None and res.node is not None and c.vfs.guest_writable(res.host):
        return _read_on_ref(c, name, res)
    host = res.guest if res.node is not None and res.node.kind is NodeKind.MAGICLINK else res.host
    if host == res.guest and name == "inotify_add_watch" and _links_outside(res.guest):
        # An inherited fd's file (or a cwd) outside the guest's view: a watch
        # would tell the names of what is created there; an fd tells nothing.
        return Deny(errno.EACCES, f"inotify watch on {res.guest!r}, outside the guest's view")
    on_exit = None
    meta = c.vfs.meta_of(res) if res.node is not None else None
    ids = c.vfs.config.identity
    if meta is None and ids is not None and res.node is not None:
        meta = _NO_META  # still: the user's own files show as the fake identity's
    if meta is not None and name in _STATS:
        on_exit = _fix_stat(ctx, ctx.args[_STATS[name]], meta, ids)
    elif meta is not None and name == "statx":
        on_exit = _fix_stat(ctx, ctx.args[4], meta, ids, statx=True)
    elif name == "statfs" and (res.readonly or res.mount.kind is MountKind.SYNTHETIC):
        on_exit = _statfs_readonly(ctx, ctx.args[1])
    return _rewrite_path(c, path_idx, host, on_exit=on_exit)


_STATFS_F_FLAGS = 80  # offsetof(struct statfs, f_flags) on x86-64
ST_RDONLY = 1


def _statfs_readonly(ctx: SyscallContext, buf: int) -> Callable[[int], int | None]:
    """statfs(2) of a read-only guest mount says so (ST_RDONLY), as its
    mountinfo line does: the host filesystem beneath it is writable."""

    def fix(ret: int) -> None:
        if ret != 0:
            return
        try:
            (flags,) = struct.unpack("<Q", ctx.read(buf + _STATFS_F_FLAGS, 8))
            ctx.write(buf + _STATFS_F_FLAGS, struct.pack("<Q", flags | ST_RDONLY))
        except OSError:
            pass

    return fix


_ON_REF = frozenset(("stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "statfs"))
# name -> (name arg, buffer arg, size arg); getxattrat's buffer and size are in its struct xattr_args
_XATTR_READS = {
    "getxattr": (1, 2, 3), "lgetxattr": (1, 2, 3), "listxattr": (None, 1, 2), "llistxattr": (None, 1, 2),
    "getxattrat": (3, 4, 5), "listxattrat": (None, 3, 4),
}
_READ_ON_REF = frozenset((*_XATTR_READS, "inotify_add_watch"))
IN_DONT_FOLLOW = 0x02000000
AT_EACCESS = 0x200


def _fd_stat_fix(c: _Call, name: str, fd: int) -> Callable[[int], int | None] | None:
    """For a stat of an fd: the exit fix-up showing its file's owner/mode
    overrides and the fake identity, as a stat by path shows them."""
    ids = c.vfs.config.identity
    if name not in _STATS and name != "statx":
        return None
    try:
        where = os.fsencode(os.readlink(f"/proc/{c.ctx.tid}/fd/{fd}"))
    except OSError:
        return None
    guest = c.vfs.to_guest(where) if where.startswith(b"/") else None
    meta = c.vfs.meta_of(c.vfs.locate(guest)) if guest is not None else None
    if meta is None and ids is None:
        return None
    buf = c.ctx.args[4] if name == "statx" else c.ctx.args[_STATS[name]]
    return _fix_stat(c.ctx, buf, meta or _NO_META, ids, statx=name == "statx")


def sys_fstat(k: Kernel, ctx: SyscallContext) -> Outcome:
    """fstat(2), trapped only under a fake identity: like stat by path, the
    user's own files show as the fake identity's, with their overrides."""
    c = _call(k, ctx)
    fix = _fd_stat_fix(c, "fstat", s32(ctx.args[0]))
    return Rewrite((), fix) if fix is not None else PASS


def _lookup_on_ref(c: _Call, name: str, res: Resolved, flags: int) -> Outcome:
    """A read-only lookup of a path in the guest's writable layer, done by the
    tracer on its own reference taken without following symlinks: handing
    the kernel the path would let another thread swap a directory on it for
    a symlink to a hidden one in between (and Landlock does not mediate
    stat).  Lower-layer paths need none of this: the guest cannot change them."""
    assert res.host is not None
    ctx = c.ctx
    try:
        ref = c.vfs.open_beneath(res.host)
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None
    try:
        if name in _STATS or name == "statx" or name == "statfs":
            if name == "statx":
                data = _ffi.at_empty(_ffi.NR_STATX, ref, 256, AT_EMPTY_PATH | (flags & 0x6000), ctx.args[3] & 0xFFFFFFFF)
                buf = ctx.args[4]
            elif name == "statfs":
                data, buf = _ffi.at_empty(_ffi.NR_FSTATFS, ref, 120), ctx.args[1]
            else:
                data = _ffi.at_empty(_ffi.NR_NEWFSTATAT, ref, 144, AT_EMPTY_PATH)
                buf = ctx.args[_STATS[name]]
            data = _stat_in_guest_terms(c, res, name, data)
            try:
                ctx.write(buf, data)
            except OSError:
                raise GuestError(errno.EFAULT) from None
            return Emulate(0)
        mode = ctx.args[1 if name == "access" else 2] & 0xFFFFFFFF
        try:
            _ffi.access_at_empty(ref, mode, flags & AT_EACCESS)
        except OSError as e:
            return Emulate(-(e.errno or errno.EACCES))
        return Emulate(0)
    except OSError as e:
        raise GuestError(e.errno or errno.EIO) from None
    finally:
        os.close(ref)


def _read_on_ref(c: _Call, name: str, res: Resolved) -> Outcome:
    """xattr reads and inotify watches on a path in the guest's writable
    layer, done by the tracer through its own reference taken without
    following symlinks (see :func:`_lookup_on_ref`: a second thread could
    otherwise swap a directory on the path for a symlink to a hidden or
    outside one while the kernel walks it; Landlock mediates neither).  The
    reference is named as ``/proc/self/fd/N``, which leads to exactly its
    inode, a symlink's own included."""
    host = res.host
    assert host is not None
    ctx = c.ctx
    ref = _vfs_int(lambda: c.vfs.open_beneath(host))
    at = f"/proc/self/fd/{ref}"
    try:
        if name == "inotify_add_watch":
            ino = _ffi.grab_fd(ctx.tid, s32(ctx.args[0]), c.task.tgid)
            try:
                return Emulate(_ffi.inotify_add_watch(ino, os.fsencode(at), ctx.args[2] & ~IN_DONT_FOLLOW & 0xFFFFFFFF))
            finally:
                os.close(ino)
        name_arg, buf_arg, size_arg = _XATTR_READS[name]
        buf, size = ctx.args[buf_arg], ctx.args[size_arg] & 0xFFFFFFFF
        if name == "getxattrat":
            if size < 16:
                raise GuestError(errno.EINVAL)
            buf, size, xflags = struct.unpack("<QII", ctx.read(ctx.args[4], 16))
            if xflags:
                raise GuestError(errno.EINVAL)
        if name_arg is None:
            data = b"".join(os.fsencode(n) + b"\0" for n in os.listxattr(at))
        else:
            try:
                attr = ctx.read_cstring(ctx.args[name_arg], 256)
            except (OSError, OverflowError):
                raise GuestError(errno.EFAULT) from None
            if not attr or len(attr) > 255:
                raise GuestError(errno.ERANGE)
            data = os.getxattr(at, attr)
        if size == 0:
            return Emulate(len(data))
        if len(data) > size:
            raise GuestError(errno.ERANGE)
        try:
            ctx.write(buf, data)
        except OSError:
            raise GuestError(errno.EFAULT) from None
        return Emulate(len(data))
    except OSError as e:
        raise GuestError(e.errno or errno.EIO) from None
    finally:
        os.close(ref)


def _stat_in_guest_terms(c: _Call, res: Resolved, name: str, data: bytes) -> bytes:
    meta = c.vfs.meta_of(res)
    fake = c.vfs.config.identity
    if name == "statfs" or (meta is None and fake is None):
        return data
    meta = meta or _NO_META
    raw = bytearray(data)
    if name == "statx":
        uid, gid, mode = struct.unpack_from("<IIH", raw, 20)
        m, u, g = _apply_meta(meta, mode, uid, gid, fake)
        struct.pack_into("<IIH", raw, 20, u, g, m & 0xFFFF)
    else:
        mode, uid, gid = struct.unpack_from("<III", raw, 24)
        struct.pack_into("<III", raw, 24, *_apply_meta(meta, mode, uid, gid, fake))
    return bytes(raw)


def _fix_stat(ctx: SyscallContext, buf: int, meta: FakeMeta, ids: tuple[int, int] | None, *, statx: bool = False
              ) -> Callable[[int], int | None]:
    """At exit: show the owner/mode overrides of a copied-up file, and the
    fake identity, in struct stat (mode, uid, gid at 24) or struct statx
    (uid, gid at 20, a 16-bit mode at 28)."""
    off, fmt = (20, "<IIH") if statx else (24, "<III")

    def fix(ret: int) -> None:
        if ret == 0:
            try:
                a, b, c = struct.unpack(fmt, ctx.read(buf + off, struct.calcsize(fmt)))
                (uid, gid, mode) = (a, b, c) if statx else (b, c, a)
                m, u, g = _apply_meta(meta, mode, uid, gid, ids)
                ctx.write(buf + off, struct.pack(fmt, *((u, g, m & 0xFFFF) if statx else (m, u, g))))
            except OSError:
                pass

    return fix


def _apply_meta(meta: FakeMeta, mode: int, uid: int, gid: int, ids: tuple[int, int] | None = None
                ) -> tuple[int, int, int]:
    """Owner/mode overrides, then the fake identity: as PRoot -0 shows them,
    what the user really owns is owned by whoever the guest believes it is."""
    if meta.mode is not None:
        mode = (mode & ~0o7777) | (meta.mode & 0o7777)
    if ids is not None:
        uid = ids[0] if uid == _EUID else uid
        gid = ids[1] if gid == _EGID else gid
    return mode, uid if meta.uid is None else meta.uid, gid if meta.gid is None else meta.gid


_EUID, _EGID = os.geteuid(), os.getegid()


def sys_readlink(k: Kernel, ctx: SyscallContext) -> Outcome:
    """readlink(2)/readlinkat(2): symlinks read as stored; magic links answered."""
    c = _call(k, ctx)
    at = k.name_of(ctx.nr) == "readlinkat"
    path_idx, buf, size = (1, ctx.args[2], ctx.args[3]) if at else (0, ctx.args[1], ctx.args[2])
    size = s32(size)
    if size <= 0:
        raise GuestError(errno.EINVAL)
    raw = c.path(path_idx)
    assert raw is not None
    res = c.resolve(0 if at else None, path_idx, ResolveFlag.NOFOLLOW | ResolveFlag.EMPTY_PATH, path=raw)
    node = res.node
    if node is not None and node.kind in (NodeKind.MAGICLINK, NodeKind.SYMLINK) and res.guest.startswith(b"/proc/"):
        m = c.magic(res.guest)
        if m is not None and m[0] is not None:
            out = m[1][:size]
            try:
                ctx.write(buf, out)
            except OSError:
                raise GuestError(errno.EFAULT) from None
            return Emulate(len(out))
    if not raw:
        return Rewrite(((path_idx, c.place(b"\0")),))
    host = res.host
    if node is not None and host is not None and c.vfs.guest_writable(host):
        # In the writable layer: read by the tracer on its own reference (a
        # second thread could swap a directory on the path for a symlink
        # to a hidden or outside one while the kernel walks it).
        if node.kind is not NodeKind.SYMLINK:
            raise GuestError(errno.EINVAL)
        ref = _vfs_int(lambda: c.vfs.open_beneath(host))
        try:
            out = _ffi.at_empty(_ffi.NR_READLINKAT, ref, PATH_MAX)[:size]
            ctx.write(buf, out)
        except OSError as e:
            raise GuestError(e.errno or errno.EFAULT) from None
        finally:
            os.close(ref)
        return Emulate(len(out))
    return _rewrite_path(c, path_idx, res.host)


def sys_getcwd(k: Kernel, ctx: SyscallContext) -> Outcome:
    """getcwd(2): the guest path of the task's cwd."""
    c = _call(k, ctx)
    try:
        host = os.readlink(f"/proc/{ctx.tid}/cwd")
    except OSError:
        raise GuestError(errno.ENOENT) from None
    guest = c.vfs.to_guest(os.fsencode(host)) if host.startswith("/") and not host.endswith(" (deleted)") else None
    if guest is None:
        raise GuestError(errno.ENOENT, "cwd outside the guest's view")
    root = c.task.fs.root
    if root != b"/":
        guest = b"/" + paths.relative_to(guest, root) if paths.is_within(guest, root) else None
        if guest is None:
            raise GuestError(errno.ENOENT)
    out = guest + b"\0"
    if len(out) > ctx.args[1]:
        raise GuestError(errno.ERANGE)
    try:
        ctx.write(ctx.args[0], out)
    except OSError:
        raise GuestError(errno.EFAULT) from None
    return Emulate(len(out))


# -- namespace changes -------------------------------------------------------------

_CREATE = ResolveFlag.NOFOLLOW | ResolveFlag.MAY_CREATE


def _prepare(c: _Call, res: Resolved, intent: WriteIntent) -> bytes | None:
    if res.mount.kind is MountKind.BIND and res.mount.guest == b"/dev" and intent is not W.WRITE:
        raise GuestError(errno.EACCES, "/dev is the host's: only its existing nodes are writable")
    return _vfs_errors(lambda: c.vfs.prepare_write(res, intent))


def _create(c: _Call, dirfd_idx: int | None, path_idx: int, intent: WriteIntent,
            make: Callable[[int, bytes], None] | None = None) -> Outcome:
    res = c.resolve(dirfd_idx, path_idx, _CREATE)
    if res.node is not None:
        raise GuestError(errno.EEXIST)
    if intent is not W.MKDIR and (res.trailing_slash or res.must_be_dir):
        raise GuestError(errno.ENOENT)
    host = _prepare(c, res, intent)
    if host is not None and make is not None:
        done = _in_parent(c, host, make)
        if done is not None:
            return done
    return _rewrite_path(c, path_idx, host, on_exit=_settled(c))


def _in_parent(c: _Call, host: bytes, op: Callable[[int, bytes], None]) -> Outcome | None:
    """Do a namespace change in the guest's writable layer in the tracer: in
    ``host``'s parent directory reached without following symlinks, with the
    guest's umask.  Handing the kernel the path instead would let a second
    guest thread swap a directory on it for a symlink during the call (only
    Landlock would then stop a write outside).  None: not in a writable
    layer, let the kernel do it by path."""
    try:
        got = c.vfs.open_parent_beneath(host)
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None
    if got is None:
        return None
    dfd, name = got
    old = os.umask(_umask_of(c.ctx.tid))
    try:
        op(dfd, name)
    except OSError as e:
        return Emulate(-(e.errno or errno.EIO))
    finally:
        os.umask(old)
        os.close(dfd)
        c.vfs.invalidate()
    return Emulate(0)


def _in_parents(c: _Call, ho: bytes, hn: bytes, op: Callable[[int, bytes, int, bytes], None]) -> Outcome | None:
    """:func:`_in_parent` for calls naming two paths (rename, link)."""
    try:
        a = c.vfs.open_parent_beneath(ho)
        if a is None:
            return None
        b = c.vfs.open_parent_beneath(hn)
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None
    try:
        if b is None:
            return None
        try:
            op(a[0], a[1], b[0], b[1])
        except OSError as e:
            return Emulate(-(e.errno or errno.EIO))
        finally:
            os.close(b[0])
            c.vfs.invalidate()
        return Emulate(0)
    finally:
        os.close(a[0])


def _umask_of(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def sys_mkdir(k: Kernel, ctx: SyscallContext) -> Outcome:
    at = k.name_of(ctx.nr) == "mkdirat"
    mode = ctx.args[2 if at else 1] & 0o7777
    return _create(_call(k, ctx), 0 if at else None, 1 if at else 0, W.MKDIR,
                   lambda dfd, name: os.mkdir(name, mode, dir_fd=dfd))


def sys_mknod(k: Kernel, ctx: SyscallContext) -> Outcome:
    refused = fdops.sys_mknod(k, ctx)  # no device nodes, as off the vfs
    if refused is not PASS:
        return refused
    at = k.name_of(ctx.nr) == "mknodat"
    mode = ctx.args[2 if at else 1] & 0xFFFFFFFF
    if not stat.S_IFMT(mode):
        mode |= stat.S_IFREG
    return _create(_call(k, ctx), 0 if at else None, 1 if at else 0, W.CREATE,
                   lambda dfd, name: os.mknod(name, mode & (0o170000 | 0o7777), dir_fd=dfd))


def sys_symlink(k: Kernel, ctx: SyscallContext) -> Outcome:
    """symlink(2)/symlinkat(2): the target is guest text, stored as is."""
    at = k.name_of(ctx.nr) == "symlinkat"
    c = _call(k, ctx)
    target = c.path(0)
    assert target is not None
    if not target:
        raise GuestError(errno.ENOENT)
    out = _create(c, 1 if at else None, 2 if at else 1, W.CREATE,
                  lambda dfd, name: os.symlink(target, name, dir_fd=dfd))
    if not isinstance(out, Rewrite):
        return out  # done by the tracer
    # The kernel must read our copy of the target too.
    return Rewrite(((0, c.place(target + b"\0")), *out.args), out.on_exit)


def _remove(c: _Call, dirfd_idx: int | None, path_idx: int, intent: WriteIntent) -> Outcome:
    res = c.resolve(dirfd_idx, path_idx, ResolveFlag.NOFOLLOW)
    if intent is W.RMDIR and res.last.name in ("DOT", "ROOT"):
        raise GuestError(errno.EINVAL if res.last.name == "DOT" else errno.EBUSY)
    if intent is W.RMDIR and res.last.name == "DOTDOT":
        raise GuestError(errno.ENOTEMPTY)
    if intent is W.UNLINK and res.trailing_slash:
        raise GuestError(errno.EISDIR if res.node is not None and res.node.kind is NodeKind.DIR else errno.ENOTDIR)
    host = _prepare(c, res, intent)
    if host is None:
        return Emulate(0)  # a whiteout was all it took
    rm: Callable[[int, bytes], None] = (
        (lambda dfd, name: os.rmdir(name, dir_fd=dfd)) if intent is W.RMDIR
        else (lambda dfd, name: os.unlink(name, dir_fd=dfd))
    )
    done = _in_parent(c, host, rm)
    if done is not None:
        return done
    return _rewrite_path(c, path_idx, host, on_exit=_settled(c))


def sys_unlink(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _remove(_call(k, ctx), None, 0, W.UNLINK)


def sys_rmdir(k: Kernel, ctx: SyscallContext) -> Outcome:
    return _remove(_call(k, ctx), None, 0, W.RMDIR)


def sys_unlinkat(k: Kernel, ctx: SyscallContext) -> Outcome:
    flags = ctx.args[2] & 0xFFFFFFFF
    if flags & ~AT_REMOVEDIR:
        raise GuestError(errno.EINVAL)
    return _remove(_call(k, ctx), 0, 1, W.RMDIR if flags & AT_REMOVEDIR else W.UNLINK)


def sys_rename(k: Kernel, ctx: SyscallContext) -> Outcome:
    """rename(2), renameat(2), renameat2(2) with NOREPLACE and EXCHANGE."""
    c = _call(k, ctx)
    name = k.name_of(ctx.nr)
    if name == "rename":
        od, op, nd, np_, flags = None, 0, None, 1, 0
    else:
        od, op, nd, np_ = 0, 1, 2, 3
        flags = ctx.args[4] & 0xFFFFFFFF if name == "renameat2" else 0
    if flags & RENAME_WHITEOUT:
        return Deny(errno.EPERM, "RENAME_WHITEOUT makes a device node")
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or (flags & RENAME_NOREPLACE and flags & RENAME_EXCHANGE):
        raise GuestError(errno.EINVAL)
    old = c.resolve(od, op, ResolveFlag.NOFOLLOW)
    new = c.resolve(nd, np_, _CREATE)
    for r in (old, new):
        if r.last.name in ("DOT", "DOTDOT", "ROOT"):
            raise GuestError(errno.EBUSY if r.last.name == "ROOT" else errno.EINVAL)
        if r.mount.kind is MountKind.BIND and r.mount.guest == b"/dev":
            raise GuestError(errno.EACCES)
    if old.guest == new.guest:
        return Emulate(0)
    try:
        ho, hn = c.vfs.prepare_rename(
            old, new, noreplace=bool(flags & RENAME_NOREPLACE), exchange=bool(flags & RENAME_EXCHANGE)
        )
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None
    done = _in_parents(c, ho, hn, lambda od_, on, nd_, nn: _ffi.renameat2(od_, on, nd_, nn, flags))
    if done is not None:
        return done
    return Rewrite(((op, c.place(ho + b"\0")), (np_, c.place(hn + b"\0"))), _settled(c))


def sys_link(k: Kernel, ctx: SyscallContext) -> Outcome:
    """link(2)/linkat(2).  A host (lower-layer) file cannot be linked: it
    would have to be copied up first, and the link would then name a new
    inode, not the one the guest stat()ed — git's clone checks exactly that
    and dies.  EXDEV, as across mounts, makes git, cp and friends copy
    instead; links between the guest's own files are real links."""
    c = _call(k, ctx)
    at = k.name_of(ctx.nr) == "linkat"
    flags = ctx.args[4] & 0xFFFFFFFF if at else 0
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise GuestError(errno.EINVAL)
    if flags & AT_EMPTY_PATH:
        return Deny(errno.EPERM, "linkat(AT_EMPTY_PATH) of an fd")
    op, np_ = (1, 3) if at else (0, 1)
    old = c.resolve(0 if at else None, op, ResolveFlag.NONE if flags & AT_SYMLINK_FOLLOW else ResolveFlag.NOFOLLOW)
    new = c.resolve(2 if at else None, np_, _CREATE)
    if new.node is not None:
        raise GuestError(errno.EEXIST)
    if old.mount != new.mount or old.layer is Layer.LOWER:
        raise GuestError(errno.EXDEV)
    ho = _prepare(c, old, W.LINK_SOURCE)
    hn = _prepare(c, new, W.CREATE)
    if ho is None or hn is None:
        raise GuestError(errno.ENOENT)
    follow = bool(flags & AT_SYMLINK_FOLLOW)
    done = _in_parents(c, ho, hn, lambda od_, on, nd_, nn: os.link(on, nn, src_dir_fd=od_, dst_dir_fd=nd_,
                                                                      follow_symlinks=follow))
    if done is not None:
        return done
    return Rewrite(((op, c.place(ho + b"\0")), (np_, c.place(hn + b"\0")), *(((4, flags),) if at else ())),
                   _settled(c))


def sys_truncate(k: Kernel, ctx: SyscallContext) -> Outcome:
    c = _call(k, ctx)
    res = c.resolve(None, 0)
    if res.node is not None and res.node.kind is NodeKind.DIR:
        raise GuestError(errno.EISDIR)
    if res.node is not None and res.node.kind is not NodeKind.REG:
        raise GuestError(errno.EINVAL)  # as vfs_truncate: only regular files
    if _kernel_write_refused(res):
        return Deny(errno.EACCES, f"truncate of {res.guest!r}")
    host = _prepare(c, res, W.WRITE)
    if host is not None:
        length = ctx.args[1]
        if length >= 1 << 63:
            raise GuestError(errno.EINVAL)

        def cut(dfd: int, name: bytes) -> None:
            # O_NONBLOCK: a FIFO must not make the tracer wait for a reader.
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
            try:
                os.ftruncate(fd, length)
            finally:
                os.close(fd)

        done = _in_parent(c, host, cut)
        if done is not None:
            return done
    return _rewrite_path(c, 0, host)


# -- metadata -------------------------------------------------------------------------

# name -> (dirfd arg, path arg, at-flags arg, follows by default, intent)
_META: dict[str, tuple[int | None, int, int | None, bool, WriteIntent]] = {
    "chmod": (None, 0, None, True, W.CHMOD),
    "fchmodat": (0, 1, None, True, W.CHMOD),
    "fchmodat2": (0, 1, 3, True, W.CHMOD),
    "chown": (None, 0, None, True, W.CHOWN),
    "lchown": (None, 0, None, False, W.CHOWN),
    "fchownat": (0, 1, 4, True, W.CHOWN),
    "utime": (None, 0, None, True, W.UTIMES),
    "utimes": (None, 0, None, True, W.UTIMES),
    "futimesat": (0, 1, None, True, W.UTIMES),
    "utimensat": (0, 1, 3, True, W.UTIMES),
    "setxattr": (None, 0, None, True, W.XATTR),
    "lsetxattr": (None, 0, None, False, W.XATTR),
    "removexattr": (None, 0, None, True, W.XATTR),
    "lremovexattr": (None, 0, None, False, W.XATTR),
    "setxattrat": (0, 1, 2, True, W.XATTR),
    "removexattrat": (0, 1, 2, True, W.XATTR),
    "file_setattr": (0, 1, 4, True, W.XATTR),
}
_TIMES_ARG = {"utime": 1, "utimes": 1, "futimesat": 2, "utimensat": 2}


def sys_meta(k: Kernel, ctx: SyscallContext) -> Outcome:
    """chmod/chown/utimes/xattr by path: on the copied-up file (or recorded, under fake root)."""
    c = _call(k, ctx)
    name = k.name_of(ctx.nr)
    dirfd_idx, path_idx, flags_idx, follow, intent = _META[name]
    if name == "utimensat" and ctx.args[1] == 0:
        return _fd_meta(c, name, s32(ctx.args[0]))  # futimens(fd)
    flags = ctx.args[flags_idx] & 0xFFFFFFFF if flags_idx is not None else 0
    raw = c.path(path_idx, allow_null=bool(flags & AT_EMPTY_PATH))
    if raw is None or (not raw and flags & AT_EMPTY_PATH):
        return _fd_meta(c, name, s32(ctx.args[0]))
    res = c.resolve(dirfd_idx, path_idx, _at_flags(flags, follow_default=follow), path=raw)
    if intent is W.UTIMES and _times_are_now(ctx, name):
        intent = W.UTIMES_NOW
    if c.vfs.config.fake_root and intent in (W.CHMOD, W.CHOWN):
        return _fake(c, name, res)
    return _meta_beneath(c, name, res, _prepare(c, res, intent))


def _meta_beneath(c: _Call, name: str, res: Resolved, host: bytes | None) -> Outcome:
    """Apply a path-named metadata change on ``host`` (in the upper layer or a
    read-write bind) through the tracer's own reference to it, taken without
    following symlinks.  Handing the kernel the path instead would let a
    second guest thread swap a directory on it for a symlink between the
    check and the kernel's walk, and Landlock has no right for metadata."""
    from umlpy.vkernel import meta as host_meta

    if host is None:
        raise GuestError(errno.ENOENT)
    if name in host_meta.REFUSED_WHEN_LIMITED:
        return Deny(errno.EPERM, f"{name} in the virtual filesystem")
    ref = _vfs_int(lambda: c.vfs.open_beneath(host))
    try:
        host_meta.apply(name, c.ctx, ref, res.node is not None and res.node.kind is NodeKind.SYMLINK)
    except OSError as e:
        raise GuestError(e.errno or errno.EPERM) from None
    finally:
        os.close(ref)
    return Emulate(0)


def _times_are_now(ctx: SyscallContext, name: str) -> bool:
    ptr = ctx.args[_TIMES_ARG[name]]
    if ptr == 0:
        return True
    if name != "utimensat":
        return False
    try:
        _, n1, _, n2 = struct.unpack("<qqqq", ctx.read(ptr, 32))
    except OSError:
        return False
    utime_now = (1 << 30) - 1
    return bool(n1 == utime_now and n2 == utime_now)


def _fake(c: _Call, name: str, res: Resolved) -> Outcome:
    a = c.ctx.args
    try:
        if "chmod" in name:
            c.vfs.fake_chmod(res, a[2 if "at" in name else 1] & 0o7777)
        else:
            i = 2 if name == "fchownat" else 1
            c.vfs.fake_chown(res, s32(a[i]), s32(a[i + 1]))
    except VfsError as e:
        raise GuestError(e.errno, str(e)) from None
    return Emulate(0)


_FD_META = {
    "fchmod": W.CHMOD, "fchown": W.CHOWN, "fsetxattr": W.XATTR, "fremovexattr": W.XATTR,
    "utimensat": W.UTIMES, "fchmodat": W.CHMOD, "fchmodat2": W.CHMOD, "fchownat": W.CHOWN,
}


def sys_fd_meta(k: Kernel, ctx: SyscallContext) -> Outcome:
    """fchmod/fchown/fsetxattr/fremovexattr: they work through read-only fds,
    so an fd opened on a lower (host) file must not reach it."""
    c = _call(k, ctx)
    return _fd_meta(c, k.name_of(ctx.nr), s32(ctx.args[0]))


def _fd_meta(c: _Call, name: str, fd: int) -> Outcome:
    """Done by the tracer on its own copy of the fd (the object checked is
    the object changed): directly when it lies where the guest may write,
    else on the copied-up file."""
    from umlpy.vkernel import meta as host_meta

    try:
        ref = _ffi.grab_fd(c.ctx.tid, fd, c.task.tgid)
    except OSError as e:
        raise GuestError(e.errno or errno.EBADF) from None
    try:
        where = os.readlink(f"/proc/self/fd/{ref}").encode()
        if not where.startswith(b"/") or where.startswith((b"/proc/", b"/dev/")):
            return Deny(errno.EPERM, f"{name} of {where!r}")
        intent = _FD_META.get(name, W.XATTR)
        if intent is W.UTIMES and _times_are_now(c.ctx, name):
            intent = W.UTIMES_NOW
        guest = c.vfs.to_guest(where)
        # The fd's path, walked again: if the guest replaced an ancestor by a
        # symlink since it opened the fd, that path now leads elsewhere.
        res = c.vfs.walk_back(guest) if guest is not None else None
        if c.vfs.config.fake_root and intent in (W.CHMOD, W.CHOWN) and res is not None:
            return _fake(c, name, res)
        if any(paths.is_within(where, w) for w in c.vfs.writable_hosts()):
            host_meta.apply(name, c.ctx, ref, False)
            return Emulate(0)
        if guest is None:
            return Deny(errno.EPERM, f"{name} of a file outside the guest's view")
        if res is None:
            raise GuestError(errno.ENOENT, "the fd's file is no longer at its path")
        up = _prepare(c, res, intent)
        if up is None:
            raise GuestError(errno.ENOENT)
        fd2 = _vfs_int(lambda: c.vfs.open_beneath(up))
        try:
            host_meta.apply(name, c.ctx, fd2, False)
        finally:
            os.close(fd2)
        return Emulate(0)
    except OSError as e:
        raise GuestError(e.errno or errno.EPERM) from None
    finally:
        os.close(ref)


def sys_chroot(k: Kernel, ctx: SyscallContext) -> Outcome:
    """chroot(2): virtualized under fake root (the guest's root moves), else EPERM as for any user."""
    c = _call(k, ctx)
    if not c.vfs.config.fake_root and os.geteuid() != 0:
        raise GuestError(errno.EPERM)
    res = c.resolve(None, 0, ResolveFlag.DIRECTORY)
    c.task.fs.root = res.guest
    return Emulate(0)


# -- directory listings ---------------------------------------------------------------

_DT = {NodeKind.DIR: 4, NodeKind.REG: 8, NodeKind.SYMLINK: 10}
# guest directory -> the listing being served (see sys_getdents)
_listings: dict[bytes, list[tuple[bytes, int, int]]] = {}


def sys_getdents(k: Kernel, ctx: SyscallContext) -> Outcome:
    """getdents64(2)/getdents(2): the merged, filtered listing from the vfs.

    A directory the host can list alone (one layer, nothing hidden or
    whited out in it) is listed by the host: one readlink decides.  Else
    the index into the vfs's listing lives in the kernel's file offset (set
    by the tracer through its copy of the fd), so it is shared across fork
    like the real one and lseek/rewinddir work.  The choice is made at
    offset 0 and kept to the end of the listing, so a listing begun by the
    host (its offsets are the filesystem's cookies) stays the host's even
    if, as under rm -rf, entries are whited out meanwhile.
    """
    c = _call(k, ctx)
    fd, buf, count = s32(ctx.args[0]), ctx.args[1], ctx.args[2] & 0xFFFFFFFF
    try:
        where = os.fsencode(os.readlink(f"/proc/{ctx.tid}/fd/{fd}"))
    except OSError:
        raise GuestError(errno.EBADF) from None
    if not where.startswith(b"/"):
        return PASS  # not a directory: the kernel says ENOTDIR
    guest = c.vfs.to_guest(where)
    if guest is None:
        raise GuestError(errno.ENOENT)
    if c.vfs.walk_back(guest) is None:
        # Its path now leads elsewhere (an ancestor became a symlink) or
        # nowhere: listed as a removed directory is, empty.
        return Emulate(0)
    if guest not in _listings and guest != b"/proc" and not c.vfs.needs_merge(guest):
        return PASS
    try:
        ref = _ffi.grab_fd(ctx.tid, fd, c.task.tgid)
    except OSError as e:
        raise GuestError(e.errno or errno.EBADF) from None
    try:
        st = os.fstat(ref)
        if not stat.S_ISDIR(st.st_mode):
            raise GuestError(errno.ENOTDIR)
        pos = os.lseek(ref, 0, os.SEEK_CUR)
        entries = _listings.get(guest)
        if pos == 0:
            if guest != b"/proc" and not c.vfs.needs_merge(guest):
                _listings.pop(guest, None)
                return PASS
            entries = _listings[guest] = _listing(c, guest, st)
        elif entries is None:
            return PASS
        legacy = k.name_of(ctx.nr) == "getdents"
        out = bytearray()
        i = pos
        while i < len(entries):
            name, ino, dt = entries[i]
            rec = _dirent(name, ino, i + 1, dt, legacy)
            if len(out) + len(rec) > count:
                break
            out += rec
            i += 1
        if not out and i < len(entries):
            raise GuestError(errno.EINVAL)
        if out:
            ctx.write(buf, bytes(out))
        os.lseek(ref, i, os.SEEK_SET)
        return Emulate(len(out))
    except OSError as e:
        raise GuestError(e.errno or errno.EIO) from None
    finally:
        os.close(ref)


def _listing(c: _Call, guest: bytes, st: os.stat_result) -> list[tuple[bytes, int, int]]:
    try:
        ents = c.vfs.listdir(guest)
    except VfsError as e:
        raise GuestError(e.errno) from None
    out = [(b".", st.st_ino, 4), (b"..", st.st_ino if guest == b"/" else 1, 4)]
    proc = guest == b"/proc"
    tgids = c.k.tgids() if proc else set()
    for ent in ents:
        if proc and ent.name.isdigit() and int(ent.name) not in tgids and not _guest_zombie(c.k, int(ent.name)):
            continue
        out.append((ent.name, ent.ino or 1, _DT.get(ent.kind, 0)))
    return out


def _dirent(name: bytes, ino: int, off: int, dt: int, legacy: bool) -> bytes:
    if legacy:  # struct linux_dirent: ino, off, reclen, name, NUL, (pad), type
        reclen = (8 + 8 + 2 + len(name) + 2 + 7) & ~7
        rec = struct.pack("<QqH", ino, off, reclen) + name + b"\0"
        return rec + b"\0" * (reclen - len(rec) - 1) + bytes([dt])
    reclen = (8 + 8 + 2 + 1 + len(name) + 1 + 7) & ~7
    rec = struct.pack("<QqHB", ino, off, reclen, dt) + name
    return rec + b"\0" * (reclen - len(rec))


# -- pathname unix sockets ------------------------------------------------------------

AF_UNIX = 1
SUN_PATH_MAX = 108


def _unix_path(ctx: SyscallContext) -> bytes | None:
    """The path of a pathname AF_UNIX sockaddr argument, else None."""
    length = ctx.args[2] & 0xFFFFFFFF
    if length <= 2 or length > 2 + SUN_PATH_MAX:
        return None
    try:
        raw = ctx.read(ctx.args[1], length)
    except (OSError, OverflowError):
        return None
    if int.from_bytes(raw[:2], "little") != AF_UNIX or raw[2] == 0:
        return None  # another family, or the abstract namespace (Landlock scopes it)
    return raw[2:].split(b"\0", 1)[0]


def _held_socket(c: _Call) -> int:
    try:
        return _ffi.grab_fd(c.ctx.tid, s32(c.ctx.args[0]), c.task.tgid)
    except OSError as e:
        raise GuestError(e.errno or errno.EBADF) from None


def _open_beneath_root(host: bytes, *, final: bool) -> tuple[int, bytes]:
    """(fd of host's parent directory, reached without following symlinks, last name);
    with ``final``, an O_PATH fd of host itself instead of the parent's."""
    from umlpy.vfs.hostio import open_dir_beneath

    parent, name = paths.split(host)
    dfd = open_dir_beneath(b"/", parent[1:])
    if not final:
        return dfd, name
    try:
        return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd), name
    finally:
        os.close(dfd)


def sys_unix_bind(k: Kernel, ctx: SyscallContext) -> Outcome:
    """bind(2) to a pathname unix socket: the socket file is created in the
    guest's writable layer, by the tracer on its copy of the socket, through
    a directory it reached without following symlinks."""
    from umlpy.vkernel import netcalls

    path = _unix_path(ctx)
    if path is None:
        return netcalls.sys_bind(k, ctx)
    c = _call(k, ctx)
    res = c.resolve(None, 1, _CREATE, path=path)
    if res.node is not None:
        raise GuestError(errno.EADDRINUSE)
    host = _prepare(c, res, W.CREATE)
    if host is None:
        raise GuestError(errno.ENOENT)
    sock = _held_socket(c)
    try:
        dfd, name = _open_beneath_root(host, final=False)
        try:
            addr = unixnames.bind_address(c.k, dfd, name, path)
            if addr is None:
                raise GuestError(errno.ENAMETOOLONG)
            from umlpy.vkernel.unixsock import sockaddr_un

            _ffi.bind_raw(sock, sockaddr_un(addr))
        finally:
            os.close(dfd)
            c.vfs.invalidate()
    except OSError as e:
        raise GuestError(e.errno or errno.EACCES) from None
    finally:
        os.close(sock)
    return Emulate(0)


def sys_unix_connect(k: Kernel, ctx: SyscallContext) -> Outcome:
    """connect(2) to a pathname unix socket: the guest's path, resolved in its
    view; outside --net host only to listeners the guest holds."""
    from umlpy.vkernel import netcalls, unixsock

    path = _unix_path(ctx)
    if path is None:
        return netcalls.sys_connect(k, ctx)
    c = _call(k, ctx)
    res = c.resolve(None, 1, path=path)
    if res.host is None:
        raise GuestError(errno.ENOENT)
    sock = _held_socket(c)
    try:
        target, _ = _open_beneath_root(res.host, final=True)
    except OSError as e:
        os.close(sock)
        raise GuestError(e.errno or errno.ECONNREFUSED) from None
    try:
        bound_in = res.mount.kind is MountKind.BIND and res.mount.guest not in (b"/proc", b"/dev", b"/sys")
        return unixsock.connect_fd(k, sock, target, path, bound_in=bound_in)
    finally:
        os.close(target)
        os.close(sock)


def unix_target(k: Kernel, ctx: SyscallContext, path: bytes) -> int:
    """An O_PATH fd, the tracer's, of the socket file at the guest's pathname
    ``path`` (a datagram destination), resolved in the guest's view."""
    c = _call(k, ctx)
    res = c.resolve(None, 4, path=path)
    if res.host is None:
        raise GuestError(errno.ENOENT)
    try:
        target, _ = _open_beneath_root(res.host, final=True)
    except OSError as e:
        raise GuestError(e.errno or errno.ECONNREFUSED) from None
    return target


# -- execve ---------------------------------------------------------------------------

NR_EXECVE = 59
NR_EXECVEAT = 322


def _own_fd_link(k: Kernel, tid: int, raw: bytes) -> int | None:
    """N when ``raw`` is the caller's own /proc/{self,thread-self,TGID}/fd/N or /dev/fd/N."""
    parts = raw.split(b"/")
    if len(parts) == 4 and parts[:3] == [b"", b"dev", b"fd"]:
        who, n = b"self", parts[3]
    elif len(parts) == 5 and parts[:2] == [b"", b"proc"] and parts[3] == b"fd":
        who, n = parts[2], parts[4]
    else:
        return None
    if who not in (b"self", b"thread-self", str(k.tgid_of(tid)).encode(), str(tid).encode()) or not n.isdigit():
        return None
    if not os.path.lexists(f"/proc/{tid}/fd/{int(n)}"):
        return None  # no such fd: ENOENT, as the kernel's lookup says
    return int(n)
MAX_ARGV = 8192
_ARGV0, _REST = object(), object()  # the original argv[0]; the original argv[1:]


def sys_exec(k: Kernel, ctx: SyscallContext) -> Outcome:
    """execve(2)/execveat(2): the program, and what the kernel will load for it.

    The path is translated like any other; then, if the program's ``#!``
    interpreter or ELF interpreter lies elsewhere on the host than the guest
    path says (``--root``, or the guest replaced it), the interpreter is
    exec'd explicitly with the arguments the kernel would have built
    (:mod:`umlpy.vkernel.binfmt`).
    """
    c = _call(k, ctx)
    at = k.name_of(ctx.nr) == "execveat"
    path_idx, argv_idx, envp_idx = (1, 2, 3) if at else (0, 1, 2)
    flags = ctx.args[4] & 0xFFFFFFFF if at else 0
    raw = c.path(path_idx, allow_null=bool(flags & AT_EMPTY_PATH))
    if raw is None:
        return PASS  # execveat(fd, NULL, ..., AT_EMPTY_PATH): the fd is the program
    if not raw and flags & AT_EMPTY_PATH:
        return Rewrite(((path_idx, c.place(b"\0")),))  # fexecve: the fd is the program
    fd = None if at else _own_fd_link(k, ctx.tid, raw)
    res: Resolved | None = None
    try:
        res = c.resolve(0 if at else None, path_idx, _at_flags(flags), path=raw)
    except GuestError as e:
        if fd is None or e.errno != errno.ENOENT:
            raise
    if res is None or res.host is None or res.node is None:
        if fd is not None:
            # The program is an fd with no path in the guest's view (a memfd,
            # a deleted or O_TMPFILE file): exec it as fexecve does, by the
            # fd; the exec check vets what the kernel loads, as for fexecve.
            return Rewrite(((0, fd), (1, c.place(b"\0")), (2, ctx.args[argv_idx]), (3, ctx.args[envp_idx]),
                            (4, AT_EMPTY_PATH)), nr=NR_EXECVEAT)
        raise GuestError(errno.ENOENT)
    if res.node.kind is NodeKind.DIR:
        raise GuestError(errno.EACCES)
    c.task.exec_path = os.fsdecode(res.guest)  # for the report (what process.sys_execve notes off the vfs)
    shown = raw if raw.startswith(b"/") or not at else res.guest
    argv: list[object] = [_ARGV0, _REST]
    host, items, changed = _exec_plan(c, res, shown, argv, 0)
    if not changed:
        return _rewrite_path(c, path_idx, host)
    orig = _read_argv(ctx, ctx.args[argv_idx])
    ptrs: list[int] = []
    for it in items:
        if it is _ARGV0:
            ptrs.append(orig[0] if orig else c.place(shown + b"\0"))
        elif it is _REST:
            ptrs.extend(orig[1:])
        else:
            assert isinstance(it, bytes)
            ptrs.append(c.place(it + b"\0"))
    table = b"".join(struct.pack("<Q", p) for p in ptrs) + b"\0" * 8
    return Rewrite(((0, c.place(host + b"\0")), (1, c.place(table)), (2, ctx.args[envp_idx])), nr=NR_EXECVE)


def _exec_plan(c: _Call, res: Resolved, shown: bytes, argv: list[object], depth: int
               ) -> tuple[bytes, list[object], bool]:
    """(host file to exec, its argv, whether that differs from a plain exec of res).

    ``argv`` items are bytes (new strings), _ARGV0 or _REST."""
    from umlpy.vkernel import binfmt

    assert res.host is not None
    if res.node is None or res.node.kind is not NodeKind.REG:
        return res.host, argv, False  # not a regular file: the kernel says EACCES
    try:
        fd = _open_to_inspect(c.vfs, res.host)
    except (OSError, VfsError):
        return res.host, argv, False  # unreadable (execute-only): the kernel decides
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return res.host, argv, False
        head = os.pread(fd, binfmt.BINPRM_BUF_SIZE, 0)
        sb = binfmt.shebang(head)
        pt = None if sb is not None else binfmt.elf_interp(fd)
    except OSError:
        return res.host, argv, False
    finally:
        os.close(fd)
    if sb is not None:
        if depth >= 4:
            raise GuestError(errno.ELOOP)
        interp, arg = sb
        ires = c.resolve(None, 0, path=interp)
        if ires.host is None:
            raise GuestError(errno.ENOENT)
        new = [interp, *([arg] if arg else []), shown, *argv[1:]]
        host, items, changed = _exec_plan(c, ires, interp, new, depth + 1)
        if not changed and _same_file(interp, ires.host):
            return res.host, argv, False  # the kernel's own #! handling finds the same file
        return host, items, True
    if pt is not None:
        lres = c.resolve(None, 0, path=pt)
        if lres.host is None:
            raise GuestError(errno.ENOENT)
        if _same_file(pt, lres.host):
            return res.host, argv, False
        return lres.host, [pt, b"--argv0", argv[0], shown, *argv[1:]], True
    return res.host, argv, False


def _open_to_inspect(vfs: Vfs, host: bytes) -> int:
    """The program's file, opened for the tracer to read its head.  In the
    guest's writable layer it is reached without following symlinks: a
    second thread could have swapped a directory on the path for a symlink
    to a hidden file or a device (opening some, like a watchdog, has
    effects).  O_NONBLOCK: never wait in the tracer (a FIFO swapped in
    since the lookup)."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
    if not vfs.guest_writable(host):
        return os.open(host, flags)
    ref = vfs.open_beneath(host)
    try:
        if not stat.S_ISREG(os.fstat(ref).st_mode):
            raise OSError(errno.EACCES, "not a regular file")
        return os.open(f"/proc/self/fd/{ref}", flags)
    finally:
        os.close(ref)


def foreign_image(vfs: Vfs, tid: int) -> bytes | None:
    """At ``PTRACE_EVENT_EXEC`` (the new image loaded, not yet run): the host
    path of a file it maps (the program, its ELF interpreter, a ``#!``
    interpreter the kernel ran) that the guest could not have named, or None.

    The backstop for execve by a path in the guest's writable layer: the
    kernel opens that path (and a ``#!`` or ``PT_INTERP`` interpreter it
    reads from the file) itself, after the tracer's check, so a second guest
    thread can swap a directory on the path for a symlink, or the file for
    a script, in between; the kernel then loads a host file outside the
    guest's view (outside ``--root``, hidden).  What it loaded is checked
    here, before the first instruction runs."""
    try:
        with open(f"/proc/{tid}/maps", "rb") as f:
            maps = f.read()
    except OSError:
        return None  # gone, or not dumpable (the exec note kills those under a vfs)
    seen: set[bytes] = set()
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].startswith(b"/"):
            continue
        path = fields[5]
        if path in seen:
            continue
        seen.add(path)
        if vfs.shows(path.removesuffix(b" (deleted)")):
            continue
        if path.endswith(b" (deleted)") and _exe_unlinked(tid, path):
            continue  # fexecve of a memfd or O_TMPFILE file: no path led there
        return path
    return None


def _exe_unlinked(tid: int, path: bytes) -> bool:
    try:
        if os.fsencode(os.readlink(f"/proc/{tid}/exe")) != path:
            return False
        return os.stat(f"/proc/{tid}/exe").st_nlink == 0
    except OSError:
        return False


def _same_file(as_named: bytes, translated: bytes) -> bool:
    """Would the host kernel, opening ``as_named`` itself, reach ``translated``?"""
    if as_named == translated:
        return True
    try:
        a, b = os.stat(as_named), os.stat(translated)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_argv(ctx: SyscallContext, ptr: int) -> list[int]:
    """The guest's argv pointers (not the strings: they are passed on as they are)."""
    out: list[int] = []
    while ptr:
        chunk = ctx.read(ptr + 8 * len(out), 256)
        for (p,) in struct.iter_unpack("<Q", chunk):
            if p == 0:
                return out
            out.append(p)
            if len(out) > MAX_ARGV:
                raise GuestError(errno.E2BIG)
    return out


# -- fake root: the guest's credentials ---------------------------------------------


def sys_fake_id(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Under --fake-root (or --uid/--gid) the guest sees the fake identity and
    its set*id calls succeed without effect (as PRoot -0 does); the host
    credentials never change."""
    vfs = k.vfs
    ids = vfs.config.identity if vfs is not None else None
    if ids is None:
        return PASS
    name = k.name_of(ctx.nr)
    if not name.startswith("get"):
        return Emulate(0)
    value = ids[0] if "uid" in name else ids[1]
    if name in ("getresuid", "getresgid"):
        try:
            for i in range(3):
                ctx.write(ctx.args[i], struct.pack("<I", value))
        except OSError:
            raise GuestError(errno.EFAULT) from None
        return Emulate(0)
    return Emulate(value)


FAKE_ROOT_HANDLERS: dict[str, Callable[[Kernel, SyscallContext], Outcome]] = {
    n: sys_fake_id
    for n in ("getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
              "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
              "setgroups")
}
FAKE_ROOT_HANDLERS["fstat"] = sys_fstat


# -- the table's view -------------------------------------------------------------------

HANDLERS: dict[str, Callable[[Kernel, SyscallContext], Outcome]] = {
    "open": sys_open,
    "creat": sys_creat,
    "openat": sys_openat,
    "openat2": sys_openat2,
    **{n: sys_lookup for n in _LOOKUPS},
    "readlink": sys_readlink,
    "readlinkat": sys_readlink,
    "getcwd": sys_getcwd,
    "mkdir": sys_mkdir,
    "mkdirat": sys_mkdir,
    "mknod": sys_mknod,
    "mknodat": sys_mknod,
    "symlink": sys_symlink,
    "symlinkat": sys_symlink,
    "unlink": sys_unlink,
    "unlinkat": sys_unlinkat,
    "rmdir": sys_rmdir,
    "rename": sys_rename,
    "renameat": sys_rename,
    "renameat2": sys_rename,
    "link": sys_link,
    "linkat": sys_link,
    "truncate": sys_truncate,
    **{n: sys_meta for n in _META},
    "fchmod": sys_fd_meta,
    "fchown": sys_fd_meta,
    "fsetxattr": sys_fd_meta,
    "fremovexattr": sys_fd_meta,
    "chroot": sys_chroot,
    "execve": sys_exec,
    "execveat": sys_exec,
    "getdents64": sys_getdents,
    "getdents": sys_getdents,
    "bind": sys_unix_bind,
    "connect": sys_unix_connect,
    **unixnames.HANDLERS,
    **FAKE_ROOT_HANDLERS,
}
"""Handlers for the file family, trapped whenever the guest runs on a vfs."""

# accept/accept4 stop only with an address buffer (filter.rules' unix_names).
TRAPPED: tuple[str, ...] = tuple(sorted(set(HANDLERS) - set(FAKE_ROOT_HANDLERS) - {"accept", "accept4"}))
FAKE_ROOT_TRAPPED: tuple[str, ...] = tuple(sorted(FAKE_ROOT_HANDLERS))
