"""Attacks on the virtual filesystem of ``umlpy run`` (copy-on-write over /).

The promise under attack: a guest of the default ``umlpy run`` (and with
``--hide``/``--read-only``) changes no host file outside ``--write`` paths,
cannot read or detect a ``--hide``'n path, never sees the state directory's
host paths, cannot reach processes outside the sandbox through /proc,
cannot make ``umlpy commit`` apply what ``umlpy diff`` did not show, and
cannot crash the tracer.

Each test checks an outside fact: the canary file on the host (content,
mode, owner, times, xattrs, directory listing), the state directory, the
output of ``umlpy diff``, or a random secret the guest could only have
learnt by reading a hidden path.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_umlpy
from tests.escapes.conftest import CanaryFile, root_only

pytestmark = pytest.mark.usefixtures("traceable")


def _state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _run(sandbox: Any, argv: list[Any], tmp_path: Path, *opts: str, timeout: float = 60) -> Any:
    r = sandbox(argv, opts=["--state-dir", str(_state(tmp_path)), *opts], timeout=timeout)
    assert "Traceback" not in r.proc.stderr, r.proc.stderr
    return r


def _lower_twin(tmp_path: Path, canary_file: CanaryFile) -> Path:
    """A host directory holding a file of the canary's name (the guest's bait)."""
    low = tmp_path / "low"
    low.mkdir()
    (low / canary_file.path.name).write_text("bait\n")
    os.chmod(low, 0o755)
    os.chmod(low / canary_file.path.name, 0o644)
    return low


# -- fd-based metadata calls after an ancestor is swapped for a symlink ------------


def test_fd_meta_on_a_lower_file_after_its_directory_became_a_symlink(
    sandbox: Any, build_guest: Any, tmp_path: Path, canary_file: CanaryFile
) -> None:
    """fchmod & co. on an fd of a lower file are served on the copied-up
    file: the tracer must not find that copy through a symlink the guest
    planted where the file's directory was."""
    low = _lower_twin(tmp_path, canary_file)
    r = _run(sandbox, [build_guest("escape_vfs_fd_meta"), low, canary_file.path.name, canary_file.hostdir], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()
    assert (low / canary_file.path.name).read_text() == "bait\n"


def test_listing_a_lower_directory_after_an_ancestor_became_a_symlink_to_a_hidden_one(
    sandbox: Any, build_guest: Any, tmp_path: Path, wdir: Path
) -> None:
    """getdents on an fd of a lower directory: the merged listing must not be
    read through a symlink to a --hide'n directory."""
    pub, hidden = tmp_path / "pub", tmp_path / "hidden"
    (pub / "sub").mkdir(parents=True)
    (pub / "sub" / "public-entry").write_text("p")
    (hidden / "sub").mkdir(parents=True)
    name = "secret-" + secrets.token_hex(8)
    (hidden / "sub" / name).write_text("s")
    for d in (tmp_path, pub, pub / "sub", hidden, hidden / "sub"):
        os.chmod(d, 0o755)
    out = wdir / "names"
    r = _run(sandbox, [build_guest("escape_vfs_fd_listing"), pub, "sub", hidden, out], tmp_path, "--hide", str(hidden))
    assert r.proc.returncode == 0, r.proc.stderr
    assert name not in out.read_text()


# -- the host's /proc and /dev, bound read-write for their existing nodes -----------


@root_only
def test_proc_sys_is_not_writable(sandbox: Any, tmp_path: Path) -> None:
    """/proc is the host's: /proc/sys/kernel/domainname (or core_pattern,
    sysrq-trigger...) written from the guest would change the host kernel."""
    knob = Path("/proc/sys/kernel/domainname")
    before = knob.read_text()
    try:
        r = _run(sandbox, ["sh", "-c", f"echo pwned-by-guest > {knob}; echo pwned > {knob} 2>/dev/null; true"],
                 tmp_path)
        assert r.proc.returncode == 0, r.proc.stderr
        assert knob.read_text() == before
    finally:
        if knob.read_text() != before:
            knob.write_text(before)


@root_only
def test_raw_host_devices_are_not_writable(sandbox: Any, tmp_path: Path) -> None:
    """/dev is the host's: a raw device node (here /dev/kmsg, as harmless as
    /dev/sda is not) must not open for writing; nor may new nodes appear."""
    marker = "umlpy-escape-" + secrets.token_hex(8)
    r = _run(sandbox, ["sh", "-c", f"echo {marker} > /dev/kmsg; touch /dev/umlpy-{marker}; true"], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr
    assert not os.path.lexists(f"/dev/umlpy-{marker}")
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    seen = []
    try:
        while True:
            try:
                seen.append(os.read(fd, 8192))
            except BlockingIOError:
                break
    finally:
        os.close(fd)
    assert marker.encode() not in b"".join(seen)


# -- review: what diff shows is what commit applies ------------------------------------


def test_diff_cannot_be_forged_by_file_names(sandbox: Any, tmp_path: Path) -> None:
    """A name with a terminal escape (cursor up, erase line), a carriage
    return or a newline would hide the line above it in ``umlpy diff`` on a
    terminal, or print a fake one: the change to ``evil`` must stay visible,
    and every change is exactly one line with no control character."""
    d = tmp_path / "h"
    d.mkdir()
    os.chmod(d, 0o777)
    script = (
        "import sys\n"
        "d = sys.argv[1].encode()\n"
        "open(d + b'/evil', 'w').write('x')\n"
        "open(d + b'/zz\\x1b[1A\\x1b[2K\\rA harmless  [file, 1 bytes]', 'w').write('x')\n"
        "open(d + b'/nl\\nA fake  [file, 1 bytes]', 'w').write('x')\n"
        "open(d + b'/\\xff\\x9b', 'w').write('x')\n"
    )
    r = _run(sandbox, [sys.executable, "-c", script, d], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr
    shown = run_umlpy("diff", str(_state(tmp_path)), errors="surrogateescape")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 4, lines
    assert not any(ch in line for line in lines for ch in "\x1b\r\x9b"), lines
    assert any(line.startswith(f"A {d}/evil ") for line in lines), lines
    assert not (d / "evil").exists()


# -- metadata by path: the kernel must not walk a path the guest can change ----------


def test_metadata_by_path_races_a_directory_swapped_for_a_symlink(
    sandbox: Any, build_guest: Any, tmp_path: Path, canary_file: CanaryFile
) -> None:
    """chmod/utimensat/setxattr/chown of d/NAME while a second thread
    exchanges d with a symlink to the canary's directory (--cpu spread: a
    true race).  Landlock does not cover metadata: the tracer must change
    the object it checked, not hand the kernel a path to walk again."""
    work = tmp_path / "work"
    work.mkdir()
    os.chmod(work, 0o777)
    r = _run(sandbox, [build_guest("escape_vfs_meta_race"), work, canary_file.path.name, canary_file.hostdir, 3000],
             tmp_path, "--cpu", "spread", timeout=120)
    assert r.proc.returncode == 0, r.proc.stderr
    canary_file.assert_unchanged()


# -- hidden paths ------------------------------------------------------------------------

def test_stat_races_a_directory_swapped_for_a_symlink_to_a_hidden_one(
    sandbox: Any, build_guest: Any, tmp_path: Path
) -> None:
    """A thread exchanges a directory in the guest's layer with a symlink to a
    hidden one while the main thread stats a file below it: stat-family
    lookups in the writable layer are done by the tracer on a reference it
    took without following symlinks, so the hidden file's size never shows."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    size = 100_000 + secrets.randbelow(800_000)
    (hidden / "f").write_bytes(b"s" * size)
    work = tmp_path / "work"
    work.mkdir()
    for p in (tmp_path, hidden, hidden / "f", work):
        os.chmod(p, 0o777 if p == work else 0o755)
    r = _run(sandbox, [build_guest("escape_vfs_stat_race"), work, "f", hidden, 20000], tmp_path,
             "--cpu", "spread", "--hide", str(hidden), timeout=120)
    assert r.proc.returncode == 0, r.proc.stderr
    assert f"size={size}\n" not in r.out


def _hidden_interpreter(build_guest: Any, tmp_path: Path) -> tuple[Path, int]:
    secret = secrets.randbits(48) | 1 << 47
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    prog = hidden / "prog"
    prog.write_bytes(build_guest("escape_vfs_secret", f"-DSECRET={secret:#x}").read_bytes())
    os.chmod(prog, 0o755)
    os.chmod(hidden, 0o755)
    (tmp_path / "work").mkdir()
    os.chmod(tmp_path / "work", 0o777)
    return prog, secret


def test_shebang_interpreter_in_a_hidden_directory_does_not_run(
    sandbox: Any, build_guest: Any, tmp_path: Path, wdir: Path
) -> None:
    """#!/hidden/prog: the kernel opens the interpreter by its host path."""
    prog, secret = _hidden_interpreter(build_guest, tmp_path)
    script, out = tmp_path / "work" / "s", wdir / "out"
    cmd = f"printf '#!{prog}\\n' > {script}; chmod +x {script}; {script} > {out} 2>&1; cat {prog} >> {out} 2>&1; true"
    r = _run(sandbox, ["sh", "-c", cmd], tmp_path, "--hide", str(prog.parent))
    assert r.proc.returncode == 0, r.proc.stderr
    assert not script.exists()
    assert f"secret={secret:x}" not in out.read_text(errors="replace")


def test_shebang_interpreter_does_not_tell_a_hidden_path_exists(
    sandbox: Any, build_guest: Any, tmp_path: Path, wdir: Path
) -> None:
    """The same exec with an interpreter that exists (hidden) and one that
    does not: the guest must not be able to tell them apart."""
    prog, _ = _hidden_interpreter(build_guest, tmp_path)
    w, out = tmp_path / "work", wdir / "out"
    cmd = (f"printf '#!{prog}\\n' > {w}/a; printf '#!{prog}-absent\\n' > {w}/b; chmod +x {w}/a {w}/b; "
           f"{w}/a; echo $? > {out}; {w}/b; echo $? >> {out}; true")
    r = _run(sandbox, ["sh", "-c", cmd], tmp_path, "--hide", str(prog.parent))
    assert r.proc.returncode == 0, r.proc.stderr
    first, second = out.read_text().split()
    assert first == second


# -- the state directory's host paths ----------------------------------------------------

SCRATCH_HOLE = (
    "HOLE: the rewritten host paths live in the guest's own read-only scratch pages (by design: the "
    "kernel reads them from there, umlpy/vkernel/scratch.py), so the guest can read upper-layer host "
    "paths, hence the state directory's, from its own memory"
)


@pytest.mark.parametrize("what", [
    "links",
    "map_files",
    "maps",
    pytest.param("scratch", marks=pytest.mark.xfail(strict=True, reason=SCRATCH_HOLE)),
])
def test_state_directory_paths_stay_hidden(sandbox: Any, tmp_path: Path, wdir: Path, what: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    os.chmod(work, 0o777)
    out = wdir / "seen"
    guest = Path(__file__).resolve().parent.parent / "guests" / "escape_vfs_leaks.py"
    r = _run(sandbox, [sys.executable, guest, work, what, out], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr
    seen = out.read_text()
    assert str(work / "mapped") in seen or what == "scratch", seen
    assert str(_state(tmp_path)) not in seen, seen
