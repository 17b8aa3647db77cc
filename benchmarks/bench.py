#!/usr/bin/env python3
"""umlpy beside native and the anchors, on the shared workload suite, in one run.

Every (workload, system) pair is run interleaved, ``--runs`` times after a
warm-up round, and the median wall time is reported with its ratio to
native: ratios, not single times, because these machines are shared and
noisy.  The median CPU time (user + system of the whole process tree,
tracer and guest and any helper) is reported beside it: on a loaded
machine it is the steadier measure of the work a tracer adds.  Systems
that are not installed are skipped.

Besides the shared suite (benchmarks/workloads.sh) there are two
micro-workloads that isolate the cost umlpy adds per *trapped* syscall:

* ``trap20k``: 20 000 ``kill(getpid(), 0)`` — kill is trapped (its pid is
  checked against the guest tree), so this is one seccomp stop per call;
* ``getppid200k`` (shared): 200 000 getppid — never trapped, must stay native;
  ``getppid2M`` is the same with 2 000 000 calls, so start-up weighs less;
* ``make-j2``: `make -j2` compiling 6 C files with -O2: CPU-bound and
  parallel, the case where pinning tracer and guest to one CPU costs most.

``umlpy-same`` pins tracer and guest to one CPU (the default),
``umlpy-spread`` lets the scheduler place them: the pair measures the CPU
placement policy.

usage: bench.py [--runs N] [--workloads a,b] [--systems x,y] [--json FILE] [--md FILE]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = [
    "forkexec", "pyimport", "gcc", "tar", "find", "git", "writes", "stat20k", "getppid200k",
    "getppid2M", "trap20k", "make-j2",
]
PIN = ["taskset", "-c", "0"]

TRAPLOOP_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int c, char **v) { pid_t me = getpid(); for (int i = 0; i < atoi(v[1]); i++) kill(me, 0); return 0; }
"""


def systems() -> dict[str, tuple[str, list[str]]]:
    """name -> (program that must exist, command prefix)."""
    u = [sys.executable, os.path.join(REPO, "bin", "umlpy")]
    return {
        "native": ("true", []),
        "umlpy-same": (u[0], u + ["run", "-q", "--cpu", "same", "--"]),
        "umlpy-spread": (u[0], u + ["run", "-q", "--cpu", "spread", "--"]),
        # the identity policy: host filesystem and network, nothing virtualized (issue 2's yardstick)
        "umlpy-identity": (u[0], u + ["run", "-q", "--profile", "trace-only", "--"]),
        # the scratch guard by trapping mprotect/munmap/mremap/madvise/MAP_FIXED
        # (the fallback for kernels without mseal): the price of trapping them always
        "umlpy-guard-trap": (u[0], u + ["run", "-q", "--cpu", "same", "--scratch-guard", "trap", "--"]),
        "umlpy-trace": (u[0], u + ["trace", "-o", "/dev/null", "--"]),
        # the narrow set: compare with strace-seccomp
        "umlpy-trace-narrow": (u[0], u + ["trace", "-e", "trace=%file,%network", "-o", "/dev/null", "--"]),
        "strace": ("strace", PIN + ["strace", "-f", "-qq", "-o", "/dev/null"]),
        "strace-seccomp": (
            "strace",
            PIN + ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=%file,%network", "-o", "/dev/null"],
        ),
        "proot": ("proot", PIN + ["proot", "-r", "/"]),
        "proot-unpinned": ("proot", ["proot", "-r", "/"]),
        "runsc-ptrace": (
            "runsc",
            PIN + ["runsc", "--platform=ptrace", "--network=none", "--rootless=false", "--ignore-cgroups", "do"],
        ),
        "bwrap": ("bwrap", ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]),
    }


def build_helpers(w: str) -> None:
    srcs = {
        "hello.c": '#include <stdio.h>\nint main(){printf("hello\\n");return 0;}\n',
        "statloop.c": '#include <sys/stat.h>\n#include <stdlib.h>\nint main(int c,char**v){struct stat s;'
        'for(int i=0;i<atoi(v[1]);i++)stat("/etc/passwd",&s);return 0;}\n',
        "pidloop.c": '#include <unistd.h>\n#include <stdlib.h>\n#include <sys/syscall.h>\nint main(int c,char**v)'
        "{for(int i=0;i<atoi(v[1]);i++)syscall(SYS_getppid);return 0;}\n",
        "traploop.c": TRAPLOOP_C,
    }
    for name, text in srcs.items():
        with open(os.path.join(w, name), "w") as f:
            f.write(text)
    for prog in ("statloop", "pidloop", "traploop"):
        subprocess.run(["gcc", "-O2", "-o", os.path.join(w, prog), os.path.join(w, prog + ".c")], check=True)
    proj = os.path.join(w, "proj")
    os.mkdir(proj)
    body = "".join(f"double f{{n}}_{i}(double x){{return x*{i}+f{{n}}_{i-1}(x-1);}}\n" for i in range(1, 400))
    for n in range(6):
        with open(os.path.join(proj, f"u{n}.c"), "w") as f:
            f.write(f"double f{n}_0(double x){{return x;}}\n" + body.replace("{n}", str(n)))
    with open(os.path.join(proj, "Makefile"), "w") as f:
        objs = " ".join(f"u{n}.o" for n in range(6))
        f.write(f"all: {objs}\n%.o: %.c\n\tgcc -O2 -c $< -o $@\n")


def workload_cmd(wl: str, w: str) -> list[str]:
    if wl == "trap20k":
        return [os.path.join(w, "traploop"), "20000"]
    if wl == "getppid2M":
        return [os.path.join(w, "pidloop"), "2000000"]
    if wl == "make-j2":
        return ["make", "-s", "-B", "-j2", "-C", os.path.join(w, "proj")]
    return [os.path.join(HERE, "workloads.sh"), wl, w]


def _cpu_children() -> float:
    """CPU seconds (user + system) of every reaped descendant so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _reap_orphans() -> None:
    """Reap descendants that outlived their parent (umlpy trace's formatter is a grandchild):
    as subreaper we adopt them, so their CPU time is counted too."""
    for _ in range(100):  # at most ~1 s for an orphan still exiting; a lasting one is left alone
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--systems", default=",".join(systems()))
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--timeout", type=float, default=180)
    a = ap.parse_args()
    # PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here, not to init,
    # so the CPU time column counts them (see _reap_orphans).
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
    allsys = systems()
    names = [s for s in a.systems.split(",") if s in allsys]
    avail = [s for s in names if shutil.which(allsys[s][0]) or os.path.exists(allsys[s][0])]
    for s in set(names) - set(avail):
        print(f"skipped {s}: {allsys[s][0]} not found", flush=True)
    # An installed umlpy has its bytecode compiled by pip; a checkout run with
    # PYTHONDONTWRITEBYTECODE set (as here) would compile every module on
    # every start and time the compiler.
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "umlpy")], check=True,
                   stdout=subprocess.DEVNULL)
    w = tempfile.mkdtemp(prefix="umlpy-bench-")
    os.chmod(w, 0o755)
    build_helpers(w)
    results: dict[str, dict[str, dict[str, float | str | None]]] = {}
    wls = a.workloads.split(",")
    for wl in wls:
        times: dict[str, list[float]] = {s: [] for s in avail}
        cpus: dict[str, list[float]] = {s: [] for s in avail}
        errors: dict[str, str] = {}
        for r in range(a.runs + 1):  # first round is warm-up
            for s in avail:
                if s in errors:
                    continue
                cmd = allsys[s][1] + workload_cmd(wl, w)
                ru0 = _cpu_children()
                t = time.perf_counter()
                try:
                    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=a.timeout, check=False)
                    rc, err = p.returncode, p.stderr.decode(errors="replace")[-300:]
                except subprocess.TimeoutExpired:
                    rc, err = -1, "timeout"
                dt = time.perf_counter() - t
                _reap_orphans()
                if rc != 0:
                    errors[s] = f"rc={rc} {err.strip()}"
                elif r > 0:
                    times[s].append(dt)
                    cpus[s].append(_cpu_children() - ru0)
        med = {s: statistics.median(v) for s, v in times.items() if v}
        cmed = {s: statistics.median(v) for s, v in cpus.items() if v}
        base = med.get("native")
        cbase = cmed.get("native")
        row: dict[str, dict[str, float | str | None]] = {
            s: {"median_s": med[s], "x_native": (med[s] / base if base else None),
                "cpu_s": cmed[s], "cpu_x_native": (cmed[s] / cbase if cbase else None)} for s in med
        }
        for s, e in errors.items():
            row[s] = {"error": e}
        results[wl] = row
        cells = [
            f"{s}={med[s] * 1000:.0f}ms" + (f"({med[s] / base:.2f}x" if base else "(")
            + (f", cpu {cmed[s] / cbase:.2f}x)" if cbase else ")") if s in med else f"{s}=FAIL"
            for s in avail
        ]
        print(f"{wl:12s} " + "  ".join(cells), flush=True)
        for s, e in errors.items():
            print(f"   {s}: {e}", flush=True)
    shutil.rmtree(w, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.md:
        with open(a.md, "w") as f:
            f.write(_markdown(results, avail, wls))
    return 0


def _markdown(results: dict[str, dict[str, dict[str, float | str | None]]], avail: list[str], wls: list[str]) -> str:
    head = "| workload | " + " | ".join(avail) + " |\n|---|" + "---|" * len(avail) + "\n"
    lines = []
    for wl in wls:
        cells = []
        for s in avail:
            c = results[wl].get(s, {})
            if "error" in c:
                cells.append("fail")
            elif s == "native":
                cells.append(f"{float(c['median_s']) * 1000:.0f} ms")  # type: ignore[arg-type]
            elif c.get("x_native") is not None:
                cells.append(f"{float(c['x_native']):.2f}×")  # type: ignore[arg-type]
            else:
                cells.append("-")
        lines.append(f"| {wl} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
