"""Connection log: what the guest tried to reach, what policy said, how much went through.

Every connect/send/bind decision becomes a :class:`ConnectionRecord`. Repeats of the same
attempt (same pid, operation, destination, protocol and outcome — think of a UDP client
sending a hundred datagrams) are folded into one record whose ``count`` grows, so the log
stays one screen long. Byte counters are updated later by the vkernel as data moves
(:meth:`ConnectionLog.account`). Records are frozen values; the log replaces a record
when it changes. ``pid`` is whatever identifier the caller gives (the vkernel's guest pid);
this module never uses it as a process.

:meth:`ConnectionLog.to_json` gives plain lists and dicts for the run report;
:meth:`ConnectionLog.summary` a short text for the end of ``umlpy run``.
"""

from __future__ import annotations

import errno as _errno
import json
import logging
from dataclasses import asdict, dataclass, replace

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One (folded) network attempt."""

    id: int
    pid: int
    op: str
    family: str
    address: str
    port: int
    protocol: str
    allowed: bool
    rule: str | None = None
    errno: int | None = None
    name: str | None = None
    reason: str = ""
    count: int = 1
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def errno_name(self) -> str | None:
        return None if self.errno is None else _errno.errorcode.get(self.errno, str(self.errno))

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}" if self.family in ("AF_INET", "AF_INET6") else self.address

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["errno_name"] = self.errno_name
        return d


def format_size(n: int) -> str:
    """``n`` bytes for people: ``512 B``, ``3.7 kB``, ``1.2 MB`` (decimal units)."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} GB"


class ConnectionLog:
    """All records of one sandbox run, in first-seen order."""

    def __init__(self) -> None:
        self._records: list[ConnectionRecord] = []
        self._index: dict[tuple[object, ...], int] = {}

    def add(self, *, pid: int, op: str, family: str, address: str, port: int, protocol: str, allowed: bool,
            rule: str | None = None, errno: int | None = None, name: str | None = None,
            reason: str = "") -> int:
        """Record an attempt (or count a repeat); returns the record id for :meth:`account`."""
        key = (pid, op, family, address, port, protocol, allowed, rule, errno)
        existing = self._index.get(key)
        if existing is not None:
            rec = self._records[existing]
            self._records[existing] = replace(rec, count=rec.count + 1, name=rec.name or name)
            return existing
        rid = len(self._records)
        self._records.append(ConnectionRecord(rid, pid, op, family, address, port, protocol, allowed, rule, errno,
                                              name, reason))
        self._index[key] = rid
        log.debug("net %s %s %s/%s -> %s", "allow" if allowed else "deny", op, address, port, rule or reason)
        return rid

    def account(self, record_id: int, *, sent: int = 0, received: int = 0) -> None:
        """Add transferred bytes to a record."""
        rec = self._records[record_id]
        self._records[record_id] = replace(rec, bytes_sent=rec.bytes_sent + max(sent, 0),
                                           bytes_received=rec.bytes_received + max(received, 0))

    @property
    def records(self) -> tuple[ConnectionRecord, ...]:
        return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def to_json(self) -> list[dict[str, object]]:
        return [r.to_json() for r in self._records]

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def summary(self, *, max_lines: int = 20) -> str:
        """A one-screen text: a headline, then denied attempts first, then allowed ones."""
        if not self._records:
            return "network: no connection attempts"
        denied = [r for r in self._records if not r.allowed]
        allowed = [r for r in self._records if r.allowed]
        lines = [f"network: {len(self._records)} destinations, {len(allowed)} allowed, {len(denied)} denied"]
        for r in (denied + allowed)[:max_lines]:
            verdict = "ALLOW" if r.allowed else "DENY "
            label = f" ({r.name})" if r.name else ""
            times = f" x{r.count}" if r.count > 1 else ""
            tail = f"sent {format_size(r.bytes_sent)} recv {format_size(r.bytes_received)}" if r.allowed else (r.errno_name or "")
            why = r.rule or r.reason
            lines.append(f"  {verdict} {r.op:<7} {r.protocol:<4} {r.endpoint}{label}{times}  pid {r.pid}  {tail}"
                         + (f"  [{why}]" if why else ""))
        hidden = len(self._records) - max_lines
        if hidden > 0:
            lines.append(f"  ... and {hidden} more (see the run report)")
        return "\n".join(lines)
