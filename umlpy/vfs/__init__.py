"""umlpy.vfs: the pure virtual filesystem (no ptrace, no pids).

Modules, in pipeline order: paths (guest paths as values), mounts (guest <->
host prefixes), resolve (path_resolution(7)/openat2(2) walk), overlay
(copy-on-write, whiteouts, fake-root metadata), changes (diff, commit,
discard) and vfs (the facade handlers call).
"""

from __future__ import annotations

from umlpy.vfs.changes import Change, ChangeKind, CommitResult
from umlpy.vfs.errors import VfsBug, VfsError
from umlpy.vfs.meta import FakeMeta
from umlpy.vfs.mounts import Access, BindSpec, Mount, MountKind, MountTable, parse_bind
from umlpy.vfs.overlay import DirEntry, Layer, Overlay, WriteIntent
from umlpy.vfs.paths import LastKind
from umlpy.vfs.resolve import Node, NodeKind, Resolution, ResolveFlag, resolve
from umlpy.vfs.vfs import FsView, Resolved, Vfs, VfsConfig

__all__ = [
    "Access", "BindSpec", "Change", "ChangeKind", "CommitResult", "DirEntry", "FakeMeta", "FsView",
    "LastKind", "Layer", "Mount", "MountKind", "MountTable", "Node", "NodeKind", "Overlay", "Resolution",
    "ResolveFlag", "Resolved", "Vfs", "VfsBug", "VfsConfig", "VfsError", "WriteIntent", "parse_bind", "resolve",
]
