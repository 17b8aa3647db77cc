"""``-e trace=SET``: the set syntax, strace's classes, and a filter that traps only SET."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_umlpy
from umlpy.sandbox import Sandbox, SandboxConfig
from umlpy.trace import ALL_NAMES, TraceObserver, TraceOptions, sandbox_config
from umlpy.vkernel import classes
from umlpy.vkernel.table import x86_64_name


def test_parse_set() -> None:
    assert classes.parse_set("open,close", ALL_NAMES) == {"open", "close"}
    assert classes.parse_set("%stat", ALL_NAMES) == {"stat"}
    assert classes.parse_set("%%stat", ALL_NAMES) == {"stat", "fstat", "lstat", "newfstatat", "statx"}
    assert classes.parse_set("/^rt_sig(action|return)$", ALL_NAMES) == {"rt_sigaction", "rt_sigreturn"}
    neg = classes.parse_set("!%file,read", ALL_NAMES)
    assert "read" not in neg and "openat" not in neg and "getpid" in neg
    assert classes.parse_set("none", ALL_NAMES) == frozenset()
    assert classes.parse_set("?nosuch,getpid", ALL_NAMES) == {"getpid"}
    with pytest.raises(ValueError, match="nosuch"):
        classes.parse_set("nosuch", ALL_NAMES)
    with pytest.raises(ValueError, match="%bogus"):
        classes.parse_set("%bogus", ALL_NAMES)


def test_classes_are_known_names() -> None:
    for name, members in classes.CLASSES.items():
        assert members <= ALL_NAMES, (name, sorted(members - ALL_NAMES))
    assert "openat" in classes.FILE and "openat" in classes.DESC
    assert "read" not in classes.FILE and "read" in classes.DESC
    assert classes.PURE == {"getpid", "getuid", "getgid", "geteuid", "getegid", "getppid", "getpgrp", "gettid"}


def _names(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"^(?:\d+ +)?(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if m and "resumed>" not in line:
            out.append(m.group(1))
    return out


@pytest.mark.usefixtures("traceable")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("cls", ["%file", "%desc", "%memory", "%signal", "%creds", "%pure", "%fstat", "%%stat"])
def test_class_membership_matches_strace(tmp_path: Path, cls: str, build_guest) -> None:  # type: ignore[no-untyped-def]
    """The same program under strace and umlpy shows the same calls for each class."""
    guest = str(build_guest("trace_calls"))
    a, b = tmp_path / "strace.txt", tmp_path / "umlpy.txt"
    for argv in ([guest, "3"], ["ls", "/"]):
        subprocess.run(["strace", "-f", "-qq", "-e", f"trace={cls}", "-o", str(a), *argv],
                       check=True, capture_output=True, timeout=30)
        r = run_umlpy("trace", "-qq", "-e", f"trace={cls}", "-o", str(b), "--", *argv, timeout=30)
        assert r.returncode == 0, r.stderr
        assert _names(a) == _names(b), (argv, cls)


@pytest.mark.usefixtures("traceable")
def test_filter_traps_only_the_set(build_guest) -> None:  # type: ignore[no-untyped-def]
    """With -e trace=%file, 1000 getppid calls never stop the guest."""
    guest = str(build_guest("trace_calls"))
    out = io.StringIO()
    names = classes.lookup("%file")
    obs = TraceObserver(TraceOptions(names=names, statuses=frozenset({"successful", "failed", "unfinished",
                                                                      "unavailable", "detached"})), out)
    res = Sandbox(SandboxConfig(trap_extra=tuple(sorted(names)))).run(
        [guest, "1000"], on_start=obs.started, observer=obs, env={"PATH": "/usr/bin:/bin"}
    )
    assert res.exit_code == 0
    assert "getppid" not in out.getvalue()
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = 3' in out.getvalue()
    assert res.stops < 200, res.stops

    out2 = io.StringIO()
    obs2 = TraceObserver(TraceOptions(names=None, statuses=obs.o.statuses), out2)
    res2 = Sandbox(SandboxConfig(trace_all=True)).run([guest, "1000"], on_start=obs2.started, observer=obs2)
    assert res2.stops > 2000
    assert out2.getvalue().count("getppid()") == 1000


class _Names:
    """An observer that only lists the calls that stopped."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def syscall_enter(self, ctx) -> bool:  # type: ignore[no-untyped-def]
        self.names.append(x86_64_name(ctx.nr))
        return True

    def syscall_exit(self, ctx, retval: int) -> None:  # type: ignore[no-untyped-def]
        pass

    def task_created(self, parent: int, child: int, flags: int) -> None:
        pass

    def task_exec(self, tid: int, former_tid: int) -> None:
        pass

    def task_gone(self, tid: int, status: object) -> None:
        pass

    def signal(self, tid: int, sig: int) -> None:
        pass

    def group_stop(self, tid: int, sig: int) -> None:
        pass


@pytest.mark.usefixtures("traceable")
def test_a_narrow_set_stops_for_nothing_else() -> None:
    """``umlpy trace -e trace=%file``'s sandbox: forks and execs too stop only for %file calls."""
    names = classes.lookup("%file")
    opts = TraceOptions(names=names, statuses=frozenset({"successful"}))
    obs = _Names()
    res = Sandbox(sandbox_config(opts)).run(["sh", "-c", "for i in 1 2 3; do /bin/true; done; getconf PATH"],
                                            observer=obs, env={"PATH": "/usr/bin:/bin"})
    assert res.exit_code == 0
    assert "execve" in obs.names
    assert set(obs.names) <= names, sorted(set(obs.names) - names)
