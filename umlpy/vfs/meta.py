"""Overlay metadata kept beside (never inside) the upper layer.

The guest can write anything in the upper directory (its files land there),
so nothing umlpy must trust may live there.  Whiteouts, opaque-directory marks
and fake-root ownership/mode are therefore kept in the state directory, in
``meta.jsonl``, an append-only journal replayed into memory on load:

* overlayfs marks a deletion with a 0/0 character device and an opaque
  directory with ``trusted.overlay.opaque``; both need privileges umlpy may
  not have, and both would sit where the guest can forge or remove them.
* Every lookup of every path component consults the whiteout set, so it is
  an in-memory ``set`` (O(1)); the journal only makes it durable for
  ``umlpy diff/commit`` after the run.  A torn last line (crash mid-append)
  is ignored on load.

Records, one JSON array per line, paths relative to the layer root as text
decoded with ``surrogateescape`` (a bijection with the bytes):
``["W", p]`` whiteout, ``["w", p]`` drop whiteouts at and below ``p``,
``["O", p]`` opaque, ``["o", p]`` not opaque, ``["F", p, uid, gid, mode]``
fake metadata (null = unchanged), ``["f", p]`` drop fake metadata at and
below ``p``, ``["M", old, new]`` move fake metadata of a subtree (rename).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from umlpy.vfs import paths

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FakeMeta:
    """Ownership and mode the guest set under ``--fake-root`` (None: host's)."""

    uid: int | None = None
    gid: int | None = None
    mode: int | None = None  # permission bits (07777) only


def _txt(p: bytes) -> str:
    return p.decode("utf-8", "surrogateescape")


def _bin(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _subtree(p: bytes, rel: bytes) -> bool:
    return not rel or p == rel or p.startswith(rel + b"/")


def _parents(p: bytes) -> Iterator[bytes]:
    """b"a/b/c" -> b"a/b", b"a", b"" (the layer root)."""
    while p:
        i = p.rfind(b"/")
        p = p[:i] if i >= 0 else b""
        yield p


class MetaStore:
    """Whiteouts, opaque marks and fake metadata of one overlay."""

    def __init__(self, journal: bytes) -> None:
        self._path = journal
        self.whiteouts: set[bytes] = set()
        # Index of the whiteouts by directory, so that "any below?" and "drop
        # at and below" cost the depth, not the number of whiteouts (rm -rf
        # of a big host tree makes hundreds of thousands of them):
        # _below[d] counts whiteouts strictly below d; _kids[d] holds d's
        # children that are whiteouts or have whiteouts below them.
        self._below: dict[bytes, int] = {}
        self._kids: dict[bytes, set[bytes]] = {}
        self.opaque: set[bytes] = set()
        self.fake: dict[bytes, FakeMeta] = {}
        if os.path.exists(journal):
            self._replay()
        self._fh = open(journal, "a", encoding="ascii")  # noqa: SIM115 - held for the store's life

    def close(self) -> None:
        self._fh.close()

    def _replay(self) -> None:
        with open(self._path, encoding="ascii") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    rec = json.loads(line)
                except ValueError:
                    log.warning("%s:%d: ignoring torn journal line", os.fsdecode(self._path), n)
                    continue
                self._apply(rec)

    def _log(self, *rec: object) -> None:
        self._apply(list(rec))
        self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()

    def _apply(self, rec: list[object]) -> None:
        op = rec[0]
        p = _bin(str(rec[1]))
        if op == "W":
            self._wo_add(p)
        elif op == "w":
            for w in self._wo_subtree(p):
                self._wo_remove(w)
        elif op == "O":
            self.opaque.add(p)
        elif op == "o":
            self.opaque.discard(p)
        elif op == "F":
            uid, gid, mode = (None if v is None else int(str(v)) for v in rec[2:5])
            old = self.fake.get(p, FakeMeta())
            self.fake[p] = replace(
                old,
                uid=old.uid if uid is None else uid,
                gid=old.gid if gid is None else gid,
                mode=old.mode if mode is None else mode,
            )
        elif op == "f":
            self.fake = {k: v for k, v in self.fake.items() if not _subtree(k, p)}
        elif op == "M":
            new = _bin(str(rec[2]))
            moved = {}
            for k, v in self.fake.items():
                if _subtree(k, p):
                    moved[new + k[len(p) :]] = v
                elif not _subtree(k, new):
                    moved[k] = v
            self.fake = moved

    # --- whiteouts ---------------------------------------------------------------

    def _wo_add(self, p: bytes) -> None:
        if p in self.whiteouts:
            return
        self.whiteouts.add(p)
        child = p
        for a in _parents(p):
            self._below[a] = self._below.get(a, 0) + 1
            self._kids.setdefault(a, set()).add(child)
            child = a

    def _wo_remove(self, p: bytes) -> None:
        self.whiteouts.discard(p)
        child = p
        for a in _parents(p):
            n = self._below[a] - 1
            if n:
                self._below[a] = n
            else:
                del self._below[a]
            if child not in self.whiteouts and child not in self._below:
                kids = self._kids[a]
                kids.discard(child)
                if not kids:
                    del self._kids[a]
            child = a

    def _wo_subtree(self, p: bytes) -> list[bytes]:
        """The whiteouts at and below ``p``."""
        out = [p] if p in self.whiteouts else []
        stack = [p]
        while stack:
            for c in self._kids.get(stack.pop(), ()):
                if c in self.whiteouts:
                    out.append(c)
                if c in self._below:
                    stack.append(c)
        return out

    def add_whiteout(self, rel: bytes) -> None:
        if rel not in self.whiteouts:
            self._log("W", _txt(rel))

    def drop_whiteouts(self, rel: bytes) -> None:
        """Forget whiteouts at and below ``rel``."""
        if rel in self.whiteouts or rel in self._below:
            self._log("w", _txt(rel))

    def hidden_by_whiteout(self, rel: bytes) -> bool:
        """True if ``rel`` or one of its ancestors is whited out."""
        w = self.whiteouts
        if not w:
            return False
        return rel in w or any(a in w for a in paths.ancestors(rel) if a)

    def whiteouts_below(self, rel: bytes) -> Iterator[bytes]:
        return (w for w in self._wo_subtree(rel) if w != rel)

    def has_whiteouts_below(self, rel: bytes) -> bool:
        return rel in self._below

    # --- opaque directories --------------------------------------------------------

    def set_opaque(self, rel: bytes, *, on: bool = True) -> None:
        if on and rel not in self.opaque:
            self._log("O", _txt(rel))
        elif not on and rel in self.opaque:
            self._log("o", _txt(rel))

    # --- fake-root metadata --------------------------------------------------------

    def set_fake(self, rel: bytes, *, uid: int | None = None, gid: int | None = None, mode: int | None = None) -> None:
        self._log("F", _txt(rel), uid, gid, None if mode is None else mode & 0o7777)

    def drop_fake(self, rel: bytes) -> None:
        if any(_subtree(k, rel) for k in self.fake):
            self._log("f", _txt(rel))

    def move_fake(self, old: bytes, new: bytes) -> None:
        if any(_subtree(k, old) or _subtree(k, new) for k in self.fake):
            self._log("M", _txt(old), _txt(new))

    # --- maintenance -------------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the journal as the minimal set of records."""
        tmp = self._path + b".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.writelines(json.dumps(["W", _txt(w)]) + "\n" for w in sorted(self.whiteouts))
            fh.writelines(json.dumps(["O", _txt(o)]) + "\n" for o in sorted(self.opaque))
            fh.writelines(json.dumps(["F", _txt(k), v.uid, v.gid, v.mode]) + "\n" for k, v in sorted(self.fake.items()))
        self._fh.close()
        os.replace(tmp, self._path)
        self._fh = open(self._path, "a", encoding="ascii")  # noqa: SIM115

    def clear(self) -> None:
        self.whiteouts.clear()
        self._below.clear()
        self._kids.clear()
        self.opaque.clear()
        self.fake.clear()
        self.compact()
