"""Attach to running processes (``umlpy trace -p PID``) with PTRACE_SEIZE.

Every thread of the process and of its descendants is seized without
PTRACE_O_EXITKILL (umlpy exiting must not kill what it did not start) and
interrupted; the tracer then resumes each with PTRACE_SYSCALL.  Children
created later are auto-attached (TRACEFORK/VFORK/CLONE).  The tree is read
twice, so threads and children born while seizing are caught too.
"""

from __future__ import annotations

import errno
import os

from umlpy.tracer import _ffi

ATTACH_OPTIONS = (
    _ffi.PTRACE_O_TRACESYSGOOD
    | _ffi.PTRACE_O_TRACEFORK
    | _ffi.PTRACE_O_TRACEVFORK
    | _ffi.PTRACE_O_TRACECLONE
    | _ffi.PTRACE_O_TRACEEXEC
)


def _tree(root: int) -> list[int]:
    """Thread ids of ``root`` and its descendants (children via /proc/…/children)."""
    out: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            out.append(tid)
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return out


def seize_tree(root: int) -> list[int]:
    """Seize and interrupt every task of the tree; OSError if ``root`` itself cannot be."""
    seized: list[int] = []
    for _ in range(2):
        for tid in _tree(root):
            if tid in seized:
                continue
            try:
                _ffi.seize(tid, ATTACH_OPTIONS)
                _ffi.interrupt(tid)
            except OSError:
                if tid == root and not seized:
                    raise
                continue
            seized.append(tid)
    if not seized:
        raise OSError(errno.ESRCH, "No such process")
    return seized
