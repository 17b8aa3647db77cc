"""Per-call cost (µs) of the socket calls the virtual network stops for, native vs umlpy.

    python3 benchmarks/net_calls.py [--runs 3] [-n 2000]

Compiles net_calls.c with gcc, runs it natively and under ``umlpy run`` (defaults:
``--net none``, ``--cpu same``), and prints the median of the runs for each call.
accept4 is timed with a NULL address (no stop) and with an address (a stop with an
exit callback); connect includes its stop.  Numbers from shared 2-core VMs: compare
columns, not machines.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return {name: float(v) for name, v in (line.split() for line in out.splitlines())}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "net_calls"
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / "net_calls.c")], check=True)
        cmd = [str(exe), str(args.n)]
        umlpy = [sys.executable, str(REPO / "bin" / "umlpy"), "run", "-q", "--host-fs", "--", *cmd]
        native: list[dict[str, float]] = []
        under: list[dict[str, float]] = []
        for _ in range(args.runs):
            native.append(run(cmd))
            under.append(run(umlpy))
    print(f"| call | native µs | umlpy µs | stop cost µs |  (median of {args.runs}, n={args.n})")
    print("|---|---|---|---|")
    for name in native[0]:
        a = statistics.median(r[name] for r in native)
        b = statistics.median(r[name] for r in under)
        print(f"| {name} | {a:.2f} | {b:.2f} | {b - a:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
