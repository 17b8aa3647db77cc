"""Sandboxes kept on disk: their configuration, and diff/commit/discard.

A run with a virtual filesystem writes ``config.json`` into its state
directory before the guest starts, so ``umlpy diff|commit|discard ID`` can
rebuild the same mounts later and find the same layers.  The id is the
state directory's name under :func:`umlpy.sandbox.state_home`; a path also
works.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace

from umlpy.sandbox import UmlpyError, in_use, state_home
from umlpy.vfs import paths
from umlpy.vfs.changes import Change, ChangeKind, CommitResult, make_removable
from umlpy.vfs.mounts import Access, BindSpec
from umlpy.vfs.vfs import Vfs, VfsConfig

CONFIG = "config.json"
EXIT_UNKNOWN = 2


def save(cfg: VfsConfig, argv: list[str]) -> None:
    doc = {
        "argv": argv,
        "started": time.time(),
        "root": os.fsdecode(cfg.root),
        "root_access": cfg.root_access.value,
        "binds": [[os.fsdecode(b.host), os.fsdecode(b.guest), b.access.value] for b in cfg.binds],
        "tmpfs": [os.fsdecode(t) for t in cfg.tmpfs],
        "hidden": [os.fsdecode(h) for h in cfg.hidden],
        "fake_root": cfg.fake_root,
        "fake_uid": cfg.fake_uid,
        "fake_gid": cfg.fake_gid,
    }
    with open(os.path.join(cfg.state_dir, CONFIG.encode()), "w") as f:
        json.dump(doc, f, indent=1)


@dataclass(frozen=True, slots=True)
class Kept:
    sid: str
    path: str
    argv: list[str]
    started: float
    config: VfsConfig

    def open(self) -> Vfs:
        # Review needs only the copy-on-write layers: a read-write or
        # read-only bind whose host path has gone since does not matter.
        cfg = replace(self.config, binds=tuple(
            b for b in self.config.binds if b.access is Access.COW or os.path.exists(b.host)
        ))
        try:
            return Vfs(cfg)
        except (OSError, ValueError) as e:
            raise UmlpyError(f"umlpy: sandbox {self.sid}: cannot open: {e}", EXIT_UNKNOWN) from None


def find(sid: str) -> Kept:
    """The kept sandbox named ``sid`` (an id or a state directory path)."""
    path = sid if "/" in sid else os.path.join(state_home(), sid)
    try:
        with open(os.path.join(path, CONFIG)) as f:
            doc = json.load(f)
        cfg = VfsConfig(
            state_dir=os.fsencode(path),
            root=os.fsencode(doc["root"]),
            root_access=Access(doc["root_access"]),
            binds=tuple(BindSpec(os.fsencode(h), os.fsencode(g), Access(a)) for h, g, a in doc["binds"]),
            tmpfs=tuple(os.fsencode(t) for t in doc["tmpfs"]),
            hidden=tuple(os.fsencode(h) for h in doc["hidden"]),
            fake_root=bool(doc["fake_root"]),
            fake_uid=doc.get("fake_uid"),
            fake_gid=doc.get("fake_gid"),
        )
    except FileNotFoundError:
        raise UmlpyError(f"umlpy: no sandbox {sid!r} (see 'umlpy list')", EXIT_UNKNOWN) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UmlpyError(f"umlpy: sandbox {sid!r}: unreadable configuration: {e}", EXIT_UNKNOWN) from None
    return Kept(os.path.basename(path.rstrip("/")), path, list(doc.get("argv", [])), float(doc.get("started", 0)), cfg)


def kept() -> list[Kept]:
    home = state_home()
    out = []
    for name in sorted(os.listdir(home)):
        if os.path.exists(os.path.join(home, name, CONFIG)):
            try:
                out.append(find(name))
            except UmlpyError:
                continue
    return out


def changes(k: Kept) -> list[Change]:
    vfs = k.open()
    try:
        return vfs.changes()
    finally:
        vfs.close()


_MARK = {ChangeKind.CREATED: "A", ChangeKind.MODIFIED: "M", ChangeKind.DELETED: "D"}


def shown(path: bytes) -> str:
    """A guest-chosen path as one safe line of text (as ``ls -b`` does):
    backslash, control characters (a terminal escape could erase the line
    above: an unseen change), non-printable ones and bytes that are not
    UTF-8 are written as backslash escapes."""
    out = []
    for ch in path.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{o - 0xDC00:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)


def format_change(c: Change) -> str:
    what = "metadata" if c.meta_only else f"{c.node.value}, {c.size} bytes"
    if c.kind is ChangeKind.MODIFIED and c.old_size is not None and not c.meta_only:
        what += f" (was {c.old_size})"
    return f"{_MARK[c.kind]} {shown(c.path)}  [{what}]"


def commit(k: Kept, only: list[str]) -> CommitResult:
    """Apply the changes beneath ``only`` (all if empty) to the host."""
    vfs = k.open()
    try:
        sel = None
        if only:
            roots = [paths.normalize(os.fsencode(os.path.abspath(p))) for p in only]
            sel = [c.path for c in vfs.changes() if any(paths.is_within(c.path, r) for r in roots)]
        return vfs.commit(sel)
    finally:
        vfs.close()


def discard(k: Kept) -> None:
    """Forget the sandbox: its whole state directory goes."""
    remove(k.path)


def remove(path: str) -> None:
    make_removable(path)
    shutil.rmtree(path, ignore_errors=True)


def _du(path: str) -> int:
    """Bytes a state directory takes on disk (hard links counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def gc(*, older_than: float | None, max_size: int | None, dry_run: bool = False,
       now: float | None = None) -> list[tuple[str, int]]:
    """Remove kept sandboxes: those started more than ``older_than`` seconds ago,
    then the oldest until the rest take at most ``max_size`` bytes.  A sandbox a
    run holds (its lock) is never removed, nor counted out.  Directories under
    the state home without a configuration (a run that never started) go by
    their modification time.  Returns (id, bytes) of what was (or would be) removed.
    """
    home = state_home()
    now = time.time() if now is None else now
    entries: list[tuple[float, str, str, int]] = []  # (started, sid, path, size)
    for name in os.listdir(home):
        path = os.path.join(home, name)
        if not os.path.isdir(path) or os.path.islink(path) or in_use(path):
            continue
        try:
            with open(os.path.join(path, CONFIG)) as f:
                started = float(json.load(f).get("started", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            try:
                started = os.lstat(path).st_mtime
            except OSError:
                continue
        entries.append((started, name, path, _du(path)))
    entries.sort()
    doomed: list[tuple[float, str, str, int]] = []
    if older_than is not None:
        doomed = [e for e in entries if now - e[0] > older_than]
    if max_size is not None:
        rest = [e for e in entries if e not in doomed]
        total = sum(e[3] for e in rest)
        for e in rest:  # oldest first
            if total <= max_size:
                break
            doomed.append(e)
            total -= e[3]
    out = []
    for _, sid, path, size in doomed:
        if not dry_run:
            if in_use(path):
                continue
            remove(path)
        out.append((sid, size))
    return out
