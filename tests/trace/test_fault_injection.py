"""``umlpy trace --inject``: strace's tampering, plus path= and fd= predicates."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import run_umlpy
from umlpy.vkernel.inject import When, parse_rule

pytestmark = pytest.mark.usefixtures("traceable")


def test_error_by_path_glob() -> None:
    r = run_umlpy("trace", "-o", "/dev/null", "--inject", "openat:path=*hostname:error=EACCES", "--",
                  "sh", "-c", "cat /etc/hostname; cat /etc/passwd >/dev/null && echo passwd-ok")
    assert "cat: /etc/hostname: Permission denied" in r.stderr
    assert r.stdout == "passwd-ok\n"


def test_retval_and_when() -> None:
    prog = "import os; print([os.getppid() for _ in range(6)])"
    r = run_umlpy("trace", "-o", "/dev/null", "--inject", "getppid:retval=7:when=2..6+2", "--", sys.executable, "-c", prog)
    values = eval(r.stdout)
    assert [v == 7 for v in values] == [False, True, False, True, False, True]


def test_fd_predicate_and_signal() -> None:
    prog = ("import os, signal, sys\n"
            "signal.signal(signal.SIGUSR1, lambda *a: print('got USR1', flush=True))\n"
            "try:\n os.write(2, b'err\\n')\nexcept OSError as e:\n print('write2', e.errno, flush=True)\n"
            "os.write(1, b'out\\n')\n")
    r = run_umlpy("trace", "-o", "/dev/null", "--inject", "write:fd=2:error=ENOSPC:signal=USR1", "--",
                  sys.executable, "-c", prog)
    assert "err" not in r.stderr
    assert sorted(r.stdout.splitlines()) == ["got USR1", "out", "write2 28"]  # ENOSPC, and the signal


@pytest.mark.parametrize(
    "rule", ["", "bogus:error=EIO", "openat:error=EWHAT", "openat", "openat:when=0:error=EIO", "openat:color=red"]
)
def test_bad_rules_are_one_line_usage_errors(rule: str) -> None:
    r = run_umlpy("trace", "--inject", rule, "--", "true")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_when_expressions() -> None:
    assert [n for n in range(1, 10) if parse_rule("read:error=EIO:when=3").when(n)] == [3]
    assert [n for n in range(1, 10) if parse_rule("read:error=EIO:when=3+").when(n)] == [3, 4, 5, 6, 7, 8, 9]
    assert [n for n in range(1, 10) if parse_rule("read:error=EIO:when=2+3").when(n)] == [2, 5, 8]
    assert [n for n in range(1, 10) if parse_rule("read:error=EIO:when=2..4").when(n)] == [2, 3, 4]
    assert parse_rule("read:error=EIO").when == When(1, None, 1)
