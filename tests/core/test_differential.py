"""Differential tests: real programs give the same stdout and status natively and under umlpy run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_native, run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def same(argv: list[str], cwd: Path | None = None, setup=None, via: tuple[str, ...] = ("run", "-q")) -> None:  # type: ignore[no-untyped-def]
    """Run argv natively and under umlpy (each in a fresh copy of cwd if setup given)."""
    dirs = []
    for label in ("native", "umlpy"):
        d = None
        if setup is not None:
            assert cwd is not None
            d = cwd / label
            d.mkdir()
            setup(d)
        dirs.append(d)
    nat = run_native(argv, cwd=dirs[0])
    uml = run_umlpy(*via, "--", *argv, cwd=dirs[1])
    assert (uml.stdout, uml.returncode) == (nat.stdout, nat.returncode), uml.stderr


BASH_SCRIPT = r"""
set -u
trap 'echo trapped USR1' USR1
echo start
x=$(echo sub | tr a-z A-Z); echo "cmdsub $x"
( echo subshell; exit 3 ); echo "subshell status $?"
seq 1 200 | grep 7 | sort -r | head -3
sleep 0.1 & bg=$!
{ echo job2; } &
wait $bg; wait
kill -USR1 $$
f() { local n=$1; [ "$n" -le 1 ] && echo 1 && return; echo $(( n * $(f $((n-1))) )); }
echo "fact $(f 6)"
for i in 1 2 3; do echo "loop $i" | cat; done
exit 5
"""


def test_bash_script(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text(BASH_SCRIPT)
    same(["bash", str(script)])


def test_python_threads_and_multiprocessing(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text(textwrap.dedent("""
        import multiprocessing as mp, threading
        def sq(x): return x * x
        if __name__ == "__main__":
            out = []
            ts = [threading.Thread(target=lambda i=i: out.append(sum(range(i * 10000)))) for i in range(8)]
            [t.start() for t in ts]; [t.join() for t in ts]
            print(sorted(out), flush=True)
            with mp.get_context("fork").Pool(3) as p: print(p.map(sq, range(20)))
            with mp.get_context("spawn").Pool(2) as p: print(p.map(sq, range(5)))
    """))
    same([sys.executable, str(prog)])


@pytest.mark.parametrize("via", [("run", "-q"), ("trace", "-o", "/dev/null")], ids=["run", "trace"])
def test_gcc_compile_and_run(tmp_path: Path, via: tuple[str, ...]) -> None:
    if not shutil.which("gcc"):
        pytest.skip("gcc missing")

    def setup(d: Path) -> None:
        (d / "m.c").write_text('#include <stdio.h>\nint main(){puts("compiled");return 4;}\n')

    same(["sh", "-c", "gcc -o m m.c && ./m"], tmp_path, setup, via)


def test_make_j2(tmp_path: Path) -> None:
    if not shutil.which("make") or not shutil.which("gcc"):
        pytest.skip("make/gcc missing")

    def setup(d: Path) -> None:
        for i in range(4):
            (d / f"f{i}.c").write_text(f"int f{i}(void){{return {i};}}\n")
        (d / "main.c").write_text(
            "#include <stdio.h>\n" + "".join(f"int f{i}(void);" for i in range(4))
            + '\nint main(){printf("%d\\n", f0()+f1()+f2()+f3());return 0;}\n'
        )
        (d / "Makefile").write_text(
            "OBJS=main.o f0.o f1.o f2.o f3.o\nprog: $(OBJS)\n\tgcc -o $@ $(OBJS)\n%.o: %.c\n\tgcc -c $<\n"
        )

    same(["sh", "-c", "make -s -j2 && ./prog"], tmp_path, setup)


def test_git(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git missing")
    script = (
        "export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' "
        "GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'; git init -q r && cd r && echo hi > a && "
        "git add a && git -c user.email=a@b -c user.name=a commit -qm first && git log --format='%H %s'"
    )
    same(["sh", "-c", script], tmp_path, lambda d: None)


def test_tar_pipe(tmp_path: Path) -> None:
    def setup(d: Path) -> None:
        (d / "src" / "sub").mkdir(parents=True)
        for i in range(50):
            (d / "src" / "sub" / f"f{i}").write_text(str(i) * i)

    same(["sh", "-c", "tar cf - src | (mkdir dst && cd dst && tar xf -) && find dst -type f | sort | xargs cat | md5sum"],
         tmp_path, setup)


def test_find() -> None:
    same(["find", "/usr/include/linux", "-name", "*.h", "-newer", "/usr/include/stdio.h"])


def test_static_binary(build_guest) -> None:  # type: ignore[no-untyped-def]
    try:
        exe = build_guest("hello", "-static")
    except subprocess.CalledProcessError:
        pytest.skip("static libc not installed")
    same([str(exe), "static"])


def test_exec_from_secondary_thread(build_guest) -> None:  # type: ignore[no-untyped-def]
    same([str(build_guest("exec_thread"))])


def test_threads(build_guest) -> None:  # type: ignore[no-untyped-def]
    same([str(build_guest("threads"))])


def test_sigsegv_status(build_guest) -> None:  # type: ignore[no-untyped-def]
    exe = str(build_guest("segv"))
    nat = run_native([exe])
    uml = run_umlpy("run", "-q", "--", exe)
    assert nat.returncode == -11
    assert uml.returncode == nat.returncode  # umlpy dies of the same signal
    # and a shell running each reports it the same way
    nat_sh = run_native(["bash", "-c", f"{exe}; echo status=$?"])
    uml_sh = run_native(["bash", "-c", f"{sys.executable} -m umlpy run -q -- {exe}; echo status=$?"],
                        env={"PYTHONPATH": str(Path(__file__).parents[2]), "PATH": "/usr/bin:/bin"})
    assert nat_sh.stdout == uml_sh.stdout == "status=139\n"
    assert "Segmentation fault" in nat_sh.stderr and "Segmentation fault" in uml_sh.stderr
