"""``umlpy trace-diff A.jsonl B.jsonl``: what two traced runs did differently.

Input is ``umlpy trace --json`` output.  Pids differ between runs, so
processes are aligned by the order in which they first appear (the first
process of A with the first of B, and so on); within a pair, the sequences
of calls are aligned with difflib on a normalised key — the syscall name,
its arguments with addresses and fd-independent noise removed, and its
outcome (errno name, or "ok") — and only the differing stretches are
printed, unified-diff style.  Exit events take part, so a different exit
status shows as a difference.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

_ADDR = re.compile(r"0x[0-9a-f]{6,}")
_PIDS = re.compile(r"\b(si_pid|pid)=\d+")
# Calls whose arguments are random or time by nature: compared by name and outcome only.
_NOISY = frozenset({"getrandom", "clock_gettime", "gettimeofday", "time", "clock_nanosleep", "nanosleep"})


@dataclass(frozen=True, slots=True)
class Step:
    key: str  # what is compared
    text: str  # what is shown


def load(path: str) -> list[list[Step]]:
    """Per process (in order of first appearance), its steps; ValueError on bad input."""
    procs: dict[int, list[Step]] = {}
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{path}:{n}: not a JSON trace line (use 'umlpy trace --json')") from None
                if not isinstance(obj, dict) or "pid" not in obj:
                    raise ValueError(f"{path}:{n}: not an umlpy trace record")
                procs.setdefault(int(obj["pid"]), []).append(_step(obj))
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    return list(procs.values())


def _step(obj: dict[str, object]) -> Step:
    if "event" in obj:
        detail = {k: v for k, v in obj.items() if k not in ("pid", "tid", "time", "siginfo")}
        text = " ".join(f"{k}={v}" for k, v in detail.items())
        return Step(_norm(text), text)
    raw_args = obj.get("args")
    args = ", ".join(str(a) for a in raw_args) if isinstance(raw_args, list) else ""
    name = str(obj.get("name"))
    outcome = obj.get("errno") or "ok"
    text = f"{name}({args}) = {obj.get('return_text')}"
    shown_args = "…" if name in _NOISY else args
    return Step(_norm(f"{name}({shown_args}) -> {outcome}"), text)


def _norm(s: str) -> str:
    return _PIDS.sub(r"\1=N", _ADDR.sub("ADDR", s))


def diff(a: list[list[Step]], b: list[list[Step]], names: tuple[str, str] = ("A", "B")) -> Iterable[str]:
    """Lines describing the differences; nothing when the runs did the same."""
    for i in range(max(len(a), len(b))):
        pa = a[i] if i < len(a) else []
        pb = b[i] if i < len(b) else []
        if not pa or not pb:
            only = names[0] if pa else names[1]
            yield f"@@ process #{i + 1}: only in {only} ({len(pa or pb)} steps)"
            continue
        sm = difflib.SequenceMatcher(a=[s.key for s in pa], b=[s.key for s in pb], autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            yield f"@@ process #{i + 1}: {names[0]} steps {i1 + 1}-{i2}, {names[1]} steps {j1 + 1}-{j2}"
            for s in pa[i1:i2]:
                yield f"-{s.text}"
            for s in pb[j1:j2]:
                yield f"+{s.text}"


def main(path_a: str, path_b: str) -> int:
    """Print the differences; exit status 0 if none, 1 if some (like diff(1))."""
    a, b = load(path_a), load(path_b)
    found = False
    for line in diff(a, b, (path_a, path_b)):
        found = True
        print(line)
    return 1 if found else 0
