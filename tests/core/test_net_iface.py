"""Virtual interfaces on real guests: iproute2, glibc's getifaddrs/if_nameindex, the
SIOCGIF* ioctls and uname all show umlpy's lo/eth0 and hostname under --net none and
loopback, and the host's own under --net host (compared with the same program run
natively)."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import run_native, run_umlpy
from umlpy.vkernel import filter as seccomp_filter
from umlpy.vkernel.netcalls import SIOC_TRAPPED
from umlpy.vnet.ifreq import SIOC

pytestmark = pytest.mark.usefixtures("traceable")

needs_ip = pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 is not installed")

IOCTLS = r"""
import errno, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def q(req, name):
    try:
        return fcntl.ioctl(s.fileno(), req, struct.pack("16s24x", name.encode()))[16:]
    except OSError as e:
        return errno.errorcode[e.errno]
for name in [n for _, n in socket.if_nameindex()] + ["nosuch0"]:
    a, m, f, i, mtu, hw = (q(r, name) for r in (0x8915, 0x891B, 0x8913, 0x8933, 0x8921, 0x8927))
    if isinstance(f, str):
        print(name, f)
        continue
    print(name, socket.inet_ntoa(a[4:8]) if isinstance(a, bytes) else a,
          socket.inet_ntoa(m[4:8]) if isinstance(m, bytes) else m, struct.unpack("=H", f[:2])[0],
          struct.unpack("=i", i[:4])[0], struct.unpack("=i", mtu[:4])[0], hw[2:8].hex())
import array
buf = array.array("B", bytes(40 * 16))
n = struct.unpack("iL", fcntl.ioctl(s.fileno(), 0x8912, struct.pack("iL", len(buf), buf.buffer_info()[0])))[0]
print("ifconf", [bytes(buf[o:o + 16]).rstrip(b"\0").decode() + "=" + socket.inet_ntoa(bytes(buf[o + 20:o + 24]))
                 for o in range(0, n, 40)])
print("name 2", fcntl.ioctl(s.fileno(), 0x8910, struct.pack("16si20x", b"", 2))[:16].rstrip(b"\0").decode())
"""

NETLINK = r"""
import socket, struct, os
# Python's own netlink socket: bind, getsockname, plain send() (answered by the
# tracer's service thread) and sendto() with an address (answered in the handler).
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
pid, groups = s.getsockname()
print("portid is pid", pid == os.getpid(), groups)
def dump(kind, seq, send):
    send(struct.pack("=IHHII", 20, kind, 0x301, seq, 0) + bytes(4))
    names, done = [], False
    while not done:
        data = s.recv(65536)
        off = 0
        while off < len(data):
            length, typ, flags, rseq, rpid = struct.unpack_from("=IHHII", data, off)
            assert rseq == seq and rpid == pid, (rseq, rpid)
            if typ == 3:
                done = True
            elif typ == 16:
                attrs, a = data[off + 32:off + length], 0
                while a < len(attrs):
                    alen, atype = struct.unpack_from("=HH", attrs, a)
                    if atype == 3:
                        names.append(attrs[a + 4:a + alen].rstrip(b"\0").decode())
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3
    return names
print("send", dump(18, 1, s.send))
print("sendto", dump(18, 2, lambda b: s.sendto(b, (0, 0))))
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_STREAM, socket.NETLINK_ROUTE)
except OSError as e:
    print("stream", e.errno)
"""


def test_filter_keeps_data_calls_native() -> None:
    trapped = seccomp_filter.trapped_names(net_none=True)
    for name in ("recvmsg", "recvfrom", "recvmmsg", "read", "write", "readv", "writev"):
        assert name not in trapped
    assert {"getsockname", "getpeername"} <= set(trapped)
    assert "uname" not in trapped  # only when the hostname is virtual (the sandbox adds it)


def test_filter_traps_every_netdevice_request() -> None:
    assert set(SIOC_TRAPPED) == {int(r) for r in SIOC}  # netcalls keeps the numbers for a light start-up


@needs_ip
@pytest.mark.parametrize("mode", ["none", "loopback"])
def test_ip_shows_the_virtual_interfaces(mode: str) -> None:
    r = run_umlpy("run", "--net", mode, "--", "sh", "-c", "ip -o addr; echo --; ip route; echo --; ip -o link")
    assert r.returncode == 0, r.stderr
    addr, route, link = r.stdout.split("--\n")
    assert [line.split()[1:4] for line in addr.splitlines()] == [
        ["lo", "inet", "127.0.0.1/8"], ["lo", "inet6", "::1/128"], ["eth0", "inet", "10.0.2.15/24"]]
    assert route.splitlines() == ["default via 10.0.2.2 dev eth0 ",
                                  "10.0.2.0/24 dev eth0 proto kernel scope link src 10.0.2.15 "]
    assert [line.split()[1] for line in link.splitlines()] == ["lo:", "eth0:"]
    assert "link/ether 52:54:00:12:34:56" in link


@needs_ip
def test_ip_with_host_network_matches_native() -> None:
    cmd = ["sh", "-c", "ip -o addr; ip route; ip -o link"]
    assert run_umlpy("run", "--net", "host", "--", *cmd).stdout == run_native(cmd).stdout


@needs_ip
def test_ip_cannot_change_anything() -> None:
    before = run_native(["ip", "-o", "link", "show", "lo"]).stdout
    r = run_umlpy("run", "--", "sh", "-c", "ip link set lo mtu 1400; echo rc=$?; ip addr add 10.9.9.9/32 dev lo; "
                                          "echo rc=$?")
    assert "rc=2\n" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    assert run_native(["ip", "-o", "link", "show", "lo"]).stdout == before


def test_hostname_and_if_nameindex() -> None:
    prog = "import socket; print(socket.if_nameindex()); print(socket.gethostname())"
    r = run_umlpy("run", "--", "sh", "-c", f"hostname -I; hostname; uname -n; {sys.executable} -c '{prog}'")
    assert r.stdout == "10.0.2.15 \numlpy\numlpy\n[(1, 'lo'), (2, 'eth0')]\numlpy\n", r.stderr
    host = run_umlpy("run", "--net", "host", "--", sys.executable, "-c", prog)
    assert host.stdout == f"{socket.if_nameindex()}\n{socket.gethostname()}\n", host.stderr


def test_ip_and_hostname_options() -> None:
    r = run_umlpy("run", "--ip", "192.168.7.9/24", "--hostname", "box-1", "--",
                  "sh", "-c", "hostname -I; hostname")
    assert r.stdout == "192.168.7.9 \nbox-1\n", r.stderr
    if shutil.which("ip"):
        route = run_umlpy("run", "--ip", "192.168.7.9/24", "--", "ip", "route").stdout
        assert route.startswith("default via 192.168.7.1 dev eth0 ")
    # --hostname alone also applies to the host network
    assert run_umlpy("run", "--net", "host", "--hostname", "hh", "--", "hostname").stdout == "hh\n"


@pytest.mark.parametrize("args, message", [
    (["--ip", "10.0.2.300/24"], "umlpy: bad --ip '10.0.2.300/24'"),
    (["--ip", "10.0.2.15"], "give the prefix length"),
    (["--hostname", "no spaces"], "umlpy: bad --hostname 'no spaces'"),
    (["--net", "host", "--ip", "10.0.0.3/24"], "--ip needs a virtual network"),
])
def test_bad_options_are_one_line_errors(args: list[str], message: str) -> None:
    r = run_umlpy("run", *args, "--", "true")
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_siocgif_ioctls(tmp_path: Path) -> None:
    r = run_umlpy("run", "--", sys.executable, "-c", IOCTLS)
    assert r.stdout.splitlines() == [
        "lo 127.0.0.1 255.0.0.0 73 1 65536 000000000000",
        "eth0 10.0.2.15 255.255.255.0 4163 2 1500 525400123456",
        "nosuch0 ENODEV",
        "ifconf ['lo=127.0.0.1', 'eth0=10.0.2.15']",
        "name 2 eth0",
    ], r.stderr
    host = run_umlpy("run", "--net", "host", "--", sys.executable, "-c", IOCTLS)
    assert host.stdout == run_native([sys.executable, "-c", IOCTLS]).stdout


def test_interface_setters_refused_and_reported(tmp_path: Path) -> None:
    prog = ("import fcntl, socket, struct\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try: fcntl.ioctl(s.fileno(), 0x8922, struct.pack('16si20x', b'lo', 1400)); print('changed')\n"
            "except OSError as e: print('refused', e.errno)\n"
            "try: fcntl.ioctl(open('/dev/null'), 0x8915, struct.pack('16s24x', b'lo'))\n"
            "except OSError as e: print('file', e.errno)\n")
    mtu = Path("/sys/class/net/lo/mtu").read_text()
    report = tmp_path / "r.json"
    r = run_umlpy("run", "--report", str(report), "--", sys.executable, "-c", prog)
    assert r.stdout == "refused 1\nfile 25\n", r.stderr  # EPERM; ENOTTY on a non-socket
    assert Path("/sys/class/net/lo/mtu").read_text() == mtu
    assert json.loads(report.read_text())["denied"] == {"ioctl": 1}


def test_python_netlink_socket() -> None:
    r = run_umlpy("run", "--", sys.executable, "-c", NETLINK)
    assert r.stdout == "portid is pid True 0\nsend ['lo', 'eth0']\nsendto ['lo', 'eth0']\nstream 94\n", r.stderr


def test_ioctl_on_a_swapped_fd_never_reaches_the_host() -> None:
    """A thread keeps swapping the ioctl's fd between a socket and a file: the guest may
    see ENOTTY or the virtual address, never the host's."""
    prog = r"""
import fcntl, os, socket, struct, threading
sock, f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), os.open("/dev/null", os.O_RDONLY)
target = os.dup(f)
stop = False
def flip():
    while not stop:
        os.dup2(sock.fileno(), target); os.dup2(f, target)
t = threading.Thread(target=flip); t.start()
seen = set()
for _ in range(2000):
    try:
        seen.add(socket.inet_ntoa(fcntl.ioctl(target, 0x8915, struct.pack("16s24x", b"eth0"))[20:24]))
    except OSError as e:
        seen.add(e.errno)
stop = True; t.join()
print(sorted(map(str, seen)))
"""
    r = run_umlpy("run", "--", sys.executable, "-c", prog, timeout=60)
    assert set(eval(r.stdout)) <= {"10.0.2.15", "25"}, (r.stdout, r.stderr)
