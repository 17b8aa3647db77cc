"""The virtual network enforced on real guests: --net none/loopback, --allow/--deny.

Every "refused" claim is checked from outside too: the test's own servers
count what they accepted or received, so a refusal that only looks like
one to the guest (the call ran, the guest saw an errno) would fail.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_umlpy
from umlpy.vkernel import filter as seccomp_filter


class TcpServer:
    """A host loopback TCP server that counts the connections it accepted."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            c.close()

    def settle(self) -> int:
        time.sleep(0.2)  # anything queued in the backlog is accepted by now
        return self.accepted

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def tcp() -> Iterator[TcpServer]:
    s = TcpServer()
    yield s
    s.close()


@pytest.fixture
def tcp2() -> Iterator[TcpServer]:
    s = TcpServer()
    yield s
    s.close()


def _connect_prog(*ports: int) -> str:
    return (
        "import socket\n"
        f"for p in {list(ports)!r}:\n"
        "  try: socket.create_connection(('127.0.0.1', p), timeout=2).close(); print('connected', p)\n"
        "  except OSError as e: print('refused', p, e.errno)\n"
    )


def test_host_network_traps_nothing_more() -> None:
    host = seccomp_filter.trapped_names()
    checked = seccomp_filter.trapped_names(net_none=True)
    for name in ("connect", "bind", "listen", "sendto", "sendmsg", "sendmmsg", "socket"):
        assert name not in host
        assert name in checked


def test_guest_http_server_and_client_talk_under_none(tmp_path: Path) -> None:
    prog = (
        "import subprocess, sys, urllib.request\n"
        "p = subprocess.Popen([sys.executable, '-u', '-m', 'http.server', '--bind', '127.0.0.1', '0'],\n"
        "                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=sys.argv[1])\n"
        "line = p.stdout.readline()\n"
        "port = int(line.split(' port ')[1].split()[0])\n"
        "body = urllib.request.urlopen(f'http://127.0.0.1:{port}/hello.txt', timeout=5).read()\n"
        "print('got', body.decode().strip())\n"
        "p.terminate(); p.wait()\n"
    )
    (tmp_path / "hello.txt").write_text("hello from the guest server\n")
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--net", "none", "--report", str(report), "--", sys.executable, "-c", prog, str(tmp_path),
                  timeout=30)
    assert r.stdout == "got hello from the guest server\n", r.stderr
    conns = json.loads(report.read_text())["connections"]
    assert any(c["op"] == "bind" and c["allowed"] and c["address"] == "127.0.0.1" for c in conns), conns
    assert any(c["op"] == "connect" and c["allowed"] and c["reason"] == "guest's own service" for c in conns), conns
    assert not [c for c in conns if not c["allowed"]], conns


def test_host_loopback_service_refused_under_none_reachable_under_loopback(tcp: TcpServer, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--net", "none", "--report", str(report), "--", sys.executable, "-c", _connect_prog(tcp.port))
    assert r.stdout == f"refused {tcp.port} 111\n", r.stderr  # ECONNREFUSED: nobody in the guest listens there
    assert tcp.settle() == 0  # the host server never saw the guest
    rep = json.loads(report.read_text())
    assert rep["denied"] == {"connect": 1}
    [c] = rep["connections"]
    assert (c["op"], c["address"], c["port"], c["allowed"], c["errno_name"]) == \
        ("connect", "127.0.0.1", tcp.port, False, "ECONNREFUSED")
    assert "umlpy: network: denied 1 destination(s): connect 127.0.0.1:" in r.stderr

    r = run_umlpy("run", "--net", "loopback", "-q", "--", sys.executable, "-c", _connect_prog(tcp.port))
    assert r.stdout == f"connected {tcp.port}\n", r.stderr
    assert tcp.settle() == 1


def test_allow_rule_opens_exactly_one_port(tcp: TcpServer, tcp2: TcpServer) -> None:
    r = run_umlpy("run", "--net", "none", "-q", "--allow", f"127.0.0.1:{tcp.port}", "--",
                  sys.executable, "-c", _connect_prog(tcp.port, tcp2.port))
    assert r.stdout.splitlines() == [f"connected {tcp.port}", f"refused {tcp2.port} 111"], r.stderr
    assert (tcp.settle(), tcp2.settle()) == (1, 0)
    # last match wins: a later --deny takes the port back (stream connect: ECONNREFUSED)
    r = run_umlpy("run", "--net", "loopback", "-q", "--allow", f"127.0.0.1:{tcp.port}",
                  "--deny", f"127.0.0.1:{tcp.port}/tcp", "--", sys.executable, "-c", _connect_prog(tcp.port, tcp2.port))
    assert r.stdout.splitlines() == [f"refused {tcp.port} 111", f"connected {tcp2.port}"], r.stderr
    assert (tcp.settle(), tcp2.settle()) == (1, 1)


def test_bad_rule_is_a_usage_error() -> None:
    r = run_umlpy("run", "--net", "none", "--allow", "10.0.0.1/8", "--", "true")
    assert r.returncode == 2
    assert r.stderr.startswith("umlpy: ") and "10.0.0.1/8" in r.stderr


def test_udp_to_denied_addresses_is_refused(tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    prog = (
        "import socket\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for dest in (('127.0.0.1', {port}), ('192.0.2.1', 9)):\n"
        "  try: u.sendto(b'x', dest); print('sent')\n"
        "  except OSError as e: print('sendto', e.errno)\n"
        f"  try: u.sendmsg([b'y'], [], 0, dest); print('sent')\n"
        "  except OSError as e: print('sendmsg', e.errno)\n"
        "own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); own.bind(('127.0.0.1', 0))\n"
        "u.sendmsg([b'to', b'self'], [], 0, own.getsockname()); print('own', own.recv(10))\n"
    )
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--net", "none", "--report", str(report), "--", sys.executable, "-c", prog)
    assert r.stdout.splitlines() == ["sendto 111", "sendmsg 111", "sendto 101", "sendmsg 101", "own b'toself'"], \
        r.stderr
    assert json.loads(report.read_text())["denied"] == {"sendto": 2, "sendmsg": 2}
    r = run_umlpy("run", "--net", "loopback", "-q", "--deny", f"127.0.0.1:{port}/udp", "--",
                  sys.executable, "-c", prog)
    assert r.stdout.splitlines()[:2] == ["sendto 1", "sendmsg 1"], r.stderr  # a --deny on datagrams: EPERM
    udp.setblocking(False)
    with pytest.raises(BlockingIOError):
        udp.recv(10)  # nothing ever arrived
    udp.close()


def test_connect_sockaddr_flip_never_reaches_the_denied_server(build_guest, tcp: TcpServer) -> None:  # type: ignore[no-untyped-def]
    """A thread flips connect's port between the guest's own server and a host one."""
    r = run_umlpy("run", "--net", "none", "--cpu", "spread", "-q", "--",
                  str(build_guest("net_connect_race")), str(tcp.port), "3000", timeout=60)
    counts = dict(kv.split("=") for kv in r.stdout.split())
    assert counts.keys() == {"own", "refused", "other"}, (r.stdout, r.stderr)
    assert counts["other"] == "0", r.stdout
    assert int(counts["own"]) + int(counts["refused"]) == 3000
    assert tcp.settle() == 0


def test_listen_without_bind_stays_on_loopback() -> None:
    """listen(2)'s autobind would pick the wildcard address; under none the host socket
    is on host loopback (seen in the host's /proc/net/tcp*), while the guest reads back
    the wildcard, as it would natively."""
    prog = (
        "import socket, struct\n"
        "def host_view(fam, port):\n"
        "    for line in open('/proc/net/tcp' + ('6' if fam == socket.AF_INET6 else '')).readlines()[1:]:\n"
        "        local, st = line.split()[1], line.split()[3]\n"
        "        a, p = local.split(':')\n"
        "        if int(p, 16) == port and st == '0A':\n"
        "            raw = b''.join(struct.pack('<I', int(a[i:i + 8], 16)) for i in range(0, len(a), 8))\n"
        "            return socket.inet_ntop(fam, raw)\n"
        "s = socket.socket(); s.listen(); print(s.getsockname()[0], host_view(socket.AF_INET, s.getsockname()[1]))\n"
        "c = socket.create_connection(('127.0.0.1', s.getsockname()[1])); s.accept(); print('ok')\n"
        "s6 = socket.socket(socket.AF_INET6); s6.listen()\n"
        "print(s6.getsockname()[0], host_view(socket.AF_INET6, s6.getsockname()[1]))\n"
    )
    r = run_umlpy("run", "--net", "none", "-q", "--", sys.executable, "-c", prog)
    assert r.stdout.splitlines() == ["0.0.0.0 127.0.0.1", "ok", ":: ::1"], r.stderr
    r = run_umlpy("run", "--net", "host", "-q", "--", sys.executable, "-c", prog)
    assert r.stdout.splitlines() == ["0.0.0.0 0.0.0.0", "ok", ":: ::"], r.stderr


_SENDMMSG = """
import ctypes, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); own.bind(('127.0.0.1', 0)); own.settimeout(2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
keep = []
def sendmmsg(entries):
    arr = ctypes.create_string_buffer(64 * len(entries))
    for i, (data, port) in enumerate(entries):
        d = ctypes.create_string_buffer(data, len(data))
        iov = (ctypes.c_uint64 * 2)(ctypes.addressof(d), len(data))
        sa = ctypes.create_string_buffer(struct.pack('=H', 2) + struct.pack('!H', port)
                                         + socket.inet_aton('127.0.0.1') + bytes(8), 16)
        keep.extend((d, iov, sa))
        struct.pack_into('=QI4xQQQQi4x', arr, i * 64, ctypes.addressof(sa), 16, ctypes.addressof(iov), 1, 0, 0, 0)
    r = libc.sendmmsg(u.fileno(), arr, len(entries), 0)
    lens = [struct.unpack_from('=I', arr, i * 64 + 56)[0] for i in range(len(entries))]
    print(r, ctypes.get_errno() if r < 0 else 0, lens)
port = own.getsockname()[1]
sendmmsg([(b'one', port), (b'three', port)]); print(own.recv(10), own.recv(10))
sendmmsg([(b'x', port), (b'y', int(sys.argv[1]))]); print(own.recv(10))
sendmmsg([(b'z', int(sys.argv[1]))])
"""


def test_sendmmsg_is_checked_per_entry(tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--net", "none", "--report", str(report), "--", sys.executable, "-c", _SENDMMSG,
                  str(udp.getsockname()[1]))
    # like the kernel: a failing entry after the first ends the call with the count sent so far
    assert r.stdout.splitlines() == ["2 0 [3, 5]", "b'one' b'three'", "1 0 [1, 0]", "b'x'", "-1 111 [0]"], r.stderr
    rep = json.loads(report.read_text())
    assert rep["denied"] == {"sendmmsg": 1}
    assert [c["count"] for c in rep["connections"] if not c["allowed"]] == [2]
    udp.setblocking(False)
    with pytest.raises(BlockingIOError):
        udp.recv(10)
    udp.close()


_PROTOCOL_SWAP = r"""
import ctypes, os, socket, struct, sys, threading
port, rounds = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
own.bind(("127.0.0.1", port))          # the guest serves UDP on the port...
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tcps = [socket.socket() for _ in range(8)]
fd = os.dup(udp.fileno())
addr = struct.pack("<HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton("127.0.0.1"))
done = False
def flip():
    i = 0
    while not done:                    # ...and swaps a TCP socket in during the check
        os.dup2(tcps[i % 8].fileno(), fd); os.dup2(udp.fileno(), fd); i += 1
t = threading.Thread(target=flip); t.start()
for _ in range(rounds):
    libc.connect(fd, addr, len(addr))
done = True; t.join(); print("finished")
"""


def test_protocol_swap_during_connect_check(tcp: TcpServer, tmp_path: Path) -> None:
    """A guest that owns UDP port P must not reach the host's TCP service on P by swapping sockets."""
    prog = tmp_path / "swap.py"
    prog.write_text(_PROTOCOL_SWAP)
    r = run_umlpy("run", "--net", "none", "-q", "--cpu", "spread", "--", sys.executable, str(prog),
                  str(tcp.port), "2000", timeout=120)
    assert r.stdout == "finished\n", r.stderr
    assert tcp.settle() == 0  # the host's TCP service never accepted


_UNIX_RACE = r"""
import os, socket, sys, threading
host_path, d = sys.argv[1], sys.argv[2]
own = os.path.join(d, "own.sock")
srv = socket.socket(socket.AF_UNIX); srv.bind(own); srv.listen(512)
def drain():
    while True:
        c, _ = srv.accept(); c.close()
threading.Thread(target=drain, daemon=True).start()
link = os.path.join(d, "l")
os.symlink(own, link)
done = False
def flip():                      # swap the symlink between our socket and the host's
    while not done:
        os.symlink(host_path, link + ".h"); os.replace(link + ".h", link)
        os.symlink(own, link + ".o"); os.replace(link + ".o", link)
threading.Thread(target=flip).start()
ok = refused = 0
for _ in range(int(sys.argv[3])):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(link); ok += 1
    except OSError:
        refused += 1
    s.close()
done = True
print("own" if ok else "none", "finished")
"""


def test_unix_sockets_guest_pairs_work_host_daemons_refused(tmp_path: Path) -> None:
    host = tmp_path / "host.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(host))
    srv.listen(512)
    srv.setblocking(False)
    try:
        work = tmp_path / "w"
        work.mkdir()
        prog = tmp_path / "race.py"
        prog.write_text(_UNIX_RACE)
        r = run_umlpy("run", "-q", "--cpu", "spread", "--", sys.executable, str(prog), str(host), str(work), "500",
                      timeout=120)
        assert r.stdout == "own finished\n", r.stderr  # the guest reached its own listener...
        with pytest.raises(BlockingIOError):
            srv.accept()  # ...and never the host's, whatever the symlink said
        r = run_umlpy("run", "-q", "--net", "host", "--", sys.executable, "-c",
                      f"import socket; socket.socket(socket.AF_UNIX).connect({str(host)!r}); print('reached')")
        assert r.stdout == "reached\n", r.stderr
        srv.accept()[0].close()
        # Bound into the view on purpose, the host's socket is reachable under --net none too.
        r = run_umlpy("run", "-q", "--bind", f"{host}:/run/svc.sock", "--", sys.executable, "-c",
                      "import socket; socket.socket(socket.AF_UNIX).connect('/run/svc.sock'); print('reached')")
        assert r.stdout == "reached\n", r.stderr
        srv.accept()[0].close()
    finally:
        srv.close()


_UNIX_DGRAM = """
import os, socket, sys
host, work = sys.argv[1], sys.argv[2]
own = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
own.bind(os.path.join(work, "own.sock"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for name, send in [("sendto", lambda a: s.sendto(b"hi", a)), ("sendmsg", lambda a: s.sendmsg([b"h", b"i"], [], 0, a))]:
    try:
        send(host)
        print(name, "host", "sent")
    except OSError as e:
        print(name, "host", e.errno)
    send(os.path.join(work, "own.sock"))
    print(name, "own", own.recv(10))
"""


def test_unix_datagrams_reach_only_guest_sockets(tmp_path: Path) -> None:
    host = tmp_path / "host.dgram"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(host))
    srv.setblocking(False)
    work = tmp_path / "w"
    (work / "h").mkdir(parents=True)
    try:
        for fs in ((), ("--host-fs",)):  # through the vfs, and straight on the host's filesystem
            r = run_umlpy("run", "-q", *fs, "--", sys.executable, "-c", _UNIX_DGRAM, str(host), str(work))
            assert r.stdout.splitlines() == ["sendto host 111", "sendto own b'hi'", "sendmsg host 111",
                                             "sendmsg own b'hi'"], r.stderr  # ECONNREFUSED: as if nobody were bound
        with pytest.raises(BlockingIOError):
            srv.recv(10)  # nothing arrived
        r = run_umlpy("run", "-q", "--net", "host", "--host-fs", "--", sys.executable, "-c", _UNIX_DGRAM, str(host),
                      str(work / "h"))
        assert r.stdout.splitlines()[0] == "sendto host sent", r.stderr
        assert srv.recv(10) == b"hi"
    finally:
        srv.close()


_UNIX_DGRAM_RACE = r"""
import os, socket, sys, threading
host_path, d = sys.argv[1], sys.argv[2]
own = os.path.join(d, "own.dgram")
mine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); mine.bind(own)
link = os.path.join(d, "l")
os.symlink(own, link)
done = False
def flip():                      # swap the symlink between our socket and the host's
    while not done:
        os.symlink(host_path, link + ".h"); os.replace(link + ".h", link)
        os.symlink(own, link + ".o"); os.replace(link + ".o", link)
threading.Thread(target=flip).start()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ok = 0
for _ in range(int(sys.argv[3])):
    try:
        s.sendto(b"x", link); ok += 1; mine.recv(1)
    except OSError:
        pass
done = True
print("own" if ok else "none", "finished")
"""


def test_unix_datagram_symlink_race_never_reaches_the_host(tmp_path: Path) -> None:
    host = tmp_path / "host.dgram"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(host))
    srv.setblocking(False)
    work = tmp_path / "w"
    work.mkdir()
    try:
        r = run_umlpy("run", "-q", "--cpu", "spread", "--", sys.executable, "-c", _UNIX_DGRAM_RACE, str(host), str(work),
                      "500", timeout=120)
        assert r.stdout == "own finished\n", r.stderr
        with pytest.raises(BlockingIOError):
            srv.recv(10)
    finally:
        srv.close()
