"""Addresses read back in the guest's view, --publish, and per-connection byte counts.

Real guests under the real tracer.  Ports are moved on purpose (``--publish
HOST:GUEST`` with HOST != GUEST) so that a name the tracer forgot to
translate shows up as the wrong number.  Everything stays on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_umlpy, umlpy_cmd


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on host loopback right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_NAMES = """
import socket, sys
g = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", g)); s.listen()
print("listener", s.getsockname())
c = socket.create_connection(("10.0.2.15", g))
print("client peer", c.getpeername())
print("client local", c.getsockname()[0])
a, peer = s.accept()
print("accepted peer", peer[0], peer[1] == c.getsockname()[1])
print("accepted local", a.getsockname(), a.getpeername() == peer)
c2 = socket.create_connection(("0.0.0.0", g))
print("client2 peer", c2.getpeername())
a2, peer2 = s.accept()
print("accepted2", peer2[0], a2.getsockname())
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 0))
print("udp", u.getsockname()[0])
try:
    u.getpeername()
except OSError as e:
    print("udp peer", e.errno)
"""


@pytest.mark.parametrize("publish", [False, True])
def test_names_read_back_as_the_guest_wrote_them(publish: bool) -> None:
    host, guest = _free_ports(2)
    opts = ("--publish", f"127.0.0.1:{host}:{guest}") if publish else ()
    r = run_umlpy("run", "--net", "none", "-q", *opts, "--", sys.executable, "-c", _NAMES, str(guest))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"listener ('0.0.0.0', {guest})",  # the wildcard, the guest's port
        f"client peer ('10.0.2.15', {guest})",  # what it connected to
        "client local 10.0.2.15",  # the source Linux picks for a local address
        "accepted peer 10.0.2.15 True",
        f"accepted local ('10.0.2.15', {guest}) True",
        f"client2 peer ('127.0.0.1', {guest})",  # 0.0.0.0 reads back as loopback, as in Linux
        f"accepted2 127.0.0.1 ('127.0.0.1', {guest})",
        "udp 0.0.0.0",
        "udp peer 107",  # ENOTCONN
    ]


def test_accept_address_pointer_with_zero_low_half(build_guest) -> None:  # type: ignore[no-untyped-def]
    """The filter tests all 64 bits of accept4's address pointer: 0x100000000 stops too,
    and the peer port written there is the guest's, not the host port behind it."""
    exe = build_guest("net_accept_high")
    server, client, host1, host2 = _free_ports(4)
    r = run_umlpy("run", "--net", "none", "-q", "--publish", f"127.0.0.1:{host1}:{client}",
                  "--publish", f"127.0.0.1:{host2}:{client + 1}", "--", str(exe), str(server), str(client))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"high {client} len 16", f"low {client + 1}"]


def test_accept_restarted_after_a_signal_still_fills_the_address(build_guest) -> None:  # type: ignore[no-untyped-def]
    """accept4 interrupted by SIGCHLD (SA_RESTART) is restarted by the kernel with the
    registers as they are: the restarted call must still stop and get the guest's view.
    (--host-fs: the vfs's /proc hides a zombie before its parent reaps it, which the
    guest's own synchronisation relies on.)"""
    exe = build_guest("net_accept_restart")
    server, client, host = _free_ports(3)
    r = run_umlpy("run", "--net", "none", "-q", "--host-fs", "--publish", f"127.0.0.1:{host}:{client}", "--",
                  str(exe), str(server), str(client))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"peer {client} len 16 chld 1\n"


class _Umlpy:
    """``umlpy run`` in the background, its stderr read line by line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(umlpy_cmd(*args), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # EOF
            self._cond.notify_all()

    def wait_line(self, prefix: str, timeout: float = 60) -> str:
        with self._cond:
            found = self._cond.wait_for(lambda: any(x.startswith(prefix) or x == "" for x in self.lines), timeout)
            assert found, f"no {prefix!r} on stderr: {self.lines}"
            line = next(x for x in self.lines if x.startswith(prefix) or x == "")
            assert line, f"umlpy ended without {prefix!r}: {''.join(self.lines)}"
            return line

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        self._reader.join()
        return out


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "hello.txt").write_bytes(b"hello from the guest\n")
    yield tmp_path


def _get(port: int, path: str) -> tuple[bytes, bytes]:
    """A raw HTTP/1.0 GET from the test process; (request, whole response)."""
    request = f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return request, b"".join(chunks)


@pytest.mark.parametrize("automatic", [False, True])
def test_guest_http_server_reachable_through_published_port(site: Path, automatic: bool) -> None:
    host, guest = _free_ports(2)
    spec = f"127.0.0.1::{guest}" if automatic else f"127.0.0.1:{host}:{guest}"
    report = site / "report.json"
    u = _Umlpy("run", "--net", "none", "--publish", spec, "--report", str(report), "--",
               sys.executable, "-u", "-m", "http.server", "--bind", "0.0.0.0", str(guest), cwd=site)
    try:
        line = u.wait_line("umlpy: published ")
        got = int(line.rsplit(":", 1)[1])
        assert line == f"umlpy: published guest port {guest}/tcp at 127.0.0.1:{got}\n"
        if not automatic:
            assert got == host
        request, response = _get(got, "/hello.txt")
    finally:
        out = u.stop()
    assert response.startswith(b"HTTP/1.0 200") and response.endswith(b"\r\n\r\nhello from the guest\n")
    # Inside, getsockname shows the guest's port (http.server prints it).
    assert f"Serving HTTP on 0.0.0.0 port {guest} " in out
    data = json.loads(report.read_text())
    assert data["published"] == [{"guest_port": guest, "protocol": "tcp", "host_address": "127.0.0.1",
                                  "host_port": got}]
    accepts = [c for c in data["connections"] if c["op"] == "accept"]
    assert len(accepts) == 1 and accepts[0]["port"] == guest and accepts[0]["count"] == 1
    assert accepts[0]["bytes_received"] == len(request)
    assert accepts[0]["bytes_sent"] == len(response)


def test_bad_publish_is_a_usage_error() -> None:
    for spec in ("x80", "0:80", "1:2/sctp", "1.2.3:4:5"):
        r = run_umlpy("run", "--publish", spec, "--", "true")
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "bad --publish" in r.stderr, r.stderr


class _Server:
    """A host loopback TCP server: reads the request to EOF-less end, answers N bytes, closes."""

    def __init__(self, answer: int) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                need = 1234
                while need > 0:
                    chunk = c.recv(need)
                    if not chunk:
                        break
                    need -= len(chunk)
                c.sendall(b"y" * self.answer)


def test_connection_bytes_in_report_and_summary(tmp_path: Path) -> None:
    srv = _Server(5000)
    prog = (
        "import socket, sys\n"
        "for i in range(3):\n"
        "    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "    c.sendall(b'x' * 1234)\n"
        "    n = 0\n"
        "    while d := c.recv(65536): n += len(d)\n"
        "    c.close(); print(n)\n"
    )
    report = tmp_path / "r.json"
    try:
        r = run_umlpy("run", "--net", "none", "--allow", f"127.0.0.1:{srv.port}", "--report", str(report), "--",
                      sys.executable, "-c", prog, str(srv.port))
    finally:
        srv.sock.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["5000"] * 3
    (rec,) = json.loads(report.read_text())["connections"]
    assert (rec["op"], rec["count"], rec["bytes_sent"], rec["bytes_received"]) == ("connect", 3, 3 * 1234, 3 * 5000)
    assert f"network: 1 connection record(s): connect 127.0.0.1:{srv.port}/tcp x3: sent 3.6 KB, received 14.6 KB" \
        in r.stderr, r.stderr
