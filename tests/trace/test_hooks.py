"""The hooks API: ``Sandbox(config).run(argv, hooks=[...])`` with real guests under the real tracer.

Guests print what they observed; the hooks' effect is checked there.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from umlpy import Hook, HookCall, Sandbox, SandboxConfig
from umlpy.sandbox import vfs_config

pytestmark = pytest.mark.usefixtures("traceable")

# Prints each call's outcome on its own line; os.write(1, ...) are the calls counted.
WRITES = ("import os\n"
          "for i in range(1, 6):\n"
          "    try:\n"
          "        os.write(1, b'line %d\\n' % i)\n"
          "    except OSError as e:\n"
          "        os.write(2, b'write %d failed: %s\\n' % (i, os.strerror(e.errno).encode()))\n")

# unshare(CLONE_NEWUSER) through libc (os.unshare is Python 3.12+); rc and errno.
UNSHARE = ("import ctypes, errno\n"
           "libc = ctypes.CDLL(None, use_errno=True)\n"
           "rc = libc.unshare(0x10000000)\n"
           "err = ctypes.get_errno()\n")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "asked.txt", tmp_path / "other.txt"
    a.write_text("content of asked\n")
    b.write_text("content of other\n")
    return a, b


def test_rewrite_openat_path(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    asked, other = _files(tmp_path)
    seen: list[list[str | None]] = []

    def enter(call: HookCall) -> None:
        if call.read_string(call.raw_args[1]) == os.fsencode(asked):
            seen.append(call.args)
            call.set_arg(1, str(other))

    r = Sandbox(SandboxConfig()).run(["cat", str(asked)], hooks=[Hook.of("openat", on_enter=enter)])
    assert r.exit_code == 0
    assert capfd.readouterr().out == "content of other\n"
    assert seen == [["AT_FDCWD", f'"{asked}"', "O_RDONLY", None]]


def test_rewritten_path_is_decided_again_by_the_vfs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """With a virtual filesystem the hook's path is a guest path: translated, hidden paths stay hidden."""
    asked, other = _files(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    cfg = SandboxConfig(vfs=vfs_config(str(tmp_path / "state"), hide=[str(secret)]))

    def enter(call: HookCall) -> None:
        path = call.read_string(call.raw_args[1])
        if path == os.fsencode(asked):
            call.set_arg(1, str(other))
        elif path == os.fsencode(other):
            call.set_arg(1, str(secret))

    script = f"cat {asked}; cat {other} || echo hidden"
    r = Sandbox(cfg).run(["sh", "-c", script], hooks=[Hook.of("openat", on_enter=enter)])
    assert r.exit_code == 0
    out = capfd.readouterr().out
    assert out == "content of other\nhidden\n"


def test_write_fails_with_enospc_at_the_third_call(capfd: pytest.CaptureFixture[str]) -> None:
    n = 0

    def enter(call: HookCall) -> None:
        nonlocal n
        if call.raw_args[0] == 1:
            n += 1
            if n == 3:
                call.fail(errno.ENOSPC)

    r = Sandbox(SandboxConfig()).run([sys.executable, "-c", WRITES], hooks=[Hook.of("write", on_enter=enter)])
    assert r.exit_code == 0
    out, err = capfd.readouterr()
    assert out == "line 1\nline 2\nline 4\nline 5\n"
    assert err == "write 3 failed: No space left on device\n"


def test_getpid_result_replaced_at_exit(capfd: pytest.CaptureFixture[str]) -> None:
    real: list[int] = []

    def leave(call: HookCall) -> None:
        assert call.phase == "exit" and call.retval is not None
        real.append(call.retval)
        call.set_return(424242)

    prog = "import os; print(os.getpid())"
    r = Sandbox(SandboxConfig()).run([sys.executable, "-c", prog], hooks=[Hook.of("getpid", on_exit=leave)])
    assert r.exit_code == 0
    assert capfd.readouterr().out == "424242\n"
    assert real and real[0] > 1


def test_hook_cannot_allow_a_refused_call(capfd: pytest.CaptureFixture[str]) -> None:
    """unshare(2) is refused by umlpy's table: a hook sees it refused and cannot make it run or succeed."""
    seen: list[tuple[str, bool]] = []

    def enter(call: HookCall) -> None:
        seen.append((call.decided, call.refused))
        call.skip(0)  # "pretend it worked"
        call.at_exit(lambda c: c.set_return(0))

    prog = UNSHARE + "print('unshared' if rc == 0 else errno.errorcode[err])\n"
    r = Sandbox(SandboxConfig()).run([sys.executable, "-c", prog], hooks=[Hook.of("unshare", on_enter=enter)])
    assert capfd.readouterr().out == "EPERM\n"
    assert seen == [("deny", True)]
    assert r.denied == {"unshare": 1}
    assert any("skip() was ignored" in w for w in r.warnings)
    assert any("set_return() was ignored" in w for w in r.warnings)


def test_set_arg_on_a_refused_call_is_ignored(capfd: pytest.CaptureFixture[str]) -> None:
    def enter(call: HookCall) -> None:
        call.set_arg(0, 0)

    prog = UNSHARE + "print(err)\n"
    r = Sandbox(SandboxConfig()).run([sys.executable, "-c", prog], hooks=[Hook.of("unshare", on_enter=enter)])
    assert capfd.readouterr().out == f"{errno.EPERM}\n"
    assert any("set_arg() was ignored" in w for w in r.warnings)


def test_hooks_for_every_call_see_the_exit_values() -> None:
    names: list[str] = []
    r = Sandbox(SandboxConfig()).run(["/bin/true"], hooks=[Hook(None, on_exit=lambda c: names.append(c.name))])
    assert r.exit_code == 0
    assert "execve" in names and len(names) > 5  # exit_group has no exit


def test_exception_in_a_hook_kills_the_guest() -> None:
    def boom(call: HookCall) -> None:
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        Sandbox(SandboxConfig()).run(["sh", "-c", "cat /dev/null; sleep 30"], hooks=[Hook.of("openat", on_enter=boom)])


def test_unknown_syscall_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown syscall 'nosuchcall'"):
        Hook.of("nosuchcall", on_enter=lambda c: None)
