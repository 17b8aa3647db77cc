"""umlpy: run unmodified Linux programs under a syscall-trapping virtual kernel."""

from __future__ import annotations

__version__ = "0.1.0"

from umlpy.sandbox import AttachResult, RunResult, Sandbox, SandboxConfig, UmlpyError, attach
from umlpy.vkernel.hooks import Hook, HookCall

__all__ = ["AttachResult", "Hook", "HookCall", "RunResult", "Sandbox", "SandboxConfig", "UmlpyError", "__version__",
           "attach"]
