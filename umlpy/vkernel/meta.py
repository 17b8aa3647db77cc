"""Metadata changes under ``--read-only``/``--write``: emulated by the tracer.

Landlock (ABI 7) has no right for chmod, chown, utimes or xattrs, and fchmod
and friends work through read-only fds, so a guest limited to writing
beneath DIR could still chmod u+s, chown or retime any host file it can
name.  When host writes are limited, these calls stop and the tracer does
them itself, race-free:

1. it takes its *own* reference to the target: the guest's fd via
   pidfd_getfd, or an O_PATH open of the path string it read once from guest
   memory, relative to the guest's cwd (/proc/TID/cwd) or dirfd (grabbed) —
   what a racing thread changes afterwards no longer matters;
2. it reads the canonical path of that reference (/proc/self/fd/N) and
   refuses (EPERM) anything outside the writable paths;
3. it applies the change through that same reference, so the object
   checked is the object changed.

The guest sees the call's result (or the host's errno) as if it had run it:
the tracer has the same credentials.  Refusals are reported.

Follows chmod(2), chown(2), utimensat(2), utime(2), setxattr(2).
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.args import AT_FDCWD, open_guest_path, s32
from umlpy.vkernel.outcome import PASS, Deny, Emulate, GuestError, Outcome
from umlpy.vkernel.state import Kernel

AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
_XATTR_MAX = 65536

# name -> (dirfd arg or None, path arg or None, fd arg or None, nofollow by default)
_SHAPE: dict[str, tuple[int | None, int | None, int | None, bool]] = {
    "chmod": (None, 0, None, False),
    "fchmod": (None, None, 0, False),
    "fchmodat": (0, 1, None, False),
    "fchmodat2": (0, 1, None, False),
    "chown": (None, 0, None, False),
    "lchown": (None, 0, None, True),
    "fchown": (None, None, 0, False),
    "fchownat": (0, 1, None, False),
    "utime": (None, 0, None, False),
    "utimes": (None, 0, None, False),
    "futimesat": (0, 1, None, False),
    "utimensat": (0, 1, None, False),
    "setxattr": (None, 0, None, False),
    "lsetxattr": (None, 0, None, True),
    "fsetxattr": (None, None, 0, False),
    "removexattr": (None, 0, None, False),
    "lremovexattr": (None, 0, None, True),
    "fremovexattr": (None, None, 0, False),
}
_FLAGS_ARG = {"fchmodat2": 3, "fchownat": 4, "utimensat": 3}
REFUSED_WHEN_LIMITED = ("setxattrat", "removexattrat", "file_setattr")
TRAPPED_WHEN_LIMITED = (*_SHAPE, *REFUSED_WHEN_LIMITED)



def sys_metadata(k: Kernel, ctx: SyscallContext) -> Outcome:
    """chmod/chown/utime/xattr families when host writes are limited."""
    name = k.name_of(ctx.nr)
    if k.writable is None:
        return PASS  # stopped for another reason (tracing): host writes are not limited
    if name in REFUSED_WHEN_LIMITED:
        return Deny(errno.EPERM, f"{name} under --read-only/--write")
    dirfd_arg, path_arg, fd_arg, nofollow = _SHAPE[name]
    a = ctx.args
    flags = a[_FLAGS_ARG[name]] & 0xFFFFFFFF if name in _FLAGS_ARG else 0
    if flags & AT_SYMLINK_NOFOLLOW:
        nofollow = True
    tgid = k.tgid_of(ctx.tid)
    ref = _reference(ctx, tgid, dirfd_arg, path_arg, fd_arg, nofollow=nofollow, flags=flags, name=name)
    try:
        where = os.readlink(f"/proc/self/fd/{ref}")
        if not _beneath(where, k.writable):
            return Deny(errno.EPERM, f"{name} of {where}: outside the writable paths")
        apply(name, ctx, ref, nofollow)
    except OSError as e:
        raise GuestError(e.errno or errno.EPERM) from None
    finally:
        os.close(ref)
    return Emulate(0)


def _reference(
    ctx: SyscallContext,
    tgid: int,
    dirfd_arg: int | None,
    path_arg: int | None,
    fd_arg: int | None,
    *,
    nofollow: bool,
    flags: int,
    name: str,
) -> int:
    """An fd owned by the tracer for the object the call names."""
    try:
        if fd_arg is not None:
            return _ffi.grab_fd(ctx.tid, s32(ctx.args[fd_arg]), tgid)
        assert path_arg is not None
        ptr = ctx.args[path_arg]
        if name == "utimensat" and ptr == 0:  # utimensat(fd, NULL, …) is futimens(fd)
            return _ffi.grab_fd(ctx.tid, s32(ctx.args[0]), tgid)
        path = ctx.read_cstring(ptr)
        if not path and not flags & AT_EMPTY_PATH:
            raise GuestError(errno.ENOENT)
        dirfd = s32(ctx.args[dirfd_arg]) if dirfd_arg is not None else AT_FDCWD
        return open_guest_path(ctx.tid, tgid, dirfd, path, nofollow=nofollow)
    except OSError as e:
        raise GuestError(e.errno or errno.EBADF) from None


def _beneath(path: str, roots: tuple[str, ...]) -> bool:
    if not path.startswith("/") or path.endswith(" (deleted)"):
        return False
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def apply(name: str, ctx: SyscallContext, ref: int, nofollow: bool) -> None:
    a = ctx.args
    st = os.fstat(ref) if not nofollow else os.stat(f"/proc/self/fd/{ref}", follow_symlinks=False)
    is_link = stat.S_ISLNK(st.st_mode)
    if name.startswith(("chmod", "fchmod")):
        mode = a[{"chmod": 1, "fchmod": 1, "fchmodat": 2, "fchmodat2": 2}[name]] & 0o7777
        if is_link:
            raise OSError(errno.EOPNOTSUPP, "chmod of a symlink")
        os.chmod(f"/proc/self/fd/{ref}", mode)
    elif "chown" in name:
        i = {"chown": 1, "lchown": 1, "fchown": 1, "fchownat": 2}[name]
        _ffi.fchownat_empty(ref, s32(a[i]), s32(a[i + 1]))
    elif name in ("utime", "utimes", "futimesat", "utimensat"):
        _ffi.utimensat_empty(ref, _times(name, ctx))
    elif name.endswith(("setxattr", "removexattr")):
        if is_link:
            raise OSError(errno.EPERM, "xattrs on symlinks")
        xname = ctx.read_cstring(a[1], 255)
        target = f"/proc/self/fd/{ref}"
        if name.endswith("setxattr"):
            size = a[3]
            if size > _XATTR_MAX:
                raise OSError(errno.E2BIG, "xattr too large")
            value = ctx.read(a[2], size) if size else b""
            os.setxattr(target, xname, value, s32(a[4]))
        else:
            os.removexattr(target, xname)


def _times(name: str, ctx: SyscallContext) -> bytes | None:
    """The call's times as struct timespec[2] bytes (None: both now)."""
    a = ctx.args
    ptr = a[2] if name in ("futimesat", "utimensat") else a[1]
    if ptr == 0:
        return None
    if name == "utimensat":
        return ctx.read(ptr, 32)
    if name == "utime":  # struct utimbuf {time_t actime, modtime}
        at, mt = struct.unpack("<qq", ctx.read(ptr, 16))
        return struct.pack("<qqqq", at, 0, mt, 0)
    sa, ua, sm, um = struct.unpack("<qqqq", ctx.read(ptr, 32))  # struct timeval[2]
    if not (0 <= ua < 1_000_000 and 0 <= um < 1_000_000):
        raise OSError(errno.EINVAL, "bad timeval")
    return struct.pack("<qqqq", sa, ua * 1000, sm, um * 1000)
