"""``umlpy doctor`` and ``umlpy syscalls``: what the host allows, what umlpy does.

doctor probes for real (a traced, filtered child; an ``int 0x80``-capable
kernel config; Landlock's ABI) rather than guessing from config files.
"""

from __future__ import annotations

import json
import os
import platform
import sys

from umlpy.tracer import landlock
from umlpy.vkernel import filter as seccomp_filter
from umlpy.vkernel.arch import i386, x86_64
from umlpy.vkernel.table import TABLE


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _probe_trace() -> tuple[bool, str]:
    from umlpy.sandbox import Sandbox, SandboxConfig, UmlpyError

    try:
        r = Sandbox(SandboxConfig(cpu="spread")).run(["/bin/true"])
    except UmlpyError as e:
        return False, str(e)
    except OSError as e:
        return False, e.strerror or str(e)
    return r.exit_code == 0, "ptrace + seccomp work" if r.exit_code == 0 else f"/bin/true exited {r.returncode}"


def facts() -> dict[str, object]:
    ok, detail = _probe_trace()
    abi = landlock.abi_version()
    return {
        "kernel": platform.release(),
        "uid": os.getuid(),
        "ptrace_seccomp": ok,
        "ptrace_detail": detail,
        "yama_ptrace_scope": _read("/proc/sys/kernel/yama/ptrace_scope"),
        "unprivileged_userns_clone": _read("/proc/sys/kernel/unprivileged_userns_clone"),
        "max_user_namespaces": _read("/proc/sys/user/max_user_namespaces"),
        "io_uring_disabled": _read("/proc/sys/kernel/io_uring_disabled"),
        "landlock_abi": abi,
        "mseal": _has_mseal(),
        "i386_abi": "refused by umlpy (every int 0x80 call fails with ENOSYS)",
    }


def _has_mseal() -> bool:
    from umlpy.vkernel import scratch

    return scratch.mseal_available()


def main(*, json_out: bool) -> int:
    f = facts()
    if json_out:
        print(json.dumps(f, indent=1))
        return 0 if f["ptrace_seccomp"] else 1
    abi = int(f["landlock_abi"])  # type: ignore[call-overload]
    lines = [
        f"kernel            {f['kernel']} (running as uid {f['uid']})",
        f"ptrace + seccomp  {'yes' if f['ptrace_seccomp'] else 'NO'}: {f['ptrace_detail']}",
        f"yama ptrace_scope {f['yama_ptrace_scope'] or 'absent'}",
        f"landlock          ABI {abi}" if abi else "landlock          absent: no kernel backstop; a race won against the tracer is not caught",
    ]
    if abi:
        lines.append(
            "                  signals/abstract sockets scoped to the guest: "
            + ("yes" if abi >= 6 else "no (needs ABI 6)")
            + "; guest cannot ptrace the tracer: yes; --read-only/--write enforced: yes"
            + "; /proc never writable: yes"
        )
    else:
        lines.append(
            "                  without it: signals and abstract sockets are checked by umlpy alone, --write is"
            " not enforced, and /proc/PID/mem could rewrite umlpy's read-only argument pages"
        )
    lines.append(f"io_uring          refused by umlpy (host io_uring_disabled={f['io_uring_disabled']})")
    lines.append(f"mseal             {'yes' if f['mseal'] else 'no'}: " + (
        "argument pages are sealed by the kernel" if f["mseal"] else "argument pages are guarded by trapping mprotect/munmap"))
    lines.append(f"i386 ABI          {f['i386_abi']}")
    lines.append(f"user namespaces   max={f['max_user_namespaces']} (not required by umlpy)")
    print("\n".join(lines))
    return 0 if f["ptrace_seccomp"] else 1


def syscall_rows() -> list[dict[str, object]]:
    from umlpy.vkernel import fs

    trapped = set(seccomp_filter.trapped_names())
    vfs_mode = {n: "translated" for n in fs.TRAPPED} | {n: "emulated under --fake-root" for n in fs.FAKE_ROOT_TRAPPED}
    x64 = x86_64.SYSCALL_NUMBERS
    x32 = i386.SYSCALL_NUMBERS
    rows: list[dict[str, object]] = []
    for name, e in sorted(TABLE.items(), key=lambda kv: (x64.get(kv[0], 10_000), kv[0])):
        rows.append(
            {
                "name": name,
                "x86_64": x64.get(name),
                "i386": x32.get(name),
                "trap": e.trap.value if name in x64 else "refused (i386 only)",
                "stops": name in trapped,
                "support": e.support.value,
                "errno": e.errno or None,
                "note": e.note,
                # what happens on the virtual filesystem (umlpy run's default)
                "vfs": vfs_mode.get(name, ""),
            }
        )
    return rows


def print_syscalls(fmt: str) -> int:
    rows = syscall_rows()
    out = sys.stdout
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
    elif fmt == "md":
        out.write("| syscall | x86-64 | i386 | trap | support | on the vfs | note |\n|---|---|---|---|---|---|---|\n")
        for r in rows:
            out.write(f"| {r['name']} | {r['x86_64'] if r['x86_64'] is not None else '-'} | "
                      f"{r['i386'] if r['i386'] is not None else '-'} | {r['trap']} | {r['support']} | {r['vfs']} "
                      f"| {r['note']} |\n")
    else:
        for r in rows:
            nr = r["x86_64"] if r["x86_64"] is not None else "-"
            vfs = f" [vfs: {r['vfs']}]" if r["vfs"] else ""
            out.write(f"{nr!s:>4} {r['name']:<24} {r['trap']:<12} {r['support']:<12} {r['note']}{vfs}\n")
    return 0
