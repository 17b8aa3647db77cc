"""The guest's mount table, as /proc/PID/{mountinfo,mounts,mountstats} show it.

The host's files list the host's mounts: none of the sandbox's binds and
tmpfs, host mount points the guest cannot reach, and none of the state
directory's layout.  This module rebuilds the table the guest lives in
(proc_pid_mountinfo(5), fs/proc_namespace.c) from two inputs, with no pid
and no ptrace:

* the guest's mounts (:class:`~umlpy.vfs.mounts.MountTable`), each shown at
  its guest path with root ``/``: the guest's ``/`` (host ``/`` or
  ``--root``), ``--bind``/``--overlay``, ``--tmpfs`` (type ``tmpfs``, source
  ``tmpfs``: their directories in the state directory are never named) and
  synthetic files (``/etc/hostname``, read-only, as a container shows it);
* the host's mounts (the text of a host mountinfo file) for what a guest
  mount does not decide itself: the device number (``MAJ:MIN``, so that
  ``df FILE`` and ``findmnt -T`` match what stat(2) reports), the
  filesystem type, source and superblock options of the host filesystem a
  mount shows, and the host mounts *below* a bound tree (``/dev/pts`` under
  ``/dev``, ``/sys/fs/cgroup`` under ``/sys``, ``/proc``'s own), shown at
  the guest path that reaches them, unless a guest mount or a hidden path
  covers that path.  Nothing in the state directory is ever listed.

Per-mount flags follow access, not the host: ``ro`` for read-only mounts
(``--read-only``, ``:ro`` binds and what lies below them, synthetic files;
statfs(2) of them sets ``ST_RDONLY`` to agree), ``rw`` for copy-on-write
ones (the guest's writes succeed there), the host's own elsewhere.  Mount ids are renumbered (the guest's
root is the first, its parent an id not listed, as in a container), parents
follow the guest's tree, and the propagation fields are dropped (every
guest mount is private).  statmount(2)/listmount(2) are refused (see the
syscall table), so these files are the only way to read the table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from umlpy.vfs import paths
from umlpy.vfs.mounts import Access, Mount, MountKind, MountTable

FIRST_ID = 21  # the guest's root mount; its parent (FIRST_ID - 1) is not listed


@dataclass(frozen=True, slots=True)
class HostMount:
    """One line of a host mountinfo file (paths unescaped)."""

    dev: bytes  # b"MAJ:MIN"
    point: bytes
    opts: bytes  # per-mount options: rw/ro, nosuid, relatime...
    fstype: bytes
    source: bytes  # as the kernel escaped it
    super_opts: bytes


@dataclass(frozen=True, slots=True)
class GuestMount:
    """One mount of the guest's table, in guest terms."""

    point: bytes  # guest mount point
    dev: bytes
    root: bytes
    opts: bytes
    fstype: bytes
    source: bytes
    super_opts: bytes


_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _unescape(field: bytes) -> bytes:
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field)


def _escape(path: bytes) -> bytes:
    """As the kernel's mangle() of " \\t\\n\\\\" in seq_path."""
    out = bytearray()
    for b in path:
        if b in b" \t\n\\":
            out += b"\\%03o" % b
        else:
            out.append(b)
    return bytes(out)


def parse_host(text: bytes) -> list[HostMount]:
    """The lines of a host ``/proc/PID/mountinfo``; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        f = line.split(b" ")
        try:
            sep = f.index(b"-", 6)
        except ValueError:
            continue
        if len(f) < sep + 4:
            continue
        out.append(HostMount(f[2], _unescape(f[4]), f[5], f[sep + 1], f[sep + 2], f[sep + 3]))
    return out


def _with_access(opts: bytes, flag: bytes) -> bytes:
    rest = [o for o in opts.split(b",") if o and o not in (b"rw", b"ro")]
    return b",".join([flag, *rest])


def _holding(host: list[HostMount], path: bytes) -> HostMount | None:
    """The host mount a host path lies on: the longest mount point above it
    (the last one mounted there when several are stacked)."""
    best: HostMount | None = None
    for h in host:
        if paths.is_within(path, h.point) and (best is None or len(h.point) >= len(best.point)):
            best = h
    return best


def _dev_of(path: bytes) -> bytes | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return b"%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))


def _access_flag(m: Mount, host_opts: bytes) -> bytes:
    if m.access is Access.RO:
        return b"ro"
    if m.access is Access.COW:
        return b"rw"
    return b"ro" if host_opts.split(b",")[0] == b"ro" else b"rw"


def _own_entry(m: Mount, host: list[HostMount]) -> GuestMount | None:
    dev = _dev_of(m.host)
    h = _holding(host, m.host)
    if dev is None:
        return None
    if m.kind is MountKind.TMPFS:
        return GuestMount(m.guest, dev, b"/", b"rw,nosuid,nodev,relatime", b"tmpfs", b"tmpfs", b"rw")
    if h is None:
        return GuestMount(m.guest, dev, b"/", b"ro" if m.access is Access.RO else b"rw", b"none", b"none", b"rw")
    return GuestMount(m.guest, dev, b"/", _with_access(h.opts, _access_flag(m, h.opts)), h.fstype, h.source,
                      h.super_opts)


def guest_mounts(host_text: bytes, table: MountTable, state_dir: bytes) -> list[GuestMount]:
    """The guest's mount table, parents before children (see the module docstring)."""
    host = parse_host(host_text)
    entries: list[GuestMount] = []
    for m in table.mounts:
        if table.is_hidden(m.guest):
            continue
        own = _own_entry(m, host)
        if own is None:
            continue
        entries.append(own)
        if not m.is_dir or m.kind is MountKind.TMPFS:
            continue
        for h in host:
            if h.point == m.host or not paths.is_within(h.point, m.host) or paths.is_within(h.point, state_dir):
                continue
            gp = paths.under(m.guest, paths.relative_to(h.point, m.host))
            if table.locate(gp).mount != m or table.is_hidden(gp):
                continue
            # Below a read-only mount: read-only; else the host's flag (statvfs(2) of it says the same).
            flag = b"ro" if m.access is Access.RO else h.opts.split(b",")[0]
            entries.append(GuestMount(gp, h.dev, b"/", _with_access(h.opts, flag), h.fstype, h.source, h.super_opts))
    # A mount is listed after the one it sits on (stable: stacked mounts keep their order).
    entries.sort(key=lambda e: 0 if e.point == b"/" else e.point.count(b"/"))
    return entries


def _parents(entries: list[GuestMount]) -> list[int]:
    out = []
    for i, e in enumerate(entries):
        parent = FIRST_ID - 1
        best = -1
        for j in range(i):
            p = entries[j].point
            if paths.is_within(e.point, p) and len(p) >= best:
                parent, best = FIRST_ID + j, len(p)
        out.append(parent)
    return out


def render_mountinfo(entries: list[GuestMount]) -> bytes:
    lines = []
    for i, (e, parent) in enumerate(zip(entries, _parents(entries), strict=True)):
        lines.append(b"%d %d %s %s %s %s - %s %s %s\n" % (
            FIRST_ID + i, parent, e.dev, _escape(e.root), _escape(e.point), e.opts, e.fstype, e.source,
            e.super_opts))
    return b"".join(lines)


def _mounts_opts(e: GuestMount) -> bytes:
    """/proc/PID/mounts merges both option sets: rw/ro, the per-mount ones,
    then the superblock's (show_vfsmnt)."""
    mnt = e.opts.split(b",")
    sb = [o for o in e.super_opts.split(b",") if o not in (b"rw", b"ro")]
    return b",".join([mnt[0], *mnt[1:], *sb])


def render_mounts(entries: list[GuestMount]) -> bytes:
    return b"".join(b"%s %s %s %s 0 0\n" % (e.source, _escape(e.point), e.fstype, _mounts_opts(e)) for e in entries)


def render_mountstats(entries: list[GuestMount]) -> bytes:
    return b"".join(b"device %s mounted on %s with fstype %s\n" % (e.source, _escape(e.point), e.fstype)
                    for e in entries)
