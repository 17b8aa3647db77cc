"""Syscall argument decoders, one module per family, as in strace.

* :mod:`.fs` files and descriptors, :mod:`.mm` memory, :mod:`.process`
  processes and per-task setup, :mod:`.signals`, :mod:`.net`;
* :mod:`.strings` strace's string escaping, :mod:`.structs` structures in
  guest memory, :mod:`.flags` the flag/constant tables.

A call is decoded in two steps.  :func:`decode_enter` formats the *in*
arguments at the syscall-entry stop (paths, argv: after an execve or a
racing thread they may be gone); :func:`decode_exit` formats the *out*
arguments once the return value is known.  A syscall without a decoder is
printed like strace's ``printargs``: each argument in hex.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode import fs, misc, mm, net, process, signals
from umlpy.vkernel.decode.base import Arg, Env, Memory, Options, Ret, Spec, hexc, no_reads, s64, show_fd

__all__ = [
    "SPECS", "Decoded", "Env", "Memory", "Options", "decode_enter", "decode_exit", "format_return", "reads_declared",
    "spec_for",
]

SPECS: dict[str, Spec] = {**fs.SPECS, **mm.SPECS, **process.SPECS, **signals.SPECS, **net.SPECS, **misc.SPECS}
SPECS["poll"] = misc.poll_spec(SPECS["poll"])

# Argument counts (strace's tables) for calls python-ptrace has no prototype for.
_NARGS = {
    "rt_sigreturn": 0, "modify_ldt": 3, "_sysctl": 1, "arch_prctl": 2, "umount2": 2, "iopl": 1,
    "create_module": 2, "get_kernel_syms": 1, "query_module": 5, "nfsservctl": 3, "getpmsg": 5, "putpmsg": 5,
    "afs_syscall": 5, "tuxcall": 3, "security": 3, "set_thread_area": 1, "get_thread_area": 1,
    "epoll_ctl_old": 4, "epoll_wait_old": 4, "vserver": 5, "preadv2": 6, "pwritev2": 6, "pkey_mprotect": 4,
    "pkey_alloc": 2, "pkey_free": 1, "io_pgetevents": 6, "rseq": 4, "uretprobe": 0, "pidfd_send_signal": 4,
    "io_uring_setup": 2, "io_uring_enter": 6, "io_uring_register": 4, "open_tree": 3, "move_mount": 5,
    "fsopen": 2, "fsconfig": 5, "fsmount": 3, "fspick": 3, "pidfd_open": 2, "clone3": 2, "close_range": 3,
    "openat2": 4, "pidfd_getfd": 3, "faccessat2": 4, "process_madvise": 5, "epoll_pwait2": 6,
    "mount_setattr": 5, "quotactl_fd": 4, "landlock_create_ruleset": 3, "landlock_add_rule": 4,
    "landlock_restrict_self": 2, "memfd_secret": 1, "process_mrelease": 2, "futex_waitv": 5,
    "set_mempolicy_home_node": 4, "cachestat": 4, "fchmodat2": 4, "map_shadow_stack": 3, "futex_wake": 4,
    "futex_wait": 6, "futex_requeue": 4, "statmount": 4, "listmount": 4, "lsm_get_self_attr": 4,
    "lsm_set_self_attr": 4, "lsm_list_modules": 3, "mseal": 3, "setxattrat": 6, "getxattrat": 6,
    "listxattrat": 5, "removexattrat": 4, "open_tree_attr": 5, "file_getattr": 5, "file_setattr": 5,
}

_HEX_ARG = Arg(lambda e, i: hexc(e.args[i]), reads=no_reads)
_GENERIC: dict[str, Spec] = {}


def nargs(name: str) -> int:
    if name in _NARGS:
        return _NARGS[name]
    proto = SYSCALL_PROTOTYPES.get(name)
    return len(proto[1]) if proto is not None else 6


def spec_for(name: str) -> Spec:
    spec = SPECS.get(name)
    if spec is None:
        spec = _GENERIC.get(name)
        if spec is None:
            spec = _GENERIC[name] = Spec((_HEX_ARG,) * nargs(name))
    return spec


@dataclass(slots=True)
class Decoded:
    """One call's formatted arguments (None: omitted); ``first_out`` splits what entry can print."""

    name: str
    spec: Spec
    env: Env
    parts: list[str | None]
    first_out: int
    omitted: set[int]

    def head(self) -> str:
        """``name(in, args, `` as far as entry knows (strace's line before ``<unfinished ...>``)."""
        shown = [p for p in self.parts[: self.first_out] if p is not None]
        tail = ", " if shown and self.first_out < len(self.parts) else ""
        return f"{self.name}({', '.join(shown)}{tail}"

    def tail(self) -> str:
        """The rest after :meth:`head`, closing parenthesis included."""
        shown = [p for p in self.parts[self.first_out:] if p is not None]
        return ", ".join(shown) + ")"

    def args(self) -> list[str]:
        return [p for p in self.parts if p is not None]

    def text(self) -> str:
        """The whole ``name(args)`` once the call is complete."""
        return f"{self.name}({', '.join(self.args())})"


def decode_enter(name: str, env: Env) -> Decoded:
    spec = spec_for(name)
    parts: list[str | None] = []
    first_out = len(spec.args)
    omitted: set[int] = set()
    for i, a in enumerate(spec.args):
        if a.out:
            # An "always" out arg that has nothing to say at entry never will (clone's
            # parent_tid without CLONE_PARENT_SETTID): leave it out of the split point.
            if a.always and _safe(a, env, i) is None:
                omitted.add(i)
            else:
                first_out = min(first_out, i)
            parts.append(None)
        else:
            parts.append(_safe(a, env, i))
    return Decoded(name, spec, env, parts, first_out, omitted)


def decode_exit(d: Decoded, ret: int) -> None:
    env = d.env
    env.ret = ret
    failed = s64(ret) < 0 and s64(ret) >= -4095
    for i, a in enumerate(d.spec.args):
        if a.out and i not in d.omitted:
            if failed and not a.always:
                v = env.args[i]
                d.parts[i] = "NULL" if v == 0 else f"{v:#x}"
            else:
                d.parts[i] = _safe(a, env, i)


def reads_declared(spec: Spec) -> bool:
    """Whether every argument says what guest memory it reads (see :mod:`.base`).

    Not for arguments printed even when the call fails (``always``): their
    entry formatting decides the line's split, so they are decoded at the stop.
    """
    return (spec.ret_fmt is None or spec.ret_fmt_regs) and all(a.reads is not None and not a.always for a in spec.args)


def _safe(a: Arg, env: Env, i: int) -> str | None:
    try:
        return a.fmt(env, i)
    except Exception:  # noqa: BLE001 - a decoder bug must not kill the trace
        return hexc(env.args[i])


def format_return(d: Decoded | None, ret: int | None, *, decode_fds: int = 0) -> str:
    """The text after ``= ``: ``3``, ``-1 ENOENT (No such file or directory)``, ``?``."""
    if ret is None:
        return "?"
    r = s64(ret)
    if -4095 <= r < 0:
        err = -r
        if F.is_restart(err):
            return f"? {F.errno_name(err)} ({F.errno_text(err)})"
        return f"-1 {F.errno_name(err)} ({F.errno_text(err)})"
    spec = d.spec if d is not None else None
    if spec is None:
        return str(r)
    if spec.ret_fmt is not None and d is not None:
        return spec.ret_fmt(d.env, r)
    match spec.ret:
        case Ret.HEX:
            return f"{ret & 0xFFFFFFFFFFFFFFFF:#x}"
        case Ret.OCT:
            return f"0{r:o}" if r else "0"
        case Ret.FD if decode_fds and d is not None:
            return show_fd(d.env, r)
    return str(r)
