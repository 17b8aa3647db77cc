"""The mount table: guest path prefixes <-> host directories, both ways.

Like the kernel's mount tree (and PRoot's bindings), but flat: each
:class:`Mount` maps one canonical guest path to one host path.  The longest
guest prefix wins; at equal prefixes the mount added last wins, as a later
mount(2) on the same point shadows the earlier one.

Kinds:

* ``ROOT``: the guest's ``/`` (``--root DIR``, default host ``/``),
  copy-on-write by default (see overlay.py).
* ``BIND``: ``--bind HOST[:GUEST][:ro|rw|cow]``.  ``rw`` (the default, as
  ``mount --bind``) writes the host directly: the user asked for it.
* ``TMPFS``: a guest directory backed by a fresh, empty directory in the
  state directory; writes go there directly and are never committed.
* ``SYNTHETIC``: one guest file whose content umlpy chose (``/etc/hostname``);
  materialized read-only in the state directory so the host kernel can serve
  reads, writes are EROFS.

Hidden paths are ENOENT for lookups and absent from directory listings
(:meth:`MountTable.keep_entry`).

Host paths of mounts are canonicalized with ``realpath`` once, when added, so
that :meth:`MountTable.to_guest` can compare the canonical host paths the
kernel reports (``/proc/PID/cwd``, ``/proc/PID/fd/N``).  A host path that is
not below any mount, or whose guest translation does not map back to the same
host path (shadowed by a longer mount, hidden), is never shown to the guest:
``to_guest`` returns None (STYLE habit 8).
"""

from __future__ import annotations

import enum
import logging
import os
import tempfile
from dataclasses import dataclass

from umlpy.vfs import paths

log = logging.getLogger(__name__)


class MountKind(enum.Enum):
    ROOT = "root"
    BIND = "bind"
    TMPFS = "tmpfs"
    SYNTHETIC = "synthetic"


class Access(enum.Enum):
    """What a write to the mount does."""

    RW = "rw"  # goes to the host path directly
    RO = "ro"  # EROFS
    COW = "cow"  # goes to the copy-on-write upper layer


@dataclass(frozen=True, slots=True)
class Mount:
    guest: bytes  # canonical absolute guest path of the mount point
    host: bytes  # canonical absolute host path it shows
    kind: MountKind
    access: Access

    @property
    def is_dir(self) -> bool:
        return self.kind is not MountKind.SYNTHETIC


@dataclass(frozen=True, slots=True)
class Location:
    """Where a canonical guest path lands: a mount and the path below it."""

    mount: Mount
    rel: bytes  # b"" for the mount point itself, else "a/b" (no leading slash)

    @property
    def host(self) -> bytes:
        return paths.under(self.mount.host, self.rel) if self.rel else self.mount.host


@dataclass(frozen=True, slots=True)
class BindSpec:
    host: bytes
    guest: bytes
    access: Access


def parse_bind(spec: str) -> BindSpec:
    """Parse the CLI syntax ``HOST[:GUEST][:ro|rw|cow]``.

    ``HOST`` may be relative (to the current directory); ``GUEST`` defaults to
    ``HOST`` and must be absolute.  Paths containing ``:`` cannot be bound
    with this syntax.  Raises ``ValueError`` with a one-line message.
    """
    if not spec:
        raise ValueError("empty bind specification (expected HOST[:GUEST][:ro])")
    fields = spec.split(":")
    access = Access.RW
    if len(fields) > 1 and fields[-1] in {a.value for a in Access}:
        access = Access(fields.pop())
    if len(fields) > 2:
        raise ValueError(f"bad bind {spec!r}: expected HOST[:GUEST][:ro|rw|cow] (no ':' inside paths)")
    host = fields[0]
    if not host:
        raise ValueError(f"bad bind {spec!r}: empty host path")
    guest = fields[1] if len(fields) == 2 else os.path.abspath(host)
    if not guest:
        raise ValueError(f"bad bind {spec!r}: empty guest path")
    if not guest.startswith("/"):
        raise ValueError(f"bad bind {spec!r}: guest path {guest!r} must be absolute")
    if "\0" in spec:
        raise ValueError(f"bad bind {spec!r}: NUL in path")
    return BindSpec(os.fsencode(os.path.abspath(host)), paths.normalize(os.fsencode(guest)), access)


def _canonical_host(host: bytes) -> bytes:
    return os.path.realpath(host)


class MountTable:
    """Guest <-> host translation through a list of mounts."""

    def __init__(self, root: bytes = b"/", *, state_dir: bytes, root_access: Access = Access.COW) -> None:
        self._state_dir = _canonical_host(state_dir)
        self._mounts: list[Mount] = [Mount(b"/", _canonical_host(root), MountKind.ROOT, root_access)]
        self._hidden: list[bytes] = []
        self._synthetic_count = 0

    # --- building -----------------------------------------------------------------

    @property
    def mounts(self) -> tuple[Mount, ...]:
        return tuple(self._mounts)

    @property
    def root(self) -> Mount:
        return self._mounts[0]

    def add_bind(self, spec: BindSpec) -> Mount:
        host = _canonical_host(spec.host)
        if not os.path.exists(host):  # a directory, a file, or a socket to reach (docker.sock)
            raise ValueError(f"bind source {os.fsdecode(spec.host)!r} does not exist")
        return self._add(Mount(paths.normalize(spec.guest), host, MountKind.BIND, spec.access))

    def add_tmpfs(self, guest: bytes) -> Mount:
        """A fresh empty directory under ``state_dir/tmpfs`` mounted at ``guest``."""
        base = os.path.join(self._state_dir, b"tmpfs")
        os.makedirs(base, mode=0o700, exist_ok=True)
        host = tempfile.mkdtemp(dir=base)
        os.chmod(host, 0o1777)
        return self._add(Mount(paths.normalize(guest), host, MountKind.TMPFS, Access.RW))

    def add_synthetic(self, guest: bytes, content: bytes) -> Mount:
        """A read-only guest file with ``content`` (materialized in ``state_dir/synthetic``)."""
        base = os.path.join(self._state_dir, b"synthetic")
        os.makedirs(base, mode=0o700, exist_ok=True)
        self._synthetic_count += 1
        host = os.path.join(base, b"%d" % self._synthetic_count)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chmod(host, 0o444)
        return self._add(Mount(paths.normalize(guest), host, MountKind.SYNTHETIC, Access.RO))

    def hide(self, guest: bytes) -> None:
        """Make ``guest`` and everything below it ENOENT."""
        g = paths.normalize(guest)
        if g == b"/":
            raise ValueError("cannot hide the guest root")
        self._hidden.append(g)

    def _add(self, m: Mount) -> Mount:
        log.debug("mount %r -> %r (%s, %s)", m.guest, m.host, m.kind.value, m.access.value)
        self._mounts.append(m)
        return m

    # --- guest -> host ------------------------------------------------------------

    def locate(self, guest: bytes) -> Location:
        """The mount a canonical absolute guest path lands on (longest prefix)."""
        best = self._mounts[0]
        for m in self._mounts:
            if paths.is_within(guest, m.guest) and len(m.guest) >= len(best.guest):
                best = m
        return Location(best, paths.relative_to(guest, best.guest))

    def is_hidden(self, guest: bytes) -> bool:
        return any(paths.is_within(guest, h) for h in self._hidden)

    def has_hidden_child(self, guest_dir: bytes) -> bool:
        return any(paths.split(h)[0] == guest_dir for h in self._hidden)

    def keep_entry(self, guest_dir: bytes, name: bytes) -> bool:
        """Predicate for directory listings: False for hidden entries."""
        return not self.is_hidden(paths.join(guest_dir, name))

    def mountpoints_in(self, guest_dir: bytes) -> dict[bytes, bool]:
        """Names directly inside ``guest_dir`` that are mount points or lead to
        one (so must be listed even if the underlying directory lacks them),
        mapped to True when the entry is a directory."""
        out: dict[bytes, bool] = {}
        for m in self._mounts[1:]:
            if m.guest != guest_dir and paths.is_within(m.guest, guest_dir):
                rest = paths.relative_to(m.guest, guest_dir)
                name, sep, _ = rest.partition(b"/")
                out[name] = out.get(name, False) or bool(sep) or m.is_dir
        return {n: d for n, d in out.items() if self.keep_entry(guest_dir, n)}

    def is_implied_dir(self, guest: bytes) -> bool:
        """True if a mount lies strictly below ``guest`` (its ancestors must exist)."""
        return any(m.guest != guest and paths.is_within(m.guest, guest) for m in self._mounts[1:])

    # --- host -> guest ------------------------------------------------------------

    def to_guest(self, host: bytes) -> bytes | None:
        """The guest path showing canonical absolute ``host``, or None.

        Tries mounts by longest host prefix and accepts a candidate only if it
        maps back to the same mount and is not hidden.
        """
        if not host.startswith(b"/"):
            return None
        host = paths.normalize(host)
        if paths.is_within(host, self._state_dir):
            cands = [m for m in self._mounts if m.kind in (MountKind.TMPFS, MountKind.SYNTHETIC)]
        else:
            cands = list(self._mounts)
        cands = [m for m in cands if paths.is_within(host, m.host)]
        cands.sort(key=lambda m: len(m.host), reverse=True)
        for m in cands:
            if m.kind is MountKind.SYNTHETIC and host != m.host:
                continue
            guest = paths.under(m.guest, paths.relative_to(host, m.host))
            if self.locate(guest).mount == m and not self.is_hidden(guest):
                return guest
        return None
