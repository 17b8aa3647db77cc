"""The virtual filesystem under real guests: copy-on-write over /, review, hiding, /proc.

Every test runs real programs under the real tracer and checks the host
afterwards; the host must be unchanged unless a commit says otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_umlpy, tree_snapshot

pytestmark = pytest.mark.usefixtures("traceable")


def _state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _run(tmp_path: Path, script: str, *opts: str) -> subprocess.CompletedProcess[str]:
    return run_umlpy("run", "-q", "--state-dir", str(_state(tmp_path)), *opts, "--", "sh", "-c", script, cwd=tmp_path)




@pytest.fixture
def host_tree(tmp_path: Path) -> Path:
    h = tmp_path / "h"
    (h / "sub").mkdir(parents=True)
    (h / "keep").write_text("keep\n")
    (h / "edit").write_text("old\n")
    (h / "gone").write_text("gone\n")
    (h / "sub" / "deep").write_text("deep\n")
    (h / "link").symlink_to("keep")
    return h


def test_writes_land_in_the_overlay_and_the_host_is_unchanged(tmp_path: Path, host_tree: Path) -> None:
    before = tree_snapshot(host_tree)
    script = (
        "set -e; cd h; echo new >> edit; echo created > new; rm gone; mkdir -p made/x; mv sub moved; "
        "ln -s new newlink; chmod 600 keep; touch -d 2001-01-01 keep; "
        "cat edit new; ls; ls moved; readlink newlink; cat link; pwd; cd made/x && pwd && /bin/pwd"
    )
    r = _run(tmp_path, script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n") == [
        "old", "new", "created",
        "edit", "keep", "link", "made", "moved", "new", "newlink",
        "deep", "new", "keep", f"{host_tree}", f"{host_tree}/made/x", f"{host_tree}/made/x", "",
    ]
    assert tree_snapshot(host_tree) == before
    assert (host_tree / "keep").stat().st_mode & 0o777 != 0o600


def test_diff_then_commit_reproduces_the_run_on_the_host(tmp_path: Path, host_tree: Path) -> None:
    r = _run(tmp_path, "cd h && echo new >> edit && echo created > new && rm gone && mkdir d && echo x > d/f")
    assert r.returncode == 0, r.stderr
    state = str(_state(tmp_path))
    d = run_umlpy("diff", state)
    assert d.returncode == 0, d.stderr
    lines = sorted(d.stdout.splitlines())
    assert [ln.split()[0] + " " + ln.split()[1] for ln in lines] == [
        f"A {host_tree}/d", f"A {host_tree}/d/f", f"A {host_tree}/new", f"D {host_tree}/gone", f"M {host_tree}/edit",
    ]
    c = run_umlpy("commit", state, str(host_tree / "new"))  # only a part first
    assert c.returncode == 0, c.stderr
    assert (host_tree / "new").read_text() == "created\n" and (host_tree / "gone").exists()
    c = run_umlpy("commit", state)
    assert c.returncode == 0, c.stderr
    assert (host_tree / "edit").read_text() == "old\nnew\n"
    assert not (host_tree / "gone").exists() and (host_tree / "d" / "f").read_text() == "x\n"
    assert run_umlpy("discard", state).returncode == 0
    assert not _state(tmp_path).exists()


def test_a_run_that_changes_nothing_leaves_no_state_and_commit_flag_applies(tmp_path: Path, host_tree: Path) -> None:
    home = tmp_path / "xdg"
    env = dict(os.environ, XDG_STATE_HOME=str(home))
    r = run_umlpy("run", "--", "cat", str(host_tree / "keep"), env=env)
    assert r.returncode == 0 and r.stdout == "keep\n" and "change(s) kept" not in r.stderr
    assert list((home / "umlpy").iterdir()) == []
    r = run_umlpy("run", "--commit", "--", "sh", "-c", f"echo c > {host_tree}/committed", env=env)
    assert r.returncode == 0, r.stderr
    assert (host_tree / "committed").read_text() == "c\n"
    assert list((home / "umlpy").iterdir()) == []
    r = run_umlpy("run", "--", "sh", "-c", f"echo k > {host_tree}/kept", env=env)
    assert "1 change(s) kept in sandbox" in r.stderr and not (host_tree / "kept").exists()
    listing = run_umlpy("list", env=env)
    assert "1 change(s)" in listing.stdout


def test_rm_rf_of_a_big_tree_finishes_and_the_host_keeps_it(tmp_path: Path) -> None:
    big = tmp_path / "big"
    for i in range(20):
        (big / f"d{i}").mkdir(parents=True)
        for j in range(150):
            (big / f"d{i}" / f"f{j}").write_text("x")
    r = _run(tmp_path, "rm -rf big && ls -a; test -e big && echo still there; echo done")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [".", "..", "done"]
    assert sum(1 for _ in big.rglob("f*")) == 3000


def test_read_only_root_is_erofs_and_write_binds_reach_the_host(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    r = _run(tmp_path, "echo a > out/f; echo b > g || echo refused", "--read-only", "--write", str(out))
    assert "refused" in r.stdout and "Read-only file system" in r.stderr
    assert (out / "f").read_text() == "a\n" and not (tmp_path / "g").exists()


def test_hidden_paths_are_absent(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("TOPSECRET")
    (tmp_path / "open").write_text("fine")
    r = _run(tmp_path, "ls; cat secret/key; cd secret; ls -d secret* || echo none",
             "--hide", str(tmp_path / "secret"))
    assert "secret" not in r.stdout.split("none")[0] and "TOPSECRET" not in r.stdout
    assert "No such file or directory" in r.stderr and r.stdout.strip().endswith("none")


def test_proc_shows_only_the_sandbox(tmp_path: Path) -> None:
    me = os.getpid()
    r = _run(tmp_path, f"ls /proc | grep -c '^[0-9]'; test -e /proc/{me} && echo visible; "
                       "readlink /proc/self/cwd; cat /proc/self/stat | cut -d' ' -f2; echo x > /proc/self/mem || echo no-mem")
    lines = r.stdout.splitlines()
    assert int(lines[0]) <= 3  # sh, ls, grep at most
    assert "visible" not in lines
    assert lines[1:4] == [str(tmp_path), "(cat)", "no-mem"]


def test_fchmod_through_a_read_only_fd_does_not_reach_the_host(tmp_path: Path, host_tree: Path) -> None:
    keep = host_tree / "keep"
    mode = keep.stat().st_mode & 0o7777
    code = f"import os\nfd=os.open({str(keep)!r}, os.O_RDONLY)\nos.fchmod(fd, 0o4777)\nprint(oct(os.stat({str(keep)!r}).st_mode & 0o7777))"
    r = run_umlpy("run", "-q", "--discard", "--", "python3", "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0o4777"  # the guest sees its change...
    assert keep.stat().st_mode & 0o7777 == mode  # ...the host does not


def test_fake_root_chown_persists_in_the_view(tmp_path: Path, host_tree: Path) -> None:
    r = _run(tmp_path, "cd h && chown 123:456 keep && chmod 4711 edit && stat -c '%u:%g %a' keep edit && id -u", "-0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "123:456 644" and lines[1].endswith(" 4711") and lines[2] == "0"
    st = (host_tree / "keep").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_unix_socket_in_the_overlay(tmp_path: Path) -> None:
    code = (
        "import socket, os\n"
        "s=socket.socket(socket.AF_UNIX); s.bind('sock'); s.listen(1)\n"
        "c=socket.socket(socket.AF_UNIX); c.connect(os.path.abspath('sock'))\n"
        "a,_=s.accept(); c.sendall(b'hi'); print(a.recv(2).decode(), os.path.exists('sock'))\n"
    )
    r = run_umlpy("run", "-q", "--discard", "--", "python3", "-c", code, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "hi True\n"), r.stderr
    assert not (tmp_path / "sock").exists()


def test_bad_review_input_is_one_line(tmp_path: Path) -> None:
    for args in (("diff", "no-such-sandbox"), ("commit", "no-such-sandbox"), ("discard", str(tmp_path / "nope"))):
        r = run_umlpy(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    r = run_umlpy("run", "--bind", str(tmp_path / "missing"), "--", "true")
    assert r.returncode == 2 and "No such file" in r.stderr and r.stderr.count("\n") == 1


def test_report_lists_changes(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    r = run_umlpy("run", "-q", "--discard", "--report", str(report), "--", "sh", "-c", f"echo x > {tmp_path}/n")
    assert r.returncode == 0, r.stderr
    doc = json.loads(report.read_text())
    assert {"path": f"{tmp_path}/n", "kind": "created", "node": "file", "size": 2, "old_size": None,
            "meta_only": False} in doc["changes"]


def test_path_flip_race_never_reads_a_hidden_file(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "hidden").mkdir()
    secret = tmp_path / "hidden" / "secret"
    secret.write_text("TOPSECRET\n")
    exe = build_guest("escape_vfs_race")
    r = _run(tmp_path, f"{exe} flip {secret} 20000", "--hide", str(tmp_path / "hidden"), "--cpu", "spread")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("leaked=0 of 20000"), r.stdout


def test_upper_symlink_swap_never_leaves_the_view(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "secret").write_text("TOPSECRET\n")
    exe = build_guest("escape_vfs_race")
    r = _run(tmp_path, f"{exe} symlink {tmp_path / 'hidden'} 20000", "--hide", str(tmp_path / "hidden"),
             "--cpu", "spread")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("leaked=0 of 20000"), r.stdout


def test_landlock_keeps_hidden_files_unreadable_even_past_the_tracer(tmp_path: Path) -> None:
    """The kernel backstop: with the tracer's translation of openat switched
    off (a test seam), a hidden file still cannot be read; a visible one can."""
    from umlpy.sandbox import Sandbox, SandboxConfig, vfs_config
    from umlpy.tracer import landlock
    from umlpy.vfs.mounts import Access, BindSpec
    from umlpy.vkernel.outcome import PASS

    if landlock.abi_version() == 0:
        pytest.skip("no Landlock on this kernel")
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "secret").write_text("TOPSECRET\n")
    (tmp_path / "open").write_text("fine\n")
    out = tmp_path / "out"
    out.mkdir()
    rw = BindSpec(os.fsencode(out), os.fsencode(out), Access.RW)
    cfg = SandboxConfig(
        vfs=vfs_config(str(tmp_path / "st"), hide=[str(tmp_path / "hidden")], binds=[rw]),
        handlers_override={"openat": lambda k, ctx: PASS},
    )
    script = f"cat {tmp_path}/hidden/secret > {out}/a 2>&1; cat {tmp_path}/open > {out}/b 2>&1"
    r = Sandbox(cfg).run(["sh", "-c", script])
    assert r.exit_code == 0, (r.landlock_abi, r.landlock_fs)
    assert (out / "b").read_text() == "fine\n"
    text = (out / "a").read_text()
    assert "TOPSECRET" not in text and "Permission denied" in text, (text, r)


def _rootfs(root: Path) -> None:
    """A minimal rootfs: dash as /bin/sh, cat, their libraries and loader."""
    import shutil

    for d in ("bin", "etc", "tmp", "lib", "lib64"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy("/usr/bin/dash", root / "bin" / "sh")
    shutil.copy("/usr/bin/cat", root / "bin" / "cat")
    libs = subprocess.run(["ldd", "/usr/bin/dash", "/usr/bin/cat"], capture_output=True, text=True, check=True).stdout
    for word in libs.split():
        if word.startswith("/") and os.path.exists(word):
            dst = root / word.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.realpath(word), dst)
    # A loader path only the rootfs has: what links against it runs only there.
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), root / "lib" / "ld-umlpy.so.2")
    (root / "etc" / "marker").write_text("rootfs marker\n")


def test_root_runs_the_rootfs_with_its_own_interpreters(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists("/usr/bin/dash") or not os.path.exists("/lib64/ld-linux-x86-64.so.2"):
        pytest.skip("needs dash and the x86-64 loader")
    root = tmp_path / "rootfs"
    _rootfs(root)
    exe = build_guest("argv_echo", "-Wl,--dynamic-linker=/lib/ld-umlpy.so.2")
    (root / "bin" / "echoargs").write_bytes(exe.read_bytes())
    (root / "bin" / "echoargs").chmod(0o755)
    (root / "bin" / "script").write_text("#!/bin/echoargs -x\n")
    (root / "bin" / "script").chmod(0o755)
    r = run_umlpy("run", "-q", "--discard", "--root", str(root), "--", "/bin/sh", "-c",
                  "cat /etc/marker; pwd; /bin/echoargs a b; /bin/script arg1; echo new > /tmp/f; cat /tmp/f")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "rootfs marker", "/",
        "fakesh argc=3 [/bin/echoargs] [a] [b]",
        "fakesh argc=4 [/bin/echoargs] [-x] [/bin/script] [arg1]",
        "new",
    ]
    assert not (root / "tmp" / "f").exists()  # copy-on-write over the rootfs too
    maps = run_umlpy("run", "-q", "--discard", "--root", str(root), "--", "/bin/cat", "/proc/self/maps")
    assert "/lib/x86_64-linux-gnu/libc.so.6" in maps.stdout and str(root) not in maps.stdout, maps.stdout
    bad = run_umlpy("run", "--root", str(tmp_path / "nope"), "--", "/bin/sh")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_rm_rf_no_preserve_root_finishes_and_changes_nothing(tmp_path: Path) -> None:
    """`rm -rf --no-preserve-root /` in a small rootfs, with the host's /proc,
    /dev and /sys bound in as always: it runs to the end; the rootfs, /dev
    and /sys are as they were."""
    if not os.path.exists("/usr/bin/dash") or not os.path.exists("/lib64/ld-linux-x86-64.so.2"):
        pytest.skip("needs dash and the x86-64 loader")
    import shutil

    root = tmp_path / "rootfs"
    _rootfs(root)
    shutil.copy("/usr/bin/rm", root / "bin" / "rm")
    (root / "usr" / "share").mkdir(parents=True)
    for i in range(300):
        (root / "usr" / "share" / f"f{i}").write_text(str(i))
    before = tree_snapshot(root)
    dev, sys_ = sorted(os.listdir("/dev")), sorted(os.listdir("/sys"))
    r = run_umlpy("run", "--discard", "--timeout", "240", "--root", str(root), "--",
                  "/bin/rm", "-rf", "--no-preserve-root", "/", timeout=300)
    assert r.returncode == 1, r.stderr  # rm reports what it could not remove (/proc, /dev, /sys)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert "cannot remove '/usr/share/f1'" not in r.stderr  # the rootfs itself went, in the sandbox
    assert tree_snapshot(root) == before
    assert sorted(os.listdir("/dev")) == dev and sorted(os.listdir("/sys")) == sys_


def test_uid_gid_and_the_hostname_file(tmp_path: Path) -> None:
    r = _run(tmp_path, "id -u; id -g; touch mine; stat -c '%u %g' mine; cat /etc/hostname",
             "--uid", "1234", "--gid", "99", "--hostname", "box")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1234", "99", "1234 99", "box"]
    assert not (tmp_path / "mine").exists()
    bad = run_umlpy("run", "--uid", "-5", "--", "true")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.parametrize("landlock", [True, False], ids=["landlock", "tracer-alone"])
def test_namespace_changes_race_a_symlink_swap(tmp_path: Path, build_guest, landlock: bool) -> None:  # type: ignore[no-untyped-def]
    """mkdir/rename/symlink/mknod/rmdir/unlink under a directory that another
    thread keeps exchanging with a symlink to a host directory: they are
    done by the tracer in a parent reached without following symlinks, so
    the host directory stays empty even without the Landlock backstop."""
    target = tmp_path / "target"
    target.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    exe = build_guest("escape_vfs_ns_race")
    opts = ["--cpu", "spread"] + ([] if landlock else ["--no-landlock"])
    r = run_umlpy("run", "-q", "--discard", *opts, "--", str(exe), str(target), "3000", cwd=work, timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok="), r.stdout
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in work.iterdir()) == []


def test_null_path_with_at_empty_path_is_the_fd(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    r = run_umlpy("run", "-q", "--", str(build_guest("null_path_stat")), cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "r=0 size>0=1\n"), r.stderr


def test_overlay_of_a_host_tree_is_reviewed_like_the_root(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("base\n")
    r = _run(tmp_path, "echo new > /mnt/t/f && echo g > /mnt/t/g && cat /mnt/t/f", "--overlay", f"{tree}:/mnt/t")
    assert (r.returncode, r.stdout) == (0, "new\n"), r.stderr
    assert (tree / "f").read_text() == "base\n" and not (tree / "g").exists()
    d = run_umlpy("diff", str(_state(tmp_path)))
    assert sorted(ln.split()[:2] for ln in d.stdout.splitlines()) == [["A", "/mnt/t/g"], ["M", "/mnt/t/f"]]
    assert run_umlpy("commit", str(_state(tmp_path))).returncode == 0
    assert (tree / "f").read_text() == "new\n" and (tree / "g").read_text() == "g\n"


def test_an_unreaped_child_stays_in_proc(tmp_path: Path, build_guest) -> None:  # type: ignore[no-untyped-def]
    r = run_umlpy("run", "-q", "--", str(build_guest("zombie_proc")), cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "zombie visible=1\nstatus=7\n"), r.stderr


def test_fstat_agrees_with_stat_under_a_fake_identity(tmp_path: Path) -> None:
    code = ("import os\nopen('mine', 'w').close()\nfd = os.open('mine', os.O_RDONLY)\n"
            "print(os.fstat(fd).st_uid, os.stat('mine').st_uid)\nos.chown('mine', 7, 8)\n"
            "print(os.fstat(fd).st_uid, os.fstat(fd).st_gid, os.stat('mine').st_gid)")
    r = run_umlpy("run", "-q", "--discard", "-0", "--uid", "1234", "--", "python3", "-c", code, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "1234 1234\n7 8 8\n"), r.stderr


def test_fifos_never_make_the_tracer_wait(tmp_path: Path) -> None:
    """exec and truncate of a FIFO: the tracer inspects (or truncates) files
    itself, and must not block in open() waiting for a peer that never comes."""
    os.mkfifo(tmp_path / "lower.fifo")
    os.chmod(tmp_path / "lower.fifo", 0o755)
    code = ("import os\nos.mkfifo('upper.fifo', 0o755)\n"
            "for p in ('lower.fifo', 'upper.fifo'):\n"
            "    try: os.execv('./' + p, [p])\n"
            "    except OSError as e: print('exec', p, e.errno)\n"
            "    try: os.truncate(p, 0)\n"
            "    except OSError as e: print('truncate', p, e.errno)\n")
    r = run_umlpy("run", "-q", "--discard", "--timeout", "30", "--", "python3", "-c", code, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["exec lower.fifo 13", "truncate lower.fifo 22",
                                     "exec upper.fifo 13", "truncate upper.fifo 22"]


def test_a_full_unix_backlog_does_not_stall_the_tracer(tmp_path: Path) -> None:
    """The tracer connects unix sockets itself (on the very inode it checked);
    a listener that never accepts must not make it wait for ever."""
    code = ("import socket, errno\ns = socket.socket(socket.AF_UNIX); s.bind('l.sock'); s.listen(0)\n"
            "res = []\nclients = []\n"
            "for _ in range(4):\n"
            "    c = socket.socket(socket.AF_UNIX); clients.append(c)\n"
            "    try: c.connect('l.sock'); res.append('ok')\n"
            "    except OSError as e: res.append(errno.errorcode[e.errno])\n"
            "print(' '.join(res))\n")
    r = run_umlpy("run", "-q", "--discard", "--timeout", "60", "--", "python3", "-c", code, cwd=tmp_path, timeout=90)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "ok" and "EAGAIN" in words, r.stdout


MEMFD_EXEC = r"""
import os, sys
fd = os.memfd_create("prog", 0)
with open("/bin/echo", "rb") as f:
    os.write(fd, f.read())
for path in (f"/proc/self/fd/{fd}", f"/dev/fd/{fd}", f"/proc/PID/fd/{fd}", "/proc/self/fd/999"):
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(path.replace("PID", str(os.getpid())), ["echo", "ran", path])
        except OSError as e:
            print("refused", path, e.errno, flush=True)
            os._exit(3)
    print("status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def test_exec_of_a_memfd_by_its_proc_path_works_as_natively(tmp_path: Path) -> None:
    script = tmp_path / "memfd_exec.py"
    script.write_text(MEMFD_EXEC)
    native = subprocess.run(["python3", str(script)], capture_output=True, text=True, timeout=60, check=False)
    r = run_umlpy("run", "-q", "--", "python3", str(script), cwd=tmp_path)
    assert (r.returncode, r.stdout) == (native.returncode, native.stdout), r.stderr
    assert r.stdout.count("status 0") == 3 and "refused /proc/self/fd/999 2" in r.stdout
