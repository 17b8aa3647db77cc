"""Dangerous commands, safely: a realistic installer under a profile, the report, review, gc, parallel runs.

Real guests under the real tracer.  The installer (tests/guests/dangerous_install.sh)
writes /usr/local/bin and ~/.bashrc, reads ~/.ssh/id_rsa and uploads it, adds a cron
entry and deletes a directory; HOME is a fake one in tmp, so the default profile's
secret list points at its files.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import GUESTS, run_umlpy, tree_snapshot
from umlpy import Sandbox, SandboxConfig
from umlpy.sandbox import RunResult, new_state_dir, vfs_config
from umlpy.vfs.mounts import Access, BindSpec

pytestmark = pytest.mark.usefixtures("traceable")

INSTALLER = GUESTS / "dangerous_install.sh"
X = "/usr/local/bin/umlpy-test-x"
CRON = "/etc/cron.d/umlpy-test-evil"




@pytest.fixture
def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE PRIVATE KEY-----\n")
    (home / ".bashrc").write_text("# original\n")
    (home / "project" / "old" / "sub").mkdir(parents=True)
    (home / "project" / "old" / "sub" / "data").write_text("precious\n")
    (home / "project" / "keep").write_text("keep\n")
    return home


class _Doc(HTMLParser):
    """Enough of a DOM: ids of elements, data-pid attributes, text, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.pids: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if a.get("data-pid"):
            self.pids.append(str(a["data-pid"]))
        for k in ("src", "href"):
            if a.get(k):
                self.external.append(str(a[k]))
        if tag == "link":
            self.external.append(str(a))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_dangerous_installer_is_contained_reported_and_partly_committed(tmp_path: Path, fake_home: Path) -> None:
    home = fake_home
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    prof = tmp_path / "installer.toml"
    prof.write_text('extends = "default"\nfake-root = true  # as with sudo\nrules = ["log syscall execve"]\n')
    env = dict(os.environ, HOME=str(home), XDG_STATE_HOME=str(tmp_path / "state"))
    before = tree_snapshot(home)
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    r = run_umlpy("run", "--profile", str(prof), "--report", str(report), "--report-html", str(page),
                  "--", "sh", str(INSTALLER), str(port), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["upload failed: Connection refused", "install done"]

    # The host is unchanged, and nothing reached the "attacker".
    assert tree_snapshot(home) == before
    assert not os.path.lexists(X) and not os.path.lexists(CRON)
    with pytest.raises(BlockingIOError):
        server.accept()
    server.close()

    doc = json.loads(report.read_text())
    changes = {c["path"]: c for c in doc["changes"]}
    assert changes[X] | {} == {"path": X, "kind": "created", "node": "file", "size": len("#!/bin/sh\necho pwned\n"),
                               "old_size": None, "meta_only": False}
    bashrc = changes[f"{home}/.bashrc"]
    assert (bashrc["kind"], bashrc["old_size"]) == ("modified", len("# original\n")) and bashrc["size"] > 11
    assert changes[CRON]["kind"] == "created"
    assert (changes[f"{home}/project/old"]["kind"], changes[f"{home}/project/old"]["node"]) == ("deleted", "dir")
    assert f"{home}/project/old/sub/data" not in changes  # only the top of a deleted tree
    assert {s["path"] for s in doc["secrets"]} == {f"{home}/.ssh/id_rsa"}
    assert doc["secrets"][0]["hidden"] == f"{home}/.ssh"
    assert [(c["op"], c["address"], c["port"], c["allowed"]) for c in doc["connections"]] == [
        ("connect", "127.0.0.1", port, False)]

    procs = doc["processes"]
    main = procs[0]
    assert main["argv"] == ["sh", str(INSTALLER), str(port)] and main["ppid"] is None and main["exit_code"] == 0
    argvs = [p["argv"] for p in procs if p["execs"]]
    for want in (["mkdir", "-p", "/usr/local/bin"], ["chmod", "755", X], ["cat", f"{home}/.ssh/id_rsa"],
                 ["python3", "-", str(port), "no key"], ["mkdir", "-p", "/etc/cron.d"],
                 ["rm", "-rf", f"{home}/project/old"]):
        assert want in argvs, argvs
    by_argv = {tuple(p["argv"]): p for p in procs if p["execs"]}
    assert by_argv[("cat", f"{home}/.ssh/id_rsa")]["exit_code"] == 1
    for p in procs:
        assert p["end_s"] is not None and p["start_s"] <= p["end_s"] <= doc["duration_s"]
        assert p["ppid"] is None or p["ppid"] in {q["pid"] for q in procs}
    assert doc["resources"]["processes"] == len(procs) and doc["resources"]["max_rss_kb"] > 0
    assert {e["syscall"] for e in doc["logged"]} == {"execve"} and len(doc["logged"]) >= 6

    # The summary names each action in one screen.
    summary = [ln for ln in r.stderr.splitlines() if ln.startswith("umlpy: ")]
    assert len(summary) <= 24, r.stderr
    text = "\n".join(summary)
    for needle in (f"A {X}", f"M {home}/.bashrc", f"A {CRON}", f"D {home}/project/old",
                   f"secrets: the guest reached for 1 hidden path(s): {home}/.ssh/id_rsa",
                   f"network: denied 1 destination(s): connect 127.0.0.1:{port}/tcp", "profile installer"):
        assert needle in text, text

    # The HTML page: self-contained, with the process tree and every section.
    html = page.read_text()
    dom = _Doc()
    dom.feed(html)
    assert {"processes", "files", "network", "denials", "secrets", "resources", "report-json"} <= dom.ids
    assert sorted(dom.pids) == sorted(str(p["pid"]) for p in procs)
    assert not dom.external and "http://" not in html and "https://" not in html
    assert f"rm -rf {home}/project/old" in "".join(dom.text)

    # Commit just the chosen part: ~/.bashrc.  The rest stays in the sandbox.
    sid = Path(doc["state_dir"]).name
    c = run_umlpy("commit", sid, str(home / ".bashrc"), env=env)
    assert c.returncode == 0, c.stderr
    assert c.stdout == f"applied {home}/.bashrc\n"
    assert (home / ".bashrc").read_text().endswith("# added by installer\n")
    assert (home / "project" / "old" / "sub" / "data").exists()
    assert not os.path.lexists(X) and not os.path.lexists(CRON)
    d = run_umlpy("diff", sid, env=env)
    assert sorted(ln.split()[1] for ln in d.stdout.splitlines()) == sorted([X, CRON, f"{home}/project/old"])


def test_strict_profile_is_read_only_and_hides_secrets(tmp_path: Path, fake_home: Path) -> None:
    env = dict(os.environ, HOME=str(fake_home), XDG_STATE_HOME=str(tmp_path / "state"))
    r = run_umlpy("run", "--profile", "strict", "--report", str(tmp_path / "r.json"), "--",
                  "sh", "-c", "echo x > $HOME/f; ls -a $HOME; cat $HOME/.ssh/id_rsa", env=env)
    assert r.returncode == 1
    assert "Read-only file system" in r.stderr
    assert ".ssh" not in r.stdout.split() and ".bashrc" in r.stdout.split()
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["changes"] == [] and doc["profile"] == "strict"
    assert [s["path"] for s in doc["secrets"]] == [f"{fake_home}/.ssh/id_rsa"]


def test_command_line_overrides_the_profile(tmp_path: Path, fake_home: Path) -> None:
    env = dict(os.environ, HOME=str(fake_home), XDG_STATE_HOME=str(tmp_path / "state"))
    # --write of the hidden directory comes after the profile's hide: last match wins.
    r = run_umlpy("run", "-q", "--profile", "strict", "--write", str(fake_home / ".ssh"), "--",
                  "sh", "-c", "cat $HOME/.ssh/id_rsa && echo new > $HOME/.ssh/known_hosts", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "-----BEGIN FAKE PRIVATE KEY-----\n"
    assert (fake_home / ".ssh" / "known_hosts").read_text() == "new\n"


def test_trace_only_profile_changes_nothing_but_observes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_umlpy("run", "-q", "--profile", "trace-only", "--report", str(tmp_path / "r.json"), "--",
                  "sh", "-c", f"echo hi > {out}; true")
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "hi\n"  # the host's filesystem, really written
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["state_dir"] is None and doc["changes"] == []
    assert [p["argv"] for p in doc["processes"]][:1] == [["sh", "-c", f"echo hi > {out}; true"]]


def test_profile_syscall_deny_is_a_denial_naming_the_rule(tmp_path: Path) -> None:
    prof = tmp_path / "p.toml"
    prof.write_text('extends = "default"\nrules = ["deny syscall uname:error=EACCES"]\n')
    r = run_umlpy("run", "--profile", str(prof), "--report", str(tmp_path / "r.json"), "--", "uname")
    assert r.returncode == 1 and "Permission denied" in r.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(d["syscall"], d["errno"], d["reason"]) for d in doc["denials"]] == [
        ("uname", "EACCES", "profile rule 'deny syscall uname:error=EACCES'")]


# --- parallel runs and gc -------------------------------------------------------------


def test_eight_parallel_sandboxes_see_only_their_own_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    shared = tmp_path / "shared"
    shared.mkdir()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    n = 8
    results: dict[int, RunResult] = {}
    errors: list[BaseException] = []
    # Each writes the same path, then waits (bounded) until all eight have written, then
    # checks it reads back its own content and sees no one else's file.
    script = (
        f'echo "$1" > {shared}/same; echo "$1" > {shared}/only-$1; touch {barrier}/$1; i=0; '
        f'while [ "$(ls {barrier} | wc -l)" -lt {n} ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; '
        f'[ "$(cat {shared}/same)" = "$1" ] && [ "$(ls {shared})" = "$(printf "only-$1\\nsame")" ]'
    )

    def one(i: int) -> None:
        try:
            cfg = SandboxConfig(vfs=vfs_config(new_state_dir(), binds=(BindSpec(os.fsencode(barrier),
                                                                                   os.fsencode(barrier), Access.RW),)))
            results[i] = Sandbox(cfg).run(["sh", "-c", script, "sh", str(i)])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == list(range(n))
    assert len({r.state_dir for r in results.values()}) == n
    for i, r in results.items():
        assert r.returncode == 0, (i, r)
        assert sorted((c["path"], c["kind"], c["size"]) for c in r.changes) == [
            (f"{shared}/only-{i}", "created", len(f"{i}\n")), (f"{shared}/same", "created", len(f"{i}\n"))]
    assert os.listdir(shared) == []


def _kept_sandbox(env: dict[str, str], tmp_path: Path, started: float, size: int) -> str:
    r = run_umlpy("run", "-q", "--report", str(tmp_path / "r.json"), "--",
                  "sh", "-c", f"head -c {size} /dev/zero > {tmp_path}/blob", env=env)
    assert r.returncode == 0, r.stderr
    state = json.loads((tmp_path / "r.json").read_text())["state_dir"]
    cfg = Path(state, "config.json")
    doc = json.loads(cfg.read_text())
    doc["started"] = started
    cfg.write_text(json.dumps(doc))
    return Path(state).name


def test_gc_by_age_and_size_skips_sandboxes_in_use(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    now = time.time()
    ancient = _kept_sandbox(env, tmp_path, now - 30 * 86400, 1000)
    old = _kept_sandbox(env, tmp_path, now - 3 * 86400, 300_000)
    busy = _kept_sandbox(env, tmp_path, now - 40 * 86400, 1000)
    new = _kept_sandbox(env, tmp_path, now - 60, 300_000)
    home = tmp_path / "state" / "umlpy"
    fd = os.open(home / busy / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running sandbox holds it
        r = run_umlpy("gc", "--older-than", "7d", "-n", env=env)
        assert r.returncode == 0 and r.stdout.split()[:3] == ["would", "remove", ancient], r.stdout
        assert (home / ancient).exists()
        r = run_umlpy("gc", "--older-than", "7d", env=env)
        assert [ln.split()[1] for ln in r.stdout.splitlines()] == [ancient]
        r = run_umlpy("gc", "--max-size", "400K", env=env)
        assert [ln.split()[1] for ln in r.stdout.splitlines()] == [old]
        assert sorted(os.listdir(home)) == sorted([busy, new])
    finally:
        os.close(fd)
    r = run_umlpy("gc", "--older-than", "1h", env=env)
    assert [ln.split()[1] for ln in r.stdout.splitlines()] == [busy]
    for bad in (("--older-than", "soon"), ("--max-size", "-3")):
        r = run_umlpy("gc", *bad, env=env)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


def test_html_report_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "r.html"
    r = run_umlpy("run", "-q", "--report-html", str(page), "--", "sh", "-c", "ls / >/dev/null; echo hi > /tmp/x")
    assert r.returncode == 0, r.stderr
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert 'id="processes"' in dom.stdout and "data-pid" in dom.stdout and "ls /" in dom.stdout


def test_audit_writes_a_profile_that_then_enforces_successfully(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got: list[bytes] = []

    server.settimeout(120)  # a bound on a failing run, not an assertion

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            got.append(conn.recv(100))

    # A build-like step: writes beneath work/out and in a new directory, reports to a server.
    script = (
        f"mkdir -p {work}/out/gen/deep && echo built > {work}/out/gen/deep/a.o && echo log > {work}/out/build.log && "
        f"python3 -c 'import socket,sys; s=socket.create_connection((\"127.0.0.1\", {port})); s.sendall(b\"done\")'"
    )
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    prof = tmp_path / "audited.toml"
    r = run_umlpy("run", "--audit", "--discard", "--write-profile", str(prof), "--", "sh", "-c", script, env=env)
    assert r.returncode != 0  # the connect was refused under the default profile
    assert f"umlpy: audit: the strict profile would need: cow {work}/out, allow 127.0.0.1:{port}/tcp" in r.stderr
    assert 'extends = "strict"' in prof.read_text()

    # Under strict alone the same command fails; under the written profile it succeeds.
    r = run_umlpy("run", "-q", "--discard", "--profile", "strict", "--", "sh", "-c", script, env=env)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    t = threading.Thread(target=serve)
    t.start()
    r = run_umlpy("run", "-q", "--discard", "--profile", str(prof), "--", "sh", "-c", script, env=env)
    t.join()
    server.close()
    assert r.returncode == 0, r.stderr
    assert got == [b"done"]
    assert sorted(os.listdir(work / "out")) == []  # copy-on-write: the host is unchanged
    for bad in (("--write-profile", str(prof), "--", "true"),):
        r = run_umlpy("run", *bad, env=env)
        assert r.returncode == 2 and r.stderr == "umlpy: --write-profile needs --audit\n"
