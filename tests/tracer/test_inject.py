"""Syscall injection (umlpy.tracer.inject) on real guests.

A test handler injects a call into a trapped getcwd; getcwd must then
re-execute with every register intact (the guest checks them in inline
assembly), and the injected call's result must reach the callback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from umlpy import Sandbox, SandboxConfig
from umlpy.tracer.inject import InjectError, inject
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.outcome import PASS, Outcome
from umlpy.vkernel.state import Kernel

pytestmark = pytest.mark.usefixtures("traceable")

NR_GETPID, NR_GETPPID = 39, 110


def _run(
    capfd: pytest.CaptureFixture[str], argv: list[str], handlers: dict, cwd: str | None = None  # type: ignore[type-arg]
) -> tuple[int, str]:
    cfg = SandboxConfig(handlers_override=handlers, protect_tracer=False)
    res = Sandbox(cfg).run(argv, cwd=cwd)
    return res.returncode, capfd.readouterr().out


def test_injected_call_runs_and_original_reexecutes(build_guest, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results: list[int] = []
    state = {"injected": False}

    def getcwd(k: Kernel, ctx: SyscallContext) -> Outcome:
        if state["injected"]:  # the re-entry: let getcwd run
            state["injected"] = False
            return PASS
        state["injected"] = True

        inject(ctx, NR_GETPID, (), results.append)
        return PASS

    code, out = _run(capfd, [str(build_guest("inject_regs"))], {"getcwd": getcwd}, cwd=str(tmp_path))
    assert code == 0, out
    assert f"cwd={tmp_path} regs=ok" in out
    pid = int(out.split("pid=")[1].split()[0])
    assert results == [pid, pid]  # both getcwd calls got one injection


def test_injection_failure_is_reported_not_fatal(build_guest, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An injected call the kernel refuses returns -errno to the callback."""
    seen: list[int] = []
    state = {"injected": False}

    def getcwd(k: Kernel, ctx: SyscallContext) -> Outcome:
        if state["injected"]:
            state["injected"] = False
            return PASS
        state["injected"] = True
        # mmap with a length of 0 fails with EINVAL
        inject(ctx, 9, (0, 0, 1, 0x22, -1, 0), seen.append)
        return PASS

    code, out = _run(capfd, [str(build_guest("inject_regs"))], {"getcwd": getcwd})
    assert code == 0 and "regs=ok" in out
    assert seen == [-22, -22]


def test_refuses_a_second_exit_callback(build_guest, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def getcwd(k: Kernel, ctx: SyscallContext) -> Outcome:
        ctx.on_exit(lambda ret: None)
        try:
            inject(ctx, NR_GETPPID, (), lambda ret: None)
        except InjectError as e:
            seen.append(str(e))
        return PASS

    code, out = _run(capfd, [str(build_guest("inject_regs"))], {"getcwd": getcwd})
    assert code == 0 and "regs=ok" in out
    assert seen and all("exit callback" in e for e in seen)
