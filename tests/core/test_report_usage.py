"""The run report's files read, per-process CPU and peak memory, and unimplemented calls.

Real guests under the real tracer, through the API (RunResult) and the CLI
(JSON, summary, HTML).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_umlpy
from umlpy import Sandbox, SandboxConfig
from umlpy.sandbox import RunResult, new_state_dir, vfs_config
from umlpy.vkernel import tally

pytestmark = pytest.mark.usefixtures("traceable")


def _run(argv: list[str]) -> RunResult:
    return Sandbox(SandboxConfig(vfs=vfs_config(new_state_dir()))).run(argv)


def test_files_read_deduplicated_with_counts(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a\n")
    (tmp_path / "b").write_text("b\n")
    script = f"cd {tmp_path}; cat a a b >/dev/null; cat a >/dev/null; ls . >/dev/null; echo new > c; cat c >/dev/null"
    r = _run(["/bin/sh", "-c", script])
    assert r.exit_code == 0
    read = {str(f["path"]): f["count"] for f in r.files_read}
    assert read[f"{tmp_path}/a"] == 3 and read[f"{tmp_path}/b"] == 1
    assert read[f"{tmp_path}/c"] == 1  # read back from the sandbox's layer, named as the guest sees it
    assert str(tmp_path) not in read  # a directory listed is not a file read
    assert any(p.endswith(".so.6") for p in read)  # the dynamic loader's opens are reads too
    assert r.files_read_total == sum(int(str(f["count"])) for f in r.files_read)
    assert r.files_read_dropped == 0


def test_files_read_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally, "MAX_FILES_READ", 5)
    for i in range(20):
        (tmp_path / f"f{i}").write_text("x")
    r = _run(["/bin/sh", "-c", f"cat {tmp_path}/f* >/dev/null"])
    assert r.exit_code == 0
    assert len(r.files_read) == 5
    assert r.files_read_total == sum(int(str(f["count"])) for f in r.files_read) + r.files_read_dropped
    assert r.files_read_dropped >= 20 - 5


def test_per_process_cpu_and_peak_memory() -> None:
    # A child that touches 64 MiB, then a small one; the shell waits for both.
    big = "python3 -c 'b = bytearray(64 << 20); b[::4096] = b\"x\" * len(b[::4096])'"
    r = _run(["/bin/sh", "-c", f"{big}; /bin/true"])
    assert r.exit_code == 0
    procs = {str((p["argv"] or ["?"])[0]): p for p in r.processes}
    sh, py, true = procs["/bin/sh"], procs["python3"], procs["/bin/true"]
    for p in (sh, py, true):
        assert p["max_rss_kb"] is not None and p["cpu_user_s"] is not None and p["cpu_system_s"] is not None
    assert int(str(py["max_rss_kb"])) >= 64 * 1024
    assert int(str(true["max_rss_kb"])) < 64 * 1024
    cpu = {k: float(str(p["cpu_user_s"])) + float(str(p["cpu_system_s"])) for k, p in procs.items()}
    assert cpu["python3"] > 0  # it ran an interpreter
    # wait4's rusage is inclusive: the shell waited for both children.
    assert cpu["/bin/sh"] >= cpu["python3"] + cpu["/bin/true"] - 1e-6
    assert int(str(sh["max_rss_kb"])) >= int(str(py["max_rss_kb"]))


def test_unimplemented_grouped(build_guest) -> None:  # type: ignore[no-untyped-def]
    r = Sandbox().run([str(build_guest("unimplemented"))])  # no vfs needed: the dispatcher refuses them
    assert r.exit_code == 0
    got = {(u["abi"], u["syscall"]): u["count"] for u in r.unimplemented}
    assert got == {("x86_64", "syscall_999"): 2, ("x32", "getpid"): 1, ("i386", "getpid"): 1}
    assert r.resources()["unimplemented_calls"] == 4


def test_cli_json_summary_and_html(build_guest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    guest = build_guest("unimplemented")
    r = run_umlpy("run", "--discard", "--report", str(report), "--report-html", str(page), "--",
                  "/bin/sh", "-c", f"cat /etc/passwd >/dev/null; {guest}")
    assert r.returncode == 0, r.stderr
    doc = json.loads(report.read_text())
    assert {"path": "/etc/passwd", "count": 1} in doc["files_read"]
    assert doc["files_read_total"] >= 1 and doc["files_read_dropped"] == 0
    assert {"abi": "i386", "syscall": "getpid", "count": 1} in doc["unimplemented"]
    assert all("max_rss_kb" in p and "cpu_user_s" in p for p in doc["processes"])
    lines = r.stderr.splitlines()
    assert any(ln.startswith("umlpy: read: ") for ln in lines), r.stderr
    assert any(ln.startswith("umlpy: unimplemented: 4 call(s) got ENOSYS: x86_64 syscall_999×2") for ln in lines)
    assert any(ln.startswith("umlpy: busiest child: ") and "peak" in ln for ln in lines), r.stderr
    html = page.read_text()
    for anchor in ('id="files-read"', 'id="unimplemented"', "/etc/passwd", "syscall_999", "cpu ", "peak "):
        assert anchor in html
    assert "<h2>Refused syscalls (4)</h2>" in html  # RunResult.to_dict() keeps tuples; the page shows them
