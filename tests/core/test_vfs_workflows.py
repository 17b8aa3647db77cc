"""Real tools inside the copy-on-write view: git, make install, pip into a venv.

Each run happens in the sandbox; the host must be unchanged until `umlpy
commit`, after which it must be as if the commands had run on the host.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def _debian_python() -> str:
    """Debian's python3 with venv and ensurepip (python3-venv), or skip."""
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import ensurepip, venv"], check=False).returncode != 0:
        pytest.skip("Debian's python3 without venv/ensurepip")
    return py


def _origin(tmp_path: Path, files: str) -> Path:
    """A git repository at tmp_path/origin with ``files`` (a shell snippet) committed."""
    origin = tmp_path / "origin"
    origin.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@b")
    for cmd in (["git", "init", "-q"], ["sh", "-c", files], ["git", "add", "-A"], ["git", "commit", "-qm", "first"]):
        subprocess.run(cmd, cwd=origin, check=True, env=env)
    return origin


def _sandboxed(tmp_path: Path, script: str) -> tuple[str, list[str]]:
    """Run ``script`` under umlpy; return (sandbox state dir, changed paths from umlpy diff)."""
    state = tmp_path / "state"
    r = run_umlpy("run", "-q", "--state-dir", str(state), "--", "sh", "-c", script, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    d = run_umlpy("diff", str(state))
    assert d.returncode == 0, d.stderr
    return str(state), [ln.split()[1] for ln in d.stdout.splitlines()]


def _commit(state: str) -> None:
    c = run_umlpy("commit", state)
    assert c.returncode == 0, c.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_clone_then_commit(tmp_path: Path) -> None:
    _origin(tmp_path, "echo one > f && mkdir d && echo two > d/g")
    state, changed = _sandboxed(tmp_path, "git clone -q origin clone && cd clone && git log --format=%s && cat d/g")
    assert not (tmp_path / "clone").exists()
    assert f"{tmp_path}/clone" in changed and f"{tmp_path}/clone/d/g" in changed
    assert all(p.startswith(f"{tmp_path}/clone") for p in changed), changed
    _commit(state)
    log = subprocess.run(["git", "log", "--format=%s"], cwd=tmp_path / "clone", capture_output=True, text=True,
                         check=True)
    assert log.stdout == "first\n"
    st = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path / "clone", capture_output=True, text=True,
                        check=True)
    assert st.stdout == ""  # the committed clone is a clean, working repository


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None, reason="needs make and gcc")
def test_make_install_destdir(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("hello");return 0;}\n')
    (src / "Makefile").write_text(
        "hello: hello.c\n\tgcc -o $@ $<\n"
        "install: hello\n\tinstall -d $(DESTDIR)/usr/bin\n\tinstall -m 755 hello $(DESTDIR)/usr/bin/hello\n"
    )
    state, changed = _sandboxed(tmp_path, "make -s -C src install DESTDIR=$PWD/stage && stage/usr/bin/hello")
    assert sorted(changed) == sorted([f"{src}/hello", f"{tmp_path}/stage", f"{tmp_path}/stage/usr",
                                      f"{tmp_path}/stage/usr/bin", f"{tmp_path}/stage/usr/bin/hello"])
    assert not (src / "hello").exists() and not (tmp_path / "stage").exists()
    _commit(state)
    out = subprocess.run([str(tmp_path / "stage" / "usr" / "bin" / "hello")], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "hello\n"
    assert os.access(tmp_path / "stage" / "usr" / "bin" / "hello", os.X_OK)


def _wheel(dist: Path) -> Path:
    """A minimal pure-Python wheel, built by hand (no build backend needed)."""
    name = "umlpydemo-1.0-py3-none-any.whl"
    files = {
        "umlpydemo/__init__.py": b"GREETING = 'hello from the wheel'\n",
        "umlpydemo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: umlpydemo\nVersion: 1.0\n",
        "umlpydemo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append("umlpydemo-1.0.dist-info/RECORD,,")
    whl = dist / name
    with zipfile.ZipFile(whl, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr("umlpydemo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return whl


def test_pip_installs_a_local_wheel_into_a_venv(tmp_path: Path) -> None:
    py = _debian_python()
    dist = tmp_path / "dist"
    dist.mkdir()
    whl = _wheel(dist)
    script = (f"{py} -m venv venv && venv/bin/pip install -q --no-index {whl} "
              "&& venv/bin/python -c 'import umlpydemo; print(umlpydemo.GREETING)'")
    state, changed = _sandboxed(tmp_path, script)
    assert not (tmp_path / "venv").exists()
    assert any(p.endswith("/site-packages/umlpydemo/__init__.py") for p in changed), changed
    assert all(p.startswith(f"{tmp_path}/venv") for p in changed), [p for p in changed if "venv" not in p]
    _commit(state)
    out = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c", "import umlpydemo; print(umlpydemo.GREETING)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == "hello from the wheel\n"


def _audit_round_trip(tmp_path: Path, script: str) -> None:
    """--audit writes the smallest profile over `strict` that lets ``script``
    run; strict alone refuses it; the written profile runs it (copy-on-write:
    the host is unchanged either way)."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state-home"))
    prof = tmp_path / "audited.toml"
    r = run_umlpy("run", "--audit", "--discard", "--write-profile", str(prof), "--", "sh", "-c", script,
                  cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'extends = "strict"' in prof.read_text()
    r = run_umlpy("run", "-q", "--discard", "--profile", "strict", "--", "sh", "-c", script, cwd=tmp_path, env=env,
                  timeout=300)
    assert r.returncode != 0
    r = run_umlpy("run", "-q", "--discard", "--profile", str(prof), "--", "sh", "-c", script, cwd=tmp_path, env=env,
                  timeout=300)
    assert r.returncode == 0, r.stderr
    assert not any(n in os.listdir(tmp_path) for n in ("clone", "venv", "stage"))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_audit_round_trip_git(tmp_path: Path) -> None:
    _origin(tmp_path, "echo one > f")
    _audit_round_trip(tmp_path, "git clone -q origin clone && test -f clone/f")


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None, reason="needs make and gcc")
def test_audit_round_trip_make(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.c").write_text('int main(void){return 0;}\n')
    (src / "Makefile").write_text("hello: hello.c\n\tgcc -o $@ $<\ninstall: hello\n\tinstall -D hello $(DESTDIR)/bin/hello\n")
    _audit_round_trip(tmp_path, "make -s -C src install DESTDIR=$PWD/stage && stage/bin/hello")


def test_audit_round_trip_pip_wheel(tmp_path: Path) -> None:
    py = _debian_python()
    dist = tmp_path / "dist"
    dist.mkdir()
    whl = _wheel(dist)
    _audit_round_trip(tmp_path, f"{py} -m venv venv && venv/bin/pip install -q --no-index {whl} && "
                                "venv/bin/python -c 'import umlpydemo'")
