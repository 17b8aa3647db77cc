"""Landlock: the kernel-enforced backstop applied to the guest before exec.

A ptrace sandbox checks arguments in user space; a guest that wins a race
against the tracer (or finds a call the tracer gets wrong) would act with
the full rights of the user.  Landlock (landlock(7)) lets an unprivileged
process restrict itself and all its descendants, irrevocably:

* **scopes** (ABI 6): signals and abstract unix sockets cannot reach
  processes outside the guest's domain — umlpy itself included;
* **ptrace** (any ABI): a landlocked process cannot ptrace, or open
  /proc/PID/mem of, a process outside its domain — the tracer included;
* **filesystem**: writes only beneath the given paths (``--write``); and
  when host writes are otherwise unlimited, still never into /proc — a
  write to /proc/PID/mem ignores page protections and seals, so it could
  change the arguments umlpy hands the kernel from its read-only scratch
  page.  That is done by granting writes beneath every top-level entry of
  ``/`` except ``proc`` (Landlock rules are allow-lists).

The ruleset is built in the parent; the child only calls
landlock_restrict_self on the inherited fd (after NO_NEW_PRIVS).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass

from umlpy.tracer import _ffi

CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_WRITE_V1 = (
    FS_WRITE_FILE
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_CHAR
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SOCK
    | FS_MAKE_FIFO
    | FS_MAKE_BLOCK
    | FS_MAKE_SYM
)
_FILE_ONLY = FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV | FS_READ_FILE | FS_EXECUTE
# Handled when some paths must be unreadable.  Directory listing (READ_DIR)
# stays unhandled: a rule on an ancestor would also grant it beneath, where
# the hidden path is, and without it the ancestors could not be listed.
_READ = FS_READ_FILE | FS_EXECUTE

# Device nodes any program may write without that being a change to the host.
DEVICE_WRITABLE = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts", "/dev/shm")


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 where Landlock is absent or disabled."""
    try:
        return _ffi.struct_syscall(_ffi.NR_LANDLOCK_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    except OSError:
        return 0


@dataclass(frozen=True, slots=True)
class Applied:
    abi: int
    scoped: bool
    fs_writes_limited: bool
    unreadable: int = 0  # paths whose files the kernel refuses to read or execute


class Ruleset:
    """A ruleset fd ready for :meth:`restrict_self` in the child."""

    def __init__(
        self, *, writable: Iterable[str] | None, devices: Iterable[str] = DEVICE_WRITABLE,
        unreadable: Iterable[str] = (),
    ) -> None:
        self.abi = abi_version()
        self.fd = -1
        self.applied = Applied(0, False, False)
        if self.abi == 0:
            return
        write_mask = _WRITE_V1
        if self.abi >= 2:
            write_mask |= FS_REFER
        if self.abi >= 3:
            write_mask |= FS_TRUNCATE
        if self.abi >= 5:
            write_mask |= FS_IOCTL_DEV
        handled_fs = write_mask  # always: /proc is never writable
        hidden = sorted({os.path.realpath(p) for p in unreadable if os.path.lexists(p)} - {"/"})
        if hidden:
            handled_fs |= _READ
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if self.abi >= 6 else 0
        attr = _ffi.landlock_ruleset_attr(handled_fs, 0, scoped)
        # Older ABIs know a shorter struct; the trailing fields are zero there.
        self.fd = _ffi.struct_syscall(_ffi.NR_LANDLOCK_CREATE_RULESET, attr, _attr_size(self.abi), 0)
        # Handled but never granted: device nodes open raw host devices.
        granted = write_mask & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK)
        if writable is not None:
            for path in [*writable, *devices]:
                self._allow(path, granted)
        else:
            for name in _top_level_except_proc():
                self._allow("/" + name, granted)
        if hidden:
            self._readable_except(hidden)
        self.applied = Applied(self.abi, bool(scoped), writable is not None, len(hidden))

    def _readable_except(self, hidden: list[str]) -> None:
        """Grant reading beneath everything but ``hidden``: every sibling of
        every hidden path and of its ancestors gets a rule.  Entries created
        later directly inside those ancestors are not covered (unreadable)."""
        partial = {os.path.dirname(h) for h in hidden}
        for h in hidden:
            d = os.path.dirname(h)
            while d != "/":
                d = os.path.dirname(d)
                partial.add(d)
        blocked = set(hidden)

        def walk(d: str) -> None:
            try:
                with os.scandir(d) as it:
                    entries = [(e.path, e.is_symlink()) for e in it]
            except OSError:
                return
            for p, is_link in entries:
                # A symlink needs no right of its own (its target is covered
                # where it lies); a rule through it could grant the hidden path.
                if p in blocked or is_link:
                    continue
                if p in partial:
                    walk(p)
                else:
                    self._allow(p, _READ)

        walk("/")

    def _allow(self, path: str, write_mask: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # a missing path needs no rule
        try:
            is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
            access = write_mask if is_dir else write_mask & _FILE_ONLY
            rule = _ffi.landlock_path_beneath_attr(access, fd)
            _ffi.struct_syscall(_ffi.NR_LANDLOCK_ADD_RULE, self.fd, RULE_PATH_BENEATH, rule, 0)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
        finally:
            os.close(fd)

    def restrict_self(self) -> None:
        """In the child, after NO_NEW_PRIVS."""
        if self.fd >= 0:
            _ffi.raw_syscall(_ffi.NR_LANDLOCK_RESTRICT_SELF, self.fd, 0)
            os.close(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _top_level_except_proc() -> list[str]:
    try:
        return [n for n in os.listdir("/") if n != "proc"]
    except OSError:
        return []


def _attr_size(abi: int) -> int:
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8
