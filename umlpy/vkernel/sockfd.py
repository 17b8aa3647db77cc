"""The tracer's hold on a guest socket: its duplicate of the fd, the family,
and accept's address rewritten at the call's exit.  Shared by the network
policy (umlpy.vkernel.net) and the vfs's unix names (umlpy.vkernel.unixnames)."""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
from collections.abc import Callable

from umlpy.tracer import _ffi, memory
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, GuestError, Outcome, Rewrite
from umlpy.vkernel.state import Kernel

SO_DOMAIN = 39

log = logging.getLogger("umlpy.net")


def grab(k: Kernel, tid: int, fd: int) -> int:
    """The tracer's duplicate of the guest's ``fd``; GuestError as the call would fail."""
    if fd < 0 or fd > 0x7FFFFFFF:
        raise GuestError(errno.EBADF)
    try:
        return _ffi.grab_fd(tid, fd, k.tgid_of(tid))
    except OSError as e:
        raise GuestError(e.errno or errno.EBADF) from None


def family(dup: int) -> int:
    """The address family of the tracer's socket ``dup``; GuestError (ENOTSOCK) if it is none."""
    try:
        return int.from_bytes(_ffi.getsockopt_raw(dup, socket.SOL_SOCKET, SO_DOMAIN, 4), "little")
    except OSError as e:
        raise GuestError(e.errno or errno.ENOTSOCK) from None


def rewrite_accepted(k: Kernel, ctx: SyscallContext, shown: Callable[[int], bytes | None]) -> Outcome:
    """accept/accept4 runs unchanged; at its exit the address written to the
    guest is ``shown(new socket)`` (the tracer's duplicate; None keeps the
    host's answer), truncated to the ``*addrlen`` read at entry, as
    move_addr_to_user does."""
    addr, lenp = ctx.args[1], ctx.args[2]
    try:
        (ulen,) = struct.unpack("=i", memory.read(ctx.tid, lenp, 4))
    except (OSError, OverflowError, struct.error):
        return PASS  # the kernel fails it (EFAULT) after accepting, as it would natively
    tid, pid = ctx.tid, k.tgid_of(ctx.tid)

    def accepted(ret: int) -> None:
        if ret < 0 or ulen < 0:
            return
        try:
            new = _ffi.grab_fd(tid, ret, pid)
        except OSError:
            return
        try:
            raw = shown(new)
        finally:
            os.close(new)
        if raw is None:
            return
        try:
            if ulen:
                memory.write(tid, addr, raw[:ulen])
            memory.write(tid, lenp, struct.pack("=i", len(raw)))
        except (OSError, OverflowError):
            log.debug("accept: tid %d unmapped its address buffer meanwhile", tid)

    return Rewrite((), accepted)
