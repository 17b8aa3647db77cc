"""Keep the code that ``dataclasses`` generates from one CLI start to the next.

Every ``@dataclass`` builds its ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__``... as source text and ``exec``s it.  umlpy
defines some 80 dataclasses; parsing and compiling their ~300 snippets was a
third of the instructions of ``umlpy run --profile trace-only -- true``
(callgrind: 160 M of 488 M), more than umlpy's own imports otherwise cost.
The texts are the same on every start, so their code objects are kept in a
marshal file keyed by the exact text: ``exec`` of the same text and of its
compiled code are the same thing, only the parse is skipped.

Only the CLI installs this (``umlpy.cli``); a program embedding umlpy keeps
its ``dataclasses`` untouched.  The file lives in ``$XDG_CACHE_HOME/umlpy``
(``~/.cache/umlpy``), private to the user: whoever can write it can run code
as umlpy, which is no more than they can do through the user's own
``~/.local`` packages or shell profile.  A guest cannot reach it under the
default copy-on-write filesystem (its writes land in its own layer).  A
missing, unreadable or foreign file is ignored and rewritten.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
from types import CodeType
from typing import Any

_MAGIC = b"umlpy-codecache-1 " + sys.implementation.cache_tag.encode() + b"\n"
_cache: dict[str, CodeType] = {}
_dirty = False
_path: str | None = None


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    global _dirty
    if isinstance(source, str):
        code = _cache.get(source)
        if type(code) is not CodeType:
            code = compile(source, "<string>", "exec")
            _cache[source] = code
            _dirty = True
        source = code
    builtins.exec(source, globals, locals)  # noqa: S102 - what dataclasses asked for, compiled once


def _cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "umlpy", f"dataclasses.{sys.implementation.cache_tag}.marshal")


def install() -> None:
    """Serve ``dataclasses``' generated code from the cache from now on."""
    global _path
    import dataclasses

    if _path is not None or not hasattr(dataclasses, "_create_fn"):
        return  # installed already, or a Python whose dataclasses work differently
    _path = _cache_file()
    try:
        with open(_path, "rb") as f:
            data = f.read()
            if data.startswith(_MAGIC):
                loaded = marshal.loads(memoryview(data)[len(_MAGIC):])  # load(f) reads piecemeal: 3x slower
                if isinstance(loaded, dict):
                    _cache.update(loaded)  # entries are checked when used
    except (OSError, EOFError, ValueError, TypeError):
        pass
    # A module global named exec shadows the builtin for dataclasses' own calls.
    dataclasses.exec = _exec  # type: ignore[attr-defined]


def save() -> None:
    """Write the cache back if this run compiled something new (best effort)."""
    global _dirty
    if not _dirty or _path is None:
        return
    _dirty = False
    tmp = f"{_path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(_path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            marshal.dump(_cache, f)
        os.replace(tmp, _path)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
