"""umlpy: run unmodified Linux programs under a syscall-trapping virtual kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["AttachResult", "Hook", "HookCall", "RunResult", "Sandbox", "SandboxConfig", "UmlpyError", "__version__",
           "attach"]

if TYPE_CHECKING:
    from umlpy.sandbox import AttachResult, RunResult, Sandbox, SandboxConfig, UmlpyError, attach
    from umlpy.vkernel.hooks import Hook, HookCall

# The API is imported on first use: ``umlpy.cli`` must be able to set up
# before the tracer's modules load (umlpy._codecache), and ``umlpy diff``
# needs none of them.
_EXPORTS = {
    "RunResult": "umlpy.sandbox", "Sandbox": "umlpy.sandbox", "SandboxConfig": "umlpy.sandbox",
    "UmlpyError": "umlpy.sandbox", "AttachResult": "umlpy.sandbox", "attach": "umlpy.sandbox", "Hook": "umlpy.vkernel.hooks", "HookCall": "umlpy.vkernel.hooks",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'umlpy' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
