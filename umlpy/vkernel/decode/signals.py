"""Decoders for the signal family (rt_sigaction, rt_sigprocmask, kill …)."""

from __future__ import annotations

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import INT, PTR, ULONG, Arg, Env, Spec, no_reads, s32, sc
from umlpy.vkernel.decode.structs import SIGACTION_IN, SIGACTION_OUT, sigset_in, sigset_out, sigset_str

SIGNAL = Arg(lambda e, i: F.signame(s32(e.args[i])) if 0 < s32(e.args[i]) <= 64 else str(s32(e.args[i])),
             reads=no_reads)
HOW = Arg(lambda e, i: F.xval(s32(e.args[i]), F.SigHow), reads=no_reads)


def _sigaltstack(e: Env, i: int) -> str:
    return "NULL" if e.args[i] == 0 else f"{e.args[i]:#x}"


# rt_sigreturn: the kernel's rt_sigframe starts 8 bytes below the stack pointer
# (its return address was popped); the ucontext follows, and uc_sigmask sits after
# uc_flags, uc_link, uc_stack and the 256-byte sigcontext (arch/x86/include/asm/sigframe.h).
_UC_SIGMASK = 8 + 8 + 24 + 256


def _sigreturn_mask(e: Env, i: int) -> str | None:
    if not e.sp:
        return None
    return f"{{mask={sigset_str(e, e.sp + _UC_SIGMASK)}}}"


SPECS: dict[str, Spec] = {
    "rt_sigaction": sc(SIGNAL, SIGACTION_IN, SIGACTION_OUT, ULONG),
    "rt_sigprocmask": sc(HOW, sigset_in(3), sigset_out(3), ULONG),
    "rt_sigpending": sc(sigset_out(1), ULONG),
    "rt_sigsuspend": sc(sigset_in(1), ULONG),
    "kill": sc(INT, SIGNAL),
    "tkill": sc(INT, SIGNAL),
    "tgkill": sc(INT, INT, SIGNAL),
    "sigaltstack": sc(Arg(_sigaltstack), PTR),
    "pause": sc(),
    "rt_sigreturn": sc(Arg(_sigreturn_mask)),
}
