"""``-r``, ``-w``, ``-e signal=``, ``-P``, ``-v``, ``-yy``, ``-k``: each against the real strace.

Every test runs strace and umlpy on the same guest and compares the lines
after normalising what legitimately differs between two runs (pids, inode
numbers, ports, timestamps).  Known, documented differences:

* ``-k``: umlpy walks frame pointers, strace unwinds with DWARF CFI, so
  umlpy's stack is a prefix of strace's — it stops at the first frame
  built without a frame pointer (libc's start code here).
* ``-yy``: strace caches the first successful description of a socket
  inode and never refreshes it; umlpy looks again each time (a UDP socket
  connected after a first look shows its peer).  The guest avoids that case.
* ``-c`` without ``-w`` is system time: strace's comes from rusage (tick
  resolution, usually 0 here), umlpy's from the process CPU clock (ns).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GUESTS, run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")
needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
ENV = ["env", "-i", "PATH=/usr/bin:/bin"]


def both(tmp_path: Path, opts: list[str], argv: list[str], rc: int = 0) -> tuple[list[str], list[str]]:
    """(strace's lines, umlpy's lines) for ``-f -qq -o FILE OPTS -- ARGV``, leading pids dropped."""
    a, b = tmp_path / "strace.txt", tmp_path / "umlpy.txt"
    subprocess.run(["strace", "-f", "-qq", "-o", str(a), *opts, *argv], timeout=60, capture_output=True, check=False)
    r = run_umlpy("trace", "-qq", "-o", str(b), *opts, "--", *argv, timeout=60)
    assert r.returncode == rc, r.stderr
    return _lines(a), _lines(b)


def _lines(p: Path) -> list[str]:
    """Lines without strace's ``-f -o`` pid column (``%-5d ``: -r's own padding follows it)."""
    out = []
    for x in p.read_text().splitlines():
        m = re.match(r"\d+", x)
        x = x[max(5, len(m.group())) + 1:] if m else x
        out.append(re.sub(r"si_(pid|utime|stime)=\d+( /\* [0-9.]+ s \*/)?", r"si_\1=N", x))
    return out


# -- -r -------------------------------------------------------------------------
@needs_strace
def test_relative_timestamps_as_strace(tmp_path: Path) -> None:
    digits = re.compile(r"\d")
    for opts in (["-r"], ["-r", "-t"], ["-r", "-ttt"]):
        s, u = both(tmp_path, [*opts, "-e", "trace=write"], ["sh", "-c", "echo hi >/dev/null"])
        assert [digits.sub("9", x) for x in u] == [digits.sub("9", x) for x in s], (opts, s, u)
    assert re.fullmatch(r" +0\.000000 write\(1, .*", u[0]) or re.search(r"\(\+ +0\.000000\) write", u[0])


def test_relative_timestamps_count_from_the_previous_line(tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    r = run_umlpy("trace", "-qq", "-r", "-o", str(out), "-e", "trace=write,clock_nanosleep", "--",
                  "sh", "-c", "echo a; sleep 0.3; echo b", timeout=60)
    assert r.returncode == 0, r.stderr
    rel = [(float(x.split()[1]), x.split()[2]) for x in out.read_text().splitlines()]
    assert rel[0][0] == 0.0
    # the line after clock_nanosleep's starts at least 0.3 s later (a lower bound: no timing flake)
    k = next(i for i, (_, call) in enumerate(rel) if call.startswith("clock_nanosleep"))
    assert rel[k + 1][0] >= 0.3, rel


# -- -c / -w ----------------------------------------------------------------------
def _summary(tmp_path: Path, *opts: str) -> dict[str, list[str]]:
    out = tmp_path / "c.txt"
    r = run_umlpy("trace", "-qq", "-o", str(out), *opts, "-e", "trace=clock_nanosleep", "--", "sleep", "0.3",
                  timeout=60)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0].split() == ["%", "time", "seconds", "usecs/call", "calls", "errors", "syscall"]
    return {x.split()[-1]: x.split() for x in lines[2:] if not x.startswith("-")}


def test_summary_is_system_time_and_w_is_latency(tmp_path: Path) -> None:
    system = _summary(tmp_path, "-c")
    wall = _summary(tmp_path, "-c", "-w")
    assert system["clock_nanosleep"][3] == wall["clock_nanosleep"][3] == "1"
    assert float(wall["clock_nanosleep"][1]) >= 0.3  # slept that long
    assert float(system["clock_nanosleep"][1]) < 0.3  # but did not spend it on a CPU


def test_w_needs_c() -> None:
    r = run_umlpy("trace", "-w", "--", "true")
    assert r.returncode == 2 and r.stderr.strip() == "umlpy: trace: -w must be given with -c or -C"


# -- -e signal= --------------------------------------------------------------------
@needs_strace
@pytest.mark.parametrize("spec", ["USR1", "!SIGUSR1,15", "none", "all", "SIGTERM"])
def test_signal_set_as_strace(tmp_path: Path, build_guest, spec: str) -> None:  # type: ignore[no-untyped-def]
    guest = str(build_guest("trace_signals"))
    s, u = both(tmp_path, ["-e", "trace=none", "-e", f"signal={spec}"], [guest], rc=-15)  # umlpy dies of the same signal
    assert u == s
    if spec == "none":
        assert u == []


def test_bad_signal_is_one_line() -> None:
    r = run_umlpy("trace", "-e", "signal=FOO", "--", "true")
    assert r.returncode == 2 and r.stderr == "umlpy: trace: invalid signal 'FOO'\n"


# -- -P ------------------------------------------------------------------------------
@needs_strace
def test_path_filter_as_strace(tmp_path: Path) -> None:
    link = tmp_path / "hn"
    link.symlink_to("/etc/hostname")
    s, u = both(tmp_path, ["-P", str(link), "-P", "/etc/passwd"],
                [*ENV, "sh", "-c", f"cat {link} /etc/passwd >/dev/null; cd /etc && cat passwd"])
    assert u == s
    assert any(x.startswith(f'openat(AT_FDCWD, "{link}"') for x in u)
    assert any(x.startswith("read(3, ") for x in u)  # through the fd, resolved to /etc/hostname
    assert not any('"passwd"' in x for x in u)  # a relative path is not PATH, as in strace
    r = run_umlpy("trace", "-P", str(link), "-o", str(tmp_path / "x"), "--", "true")
    assert f'requested path "{link}" resolved into "/etc/hostname"' in r.stderr


# -- -v ------------------------------------------------------------------------------
def _no_atime(line: str) -> str:
    """Reading a file may move its atime between the two runs."""
    line = re.sub(r"st_atime=\d+( /\*[^*]*\*/)?, st_atime_nsec=\d+", "st_atime=T", line)
    return re.sub(r"stx_atime=\{[^}]*\}( /\*[^*]*\*/)?", "stx_atime=T", line)


@needs_strace
def test_verbose_structs_as_strace(tmp_path: Path) -> None:
    s, u = both(tmp_path, ["-v", "-e", "trace=statx,newfstatat,uname,execve"],
                [*ENV, "sh", "-c", "stat /etc/hostname /dev/null >/dev/null; uname >/dev/null; env -i A=1 true"])
    s, u = [_no_atime(x) for x in s[1:]], [_no_atime(x) for x in u[1:]]  # the harnesses' environments differ
    norm = re.compile(r"0x[0-9a-f]{6,}")
    assert [norm.sub("ADDR", x) for x in u] == [norm.sub("ADDR", x) for x in s]
    assert any(x.startswith('uname({sysname="Linux", nodename=') and "domainname=" in x for x in u)
    assert any(re.match(r'execve\("(/usr)?/bin/true", \["true"\], \["A=1"\]\)', x) for x in u)
    assert any("st_dev=makedev(" in x and "st_ctime_nsec=" in x for x in u)


# -- -yy -----------------------------------------------------------------------------
_FD = re.compile(r"\d+<(?:[^<>\[\]]|\[[^\]]*\]|<[^<>]*>)*>")


def _fds(lines: list[str]) -> list[str]:
    """The fd decorations of each line, numbers that differ between runs normalised."""
    out = []
    for x in lines:
        for fd in _FD.findall(x):
            fd = re.sub(r"^\d+", "FD", fd)
            fd = re.sub(r"(?<=\[)\d+(?=[\],-])|(?<=->)\d+(?=[\],])", "INO", fd)
            fd = re.sub(r"(\d+\.\d+\.\d+\.\d+|\]):\d+", r"\1:PORT", fd)
            out.append(re.sub(r"ROUTE:\d+", "ROUTE:PORTID", fd))
    return out


@needs_strace
def test_socket_endpoints_as_strace(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    argv = [sys.executable, str(GUESTS / "trace_sockets.py"), str(sock)]
    calls = "trace=sendto,recvfrom,listen,accept4,getsockname,write"
    subprocess.run(["strace", "-f", "-qq", "-yy", "-e", calls, "-o", str(tmp_path / "s.txt"), *argv], timeout=60,
                   check=True, capture_output=True)
    sock.unlink()
    r = run_umlpy("trace", "-qq", "-yy", "-e", calls, "-o", str(tmp_path / "u.txt"), "--", *argv, timeout=60)
    assert r.returncode == 0, r.stderr
    # Up to the pipe write: past it the interpreter closes the sockets, peers vanish, and strace
    # shows the peers it cached (see the module docstring).
    s_lines, u_lines = _lines(tmp_path / "s.txt"), _lines(tmp_path / "u.txt")
    s, u = (_fds(x[: next(k for k, y in enumerate(x) if "<pipe:" in y) + 1]) for x in (s_lines, u_lines))
    assert u == s
    assert "FD<TCP:[127.0.0.1:PORT->127.0.0.1:PORT]>" in u
    assert f'FD<UNIX-STREAM:[INO->INO,"{sock}"]>' in u
    assert "FD<UNIX-STREAM:[INO->INO]>" in u and "FD<NETLINK:[ROUTE:PORTID]>" in u
    assert "FD</dev/null<char 1:3>>" in u


# -- -k ------------------------------------------------------------------------------
@needs_strace
def test_stack_trace_as_strace(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    guest = str(build_guest("trace_stack", "-fno-omit-frame-pointer"))
    s, u = both(tmp_path, ["-k", "-e", "trace=write"], [guest])
    if len(s) < 3 or not s[1].startswith(" > "):
        pytest.skip("this strace was built without -k")
    assert u[0] == s[0]
    frames = [x for x in u[1:] if x.startswith(" > ")]
    assert frames == s[1: 1 + len(frames)]
    names = [re.sub(r"\+0x.*", "", x.split("(", 1)[1]) for x in frames]
    assert names[:4] == ["__write", "inner", "outer", "main"]
