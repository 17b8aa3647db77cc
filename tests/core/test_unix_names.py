"""Pathname unix sockets show the names the guest bound (umlpy.vkernel.unixnames):
the tracer binds them through its own directory fd, which the guest never sees."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import GUESTS, run_native, run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


@pytest.mark.parametrize("net", ["none", "host"])
def test_unix_socket_names_match_native(tmp_path: Path, net: str) -> None:
    native_dir, guest_dir = tmp_path / "native", tmp_path / "guest"
    native_dir.mkdir()
    guest_dir.mkdir()
    script = str(GUESTS / "unix_names.py")
    want = run_native([sys.executable, script, str(native_dir)])
    assert want.returncode == 0, want.stderr
    got = run_umlpy("run", "-q", "--discard", "--state-dir", str(tmp_path / "state"), "--net", net, "--",
                    sys.executable, script, str(guest_dir))
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout.replace(str(native_dir), str(guest_dir))
    assert "/proc/self/fd" not in got.stdout
    assert not list(guest_dir.iterdir())  # the sockets were made in the sandbox
