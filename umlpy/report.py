"""The run report for people: a one-screen summary and a self-contained HTML page.

Both are views of :meth:`umlpy.sandbox.RunResult.to_dict` (the JSON report),
so the three never disagree.  Pure functions of that dict: no I/O.

The summary is printed on stderr at exit when there is something to say
(files changed, secrets reached for, network attempts refused, syscalls
refused or logged, warnings); a run that did nothing notable prints nothing,
so umlpy stays out of the way of the guest's own output.

The HTML page has no external assets (no scripts, fonts or images from
anywhere): inline CSS, ``<details>`` for the process tree, and ids a test
or a script can find (``#processes``, ``#files``, ``#files-read``,
``#network``, ``#denials``, ``#unimplemented``, ``#secrets``,
``#resources``).  A process's CPU time and peak memory are wait4(2)'s:
its own plus the children it waited for (:mod:`umlpy.vkernel.proctree`).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Mapping, Sequence

Doc = Mapping[str, object]

MAX_FILES_SHOWN = 10
MAX_PROCS_SHOWN = 8


def _list(doc: Doc, key: str) -> list[dict[str, object]]:
    v = doc.get(key)
    # RunResult.to_dict() keeps tuples (asdict does); the JSON read back has lists.
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list | tuple) else []


def _argv(p: Mapping[str, object]) -> str:
    argv = p.get("argv")
    if isinstance(argv, list) and argv:
        return shlex.join(str(a) for a in argv)
    return str(p.get("exe") or "?")


def _size(n: object) -> str:
    v = float(n) if isinstance(n, int | float) else 0.0
    for unit in ("bytes", "KB", "MB", "GB"):
        if v < 1024 or unit == "GB":
            return f"{int(v)} bytes" if unit == "bytes" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} GB"


def _status(p: Mapping[str, object]) -> str:
    if p.get("signal") is not None:
        return f"signal {p['signal']}"
    if p.get("exit_code") is not None:
        return f"exit {p['exit_code']}"
    return "running" if p.get("end_s") is None else "?"


def _endpoint(c: Mapping[str, object]) -> str:
    addr = str(c.get("address"))
    host = f"[{addr}]" if ":" in addr else addr
    return f"{c.get('op')} {host}:{c.get('port')}/{c.get('protocol')}"


def change_line(c: Mapping[str, object]) -> str:
    mark = {"created": "A", "modified": "M", "deleted": "D"}.get(str(c.get("kind")), "?")
    if c.get("meta_only"):
        what = "metadata"
    else:
        what = f"{c.get('node')}, {_size(c.get('size'))}"
        if c.get("kind") == "modified" and c.get("old_size") is not None:
            what += f", was {_size(c.get('old_size'))}"
    return f"{mark} {c.get('path')}  [{what}]"


GUEST_OWN = "guest's own service"  # umlpy.vnet.policy's reason for a guest-to-guest connection


def _reached(doc: Doc) -> list[dict[str, object]]:
    """The allowed connections, outbound (connect) and inbound (accept)."""
    return [c for c in _list(doc, "connections") if c.get("allowed") and c.get("op") in ("connect", "accept")]


def _usage(p: Mapping[str, object]) -> str:
    """"cpu 0.12 s, peak 13.4 MB" from a process record, or "" if it was not reaped by umlpy."""
    if p.get("max_rss_kb") is None:
        return ""
    cpu = float(str(p.get("cpu_user_s") or 0)) + float(str(p.get("cpu_system_s") or 0))
    return f"cpu {cpu:.2f} s, peak {_size(int(str(p.get('max_rss_kb'))) * 1024)}"


def _files_read(doc: Doc) -> str:
    listed = _list(doc, "files_read")
    total = doc.get("files_read_total") or 0
    dropped = doc.get("files_read_dropped") or 0
    more = f" (+{dropped} opens of paths not listed)" if dropped else ""
    return f"{total} open(s) of {len(listed)} file(s){more}"


def notable(doc: Doc) -> bool:
    """Is there anything to summarise beyond the guest's exit?

    Connections count when they leave the sandbox (a guest's own loopback
    client/server pairs do not) or when ports were published."""
    return any(_list(doc, k) for k in ("changes", "secrets", "logged", "published")) or bool(
        doc.get("denied")) or bool(doc.get("warnings")) or any(
        not c.get("allowed") for c in _list(doc, "connections")) or any(
        c.get("op") == "connect" and c.get("reason") != GUEST_OWN for c in _reached(doc))


def traffic(c: Mapping[str, object]) -> str:
    """``connect 1.2.3.4:443/tcp x3: sent 3.7 KB, received 15 KB`` for a connection record."""
    count = c.get("count")
    times = f" x{count}" if isinstance(count, int) and count > 1 else ""
    return f"{_endpoint(c)}{times}: sent {_size(c.get('bytes_sent'))}, received {_size(c.get('bytes_received'))}"


def summary_lines(doc: Doc) -> list[str]:
    """One screen at most: the header, what ran, files, secrets, network, refusals."""
    if not notable(doc):
        return []
    res = doc.get("resources")
    r: Mapping[str, object] = res if isinstance(res, dict) else {}
    sid = os.path.basename(str(doc["state_dir"])) if doc.get("state_dir") else None
    head = [f"sandbox {sid}" if sid else "run"]
    if doc.get("profile"):
        head.append(f"profile {doc['profile']}")
    head.append(f"returned {doc.get('returncode')}")
    head.append(f"{r.get('duration_s', 0)} s, cpu {float(str(r.get('cpu_user_s', 0))) + float(str(r.get('cpu_system_s', 0))):.2f} s, "
                f"peak {_size(int(str(r.get('max_rss_kb', 0))) * 1024)}, {r.get('processes', 0)} process(es)")
    lines = ["── " + " · ".join(head)]
    procs = _list(doc, "processes")
    ran = [p for p in procs if p.get("execs")]
    if ran:
        shown = "; ".join(_argv(p)[:60] + (f" ({_status(p)})" if p.get("exit_code") not in (0, None)
                                            or p.get("signal") is not None else "")
                          for p in ran[:MAX_PROCS_SHOWN])
        more = f"; +{len(ran) - MAX_PROCS_SHOWN} more" if len(ran) > MAX_PROCS_SHOWN else ""
        lines.append(f"ran: {shown}{more}")
    heavy = [p for p in procs if p.get("max_rss_kb") is not None and p.get("ppid") is not None]
    if heavy:
        top = max(heavy, key=lambda p: float(str(p.get("cpu_user_s") or 0)) + float(str(p.get("cpu_system_s") or 0)))
        lines.append(f"busiest child: {_argv(top)[:60]} ({_usage(top)})")
    if doc.get("files_read_total"):
        lines.append(f"read: {_files_read(doc)}")
    changes = _list(doc, "changes")
    if changes:
        counts = {k: sum(1 for c in changes if c.get("kind") == k) for k in ("created", "modified", "deleted")}
        lines.append("files: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        lines += ["  " + change_line(c) for c in changes[:MAX_FILES_SHOWN]]
        if len(changes) > MAX_FILES_SHOWN:
            lines.append(f"  ... {len(changes) - MAX_FILES_SHOWN} more ('umlpy diff')")
    secrets = _list(doc, "secrets")
    if secrets:
        shown = ", ".join(str(s.get("path")) for s in secrets[:5]) + (", ..." if len(secrets) > 5 else "")
        lines.append(f"secrets: the guest reached for {len(secrets)} hidden path(s): {shown}")
    denied_net = [c for c in _list(doc, "connections") if not c.get("allowed")]
    if denied_net:
        shown = ", ".join(f"{_endpoint(c)} ({c.get('errno_name')})" for c in denied_net[:5])
        lines.append(f"network: denied {len(denied_net)} destination(s): {shown}"
                     + (", ..." if len(denied_net) > 5 else ""))
    reached = _reached(doc)
    if reached:
        shown = "; ".join(traffic(c) for c in reached[:5])
        lines.append(f"network: {len(reached)} connection record(s): {shown}" + ("; ..." if len(reached) > 5 else ""))
    published = _list(doc, "published")
    if published:
        lines.append("published: " + ", ".join(
            f"guest port {p.get('guest_port')}/{p.get('protocol')} at {p.get('host_address')}:{p.get('host_port')}"
            for p in published))
    denied = doc.get("denied")
    if isinstance(denied, dict) and denied:
        total = sum(int(v) for v in denied.values())
        parts = ", ".join(f"{n}×{c}" if c > 1 else n for n, c in sorted(denied.items()))
        lines.append(f"refused {total} syscall(s): {parts}")
    unimpl = _list(doc, "unimplemented")
    if unimpl:
        total = sum(int(str(u.get("count") or 0)) for u in unimpl)
        parts = ", ".join(f"{u.get('abi')} {u.get('syscall')}×{u.get('count')}" for u in unimpl[:8])
        lines.append(f"unimplemented: {total} call(s) got ENOSYS: {parts}" + (", ..." if len(unimpl) > 8 else ""))
    logged = _list(doc, "logged")
    if logged:
        by: dict[str, int] = {}
        for e in logged:
            by[str(e.get("syscall"))] = by.get(str(e.get("syscall")), 0) + 1
        lines.append(f"logged {len(logged)} call(s): " + ", ".join(f"{k}×{v}" for k, v in sorted(by.items())))
    warnings = doc.get("warnings")
    if isinstance(warnings, list):
        lines += [f"warning: {w}" for w in warnings]
    return ["umlpy: " + ln for ln in lines]


# --- HTML -------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
code,td.path{font-family:ui-monospace,monospace}
table{border-collapse:collapse} td,th{padding:.15em .6em;text-align:left;vertical-align:top}
tr:nth-child(even){background:#f6f6f6}
.created{color:#161} .modified{color:#a60} .deleted{color:#b11} .denied{color:#b11} .allowed{color:#161}
details{margin-left:1.2em} summary{cursor:pointer} .st{color:#666}
.bar{display:inline-block;height:.7em;background:#69c;vertical-align:middle}
"""


def _e(v: object) -> str:
    import html  # with its entity tables, only for the HTML page: the summary runs at every exit

    return html.escape(str(v), quote=True)


def _tree_html(procs: Sequence[Mapping[str, object]], total: float) -> str:
    children: dict[object, list[Mapping[str, object]]] = {}
    pids = {p.get("pid") for p in procs}
    for p in procs:
        parent = p.get("ppid") if p.get("ppid") in pids else None
        children.setdefault(parent, []).append(p)

    def node(p: Mapping[str, object], depth: int) -> str:
        start = float(str(p.get("start_s") or 0))
        end = p.get("end_s")
        dur = (float(str(end)) - start) if end is not None else None
        width = 0 if not total or dur is None else max(1, int(200 * dur / total))
        usage = _usage(p)
        label = (f'<code>{_e(_argv(p))}</code> <span class="st">pid {_e(p.get("pid"))} · {_e(_status(p))} · '
                 f'{start:.3f}s → {"?" if end is None else f"{float(str(end)):.3f}s"}'
                 f'{" · " + _e(usage) if usage else ""}</span> '
                 f'<span class="bar" style="width:{width}px"></span>')
        kids = children.get(p.get("pid"), [])
        if not kids or depth > 50:
            return f'<div class="proc" data-pid="{_e(p.get("pid"))}">{label}</div>'
        inner = "".join(node(k, depth + 1) for k in kids)
        return (f'<details open class="proc" data-pid="{_e(p.get("pid"))}"><summary>{label}</summary>'
                f"{inner}</details>")

    return "".join(node(p, 0) for p in children.get(None, []))


def _table(rows: list[list[str]], head: list[str], row_class: list[str] | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for i, r in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def to_html(doc: Doc) -> str:
    """One self-contained HTML page (no external assets) for the report ``doc``."""
    procs = _list(doc, "processes")
    changes = _list(doc, "changes")
    conns = _list(doc, "connections")
    denials = _list(doc, "denials")
    secrets = _list(doc, "secrets")
    logged = _list(doc, "logged")
    files_read = _list(doc, "files_read")
    unimpl = _list(doc, "unimplemented")
    res = doc.get("resources")
    r: Mapping[str, object] = res if isinstance(res, dict) else {}
    argv = doc.get("argv")
    cmd = shlex.join(str(a) for a in argv) if isinstance(argv, list | tuple) else ""
    started = doc.get("started_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(str(started)))) if started else ""
    total = float(str(doc.get("duration_s") or 0))
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>umlpy report: {_e(cmd[:80])}</title><style>{_CSS}</style></head><body>",
        f"<h1>umlpy run: <code>{_e(cmd)}</code></h1>",
        (f'<p id="verdict">returned <b>{_e(doc.get("returncode"))}</b> · {_e(when)} · '
         f'profile {_e(doc.get("profile") or "none")} · sandbox <code>{_e(doc.get("state_dir") or "-")}</code></p>'),
        '<h2>Resources</h2><div id="resources">' + _table(
            [[_e(k), _e(v)] for k, v in r.items()], ["", "value"]) + "</div>",
        f'<h2>Process tree ({len(procs)})</h2><div id="processes">{_tree_html(procs, total) or "<p>none</p>"}</div>',
        f'<h2>Files changed ({len(changes)})</h2><div id="files">' + _table(
            [[_e(c.get("kind")), f'<span class="path">{_e(c.get("path"))}</span>', _e(c.get("node")),
              _e(_size(c.get("size"))), _e("" if c.get("old_size") is None else _size(c.get("old_size"))),
              "metadata only" if c.get("meta_only") else ""] for c in changes],
            ["change", "path", "kind", "size", "was", ""], [str(c.get("kind")) for c in changes]) + "</div>",
        f'<h2>Files read ({_e(_files_read(doc))})</h2><div id="files-read">' + _table(
            [[f'<span class="path">{_e(f.get("path"))}</span>', _e(f.get("count"))]
             for f in sorted(files_read, key=lambda f: str(f.get("path")))],
            ["path", "opens"]) + "</div>",
        f'<h2>Secrets reached for ({len(secrets)})</h2><div id="secrets">' + _table(
            [[_e(s.get("pid")), f'<span class="path">{_e(s.get("path"))}</span>', _e(s.get("hidden")),
              _e(s.get("count"))] for s in secrets], ["pid", "path", "hidden by", "times"]) + "</div>",
        f'<h2>Network ({len(conns)})</h2><div id="network">' + _table(
            [[_e(c.get("pid")), _e(_endpoint(c)), "allowed" if c.get("allowed") else "denied",
              _e(c.get("errno_name") or ""), _e(c.get("rule") or c.get("reason") or ""), _e(c.get("count")),
              _e(_size(c.get("bytes_sent"))), _e(_size(c.get("bytes_received")))] for c in conns],
            ["pid", "destination", "verdict", "errno", "rule", "times", "sent", "received"],
            ["allowed" if c.get("allowed") else "denied" for c in conns]) + "</div>",
        f'<h2>Refused syscalls ({len(denials)})</h2><div id="denials">' + _table(
            [[_e(d.get("tid")), _e(d.get("syscall")), _e(d.get("errno")), _e(d.get("reason"))] for d in denials],
            ["tid", "syscall", "errno", "why"]) + "</div>",
        f'<h2>Unimplemented syscalls ({len(unimpl)})</h2><div id="unimplemented">' + _table(
            [[_e(u.get("abi")), _e(u.get("syscall")), _e(u.get("count"))] for u in unimpl],
            ["abi", "syscall", "times (ENOSYS)"]) + "</div>",
    ]
    if logged:
        parts.append(f'<h2>Logged calls ({len(logged)})</h2><div id="logged">' + _table(
            [[_e(e.get("tid")), _e(e.get("syscall")), _e(e.get("path") or ""), _e(e.get("rule"))] for e in logged],
            ["tid", "syscall", "path", "rule"]) + "</div>")
    warnings = doc.get("warnings")
    if isinstance(warnings, list) and warnings:
        parts.append('<h2>Warnings</h2><ul id="warnings">' + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>")
    # The JSON report itself, for anyone who wants the raw data from the page.
    raw = json.dumps(doc, indent=1).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="report-json">{raw}</script></body></html>')
    return "\n".join(parts) + "\n"
