"""The Python API: Sandbox(config).run(argv) -> RunResult, from many threads at once."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from umlpy import RunResult, Sandbox, SandboxConfig, UmlpyError

pytestmark = pytest.mark.usefixtures("traceable")


def test_run_result_fields(build_guest) -> None:  # type: ignore[no-untyped-def]
    r = Sandbox().run([str(build_guest("int80"))])
    assert isinstance(r, RunResult)
    assert (r.exit_code, r.signal, r.returncode) == (0, None, 0)
    assert r.denied == {"i386:write": 1, "i386:getpid": 1}
    assert r.trapped >= 2 and r.denied_total == 2
    assert r.cpu_user_s >= 0 and r.max_rss_kb > 0
    assert r.tasks_created == 1


def test_signal_death(build_guest) -> None:  # type: ignore[no-untyped-def]
    r = Sandbox().run([str(build_guest("segv"))])
    assert (r.exit_code, r.signal, r.returncode) == (None, 11, 139)


def test_missing_command_raises() -> None:
    with pytest.raises(UmlpyError) as e:
        Sandbox().run(["definitely-not-a-command"])
    assert e.value.status == 127


def test_counts_processes() -> None:
    r = Sandbox().run(["sh", "-c", "for i in 1 2 3 4 5; do /bin/true; done"])
    assert r.returncode == 0
    assert r.tasks_created == 6
    assert r.execs.count("/usr/bin/true") == 5


def test_eight_sandboxes_in_parallel_threads(tmp_path: Path) -> None:
    results: dict[int, RunResult] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            d = tmp_path / str(i)
            d.mkdir()
            sb = Sandbox(SandboxConfig(writable=(str(d),)))
            script = f"echo {i} > {d}/mine; for j in $(seq 20); do cat {d}/mine >/dev/null; done; " \
                     f"ls {tmp_path} | wc -l >/dev/null; exit {i}"
            results[i] = sb.run(["sh", "-c", script])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert {i: r.returncode for i, r in results.items()} == {i: i for i in range(8)}
    for i in range(8):
        assert (tmp_path / str(i) / "mine").read_text() == f"{i}\n"


def test_sandbox_restores_caller_affinity() -> None:
    before = os.sched_getaffinity(0)
    Sandbox(SandboxConfig(cpu="same")).run(["/bin/true"])
    assert os.sched_getaffinity(0) == before


def test_cpu_same_pins_guest() -> None:
    r = Sandbox(SandboxConfig(cpu=0)).run([sys.executable, "-c", "import os,sys; sys.exit(len(os.sched_getaffinity(0)))"])
    assert r.exit_code == 1
    r = Sandbox(SandboxConfig(cpu="spread")).run([sys.executable, "-c", "import os,sys; sys.exit(len(os.sched_getaffinity(0)))"])
    assert r.exit_code == len(os.sched_getaffinity(0))
