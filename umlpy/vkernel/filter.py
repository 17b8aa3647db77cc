"""Generate the guest's seccomp filter from the syscall table.

Deny by default: numbers absent from the x86-64 table, the x32 range and
every non-x86-64 architecture return RET_TRACE, and the dispatcher refuses
them (ENOSYS) and reports it.  Nothing unknown is ever ALLOWed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from umlpy.tracer import bpf
from umlpy.vkernel import netcalls as net
from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.table import BY_NR, TASK_CREATION, Trap


def rules(
    *,
    trace_all: bool = False,
    task_limit: bool = False,
    net_none: bool = False,
    unix_names: bool = False,
    extra: Iterable[str] = (),
    native_rules: Mapping[str, bpf.Rule] | None = None,
) -> dict[int, bpf.Rule]:
    """x86-64 number -> BPF rule.  ``extra`` names are trapped unconditionally.

    ``net_none``: a network policy other than the host's is enforced
    (:mod:`umlpy.vkernel.net`): socket() stops only for families other than
    unix/inet/inet6, sendto only with an address; connect, bind, listen,
    sendmsg, sendmmsg, getsockname and getpeername always stop, accept and
    accept4 when their address pointer is not NULL; ioctl also
    for the netdevice requests (``net.SIOC_TRAPPED``).

    ``unix_names``: the vfs shows unix socket names in guest terms
    (:mod:`umlpy.vkernel.unixnames`): accept and accept4 stop when their
    address pointer is not NULL, whatever the network policy.

    ``native_rules`` (name -> rule) replace ALLOW for calls that would
    otherwise run natively (the scratch guard's TRAP mode); they never
    weaken a trapped or refused call.
    """
    out: dict[int, bpf.Rule] = {}
    forced = set(extra) | (set(TASK_CREATION) if task_limit else set())
    for nr, e in BY_NR.items():
        if e.name == "socket" and net_none and not trace_all and e.name not in forced:
            out[nr] = bpf.IfArgIn(0, net.NATIVE_FAMILIES, bpf.ALLOW, bpf.TRACE)
        elif e.name == "sendto" and net_none and not trace_all and e.name not in forced:
            out[nr] = bpf.IfArgIn(5, (0,), bpf.ALLOW, bpf.TRACE)
        elif e.name in net.ACCEPT_CALLS and (net_none or unix_names) and not trace_all and e.name not in forced:
            out[nr] = bpf.IfArgNull(1, bpf.ALLOW, bpf.TRACE)  # stops only to rewrite a peer address
        elif e.name == "ioctl" and net_none and not trace_all and e.name not in forced:
            assert isinstance(e.rule, bpf.IfArgIn)
            out[nr] = bpf.IfArgIn(1, e.rule.values + net.SIOC_TRAPPED, bpf.TRACE, bpf.ALLOW)
        elif e.name in net.VNET_CALLS and net_none:
            out[nr] = bpf.TRACE
        elif e.trap is Trap.ERRNO:
            out[nr] = bpf.errno(e.errno)
        elif trace_all or e.name in forced or e.trap in (Trap.ENTER, Trap.REFUSED):
            out[nr] = bpf.TRACE
        elif e.trap is Trap.CONDITIONAL:
            assert e.rule is not None
            out[nr] = e.rule
        elif native_rules and e.name in native_rules:
            out[nr] = native_rules[e.name]
        else:
            out[nr] = bpf.ALLOW
    return out


def build(
    *,
    trace_all: bool = False,
    task_limit: bool = False,
    net_none: bool = False,
    unix_names: bool = False,
    extra: Iterable[str] = (),
    native_rules: Mapping[str, bpf.Rule] | None = None,
) -> list[bpf.Insn]:
    return bpf.assemble(
        rules(trace_all=trace_all, task_limit=task_limit, net_none=net_none, unix_names=unix_names, extra=extra,
              native_rules=native_rules),
        default=bpf.TRACE,
        unknown=bpf.TRACE,
        x32=bpf.TRACE,
        other_arch=bpf.TRACE,
    )


def trapped_names(*, trace_all: bool = False, task_limit: bool = False, net_none: bool = False) -> list[str]:
    r = rules(trace_all=trace_all, task_limit=task_limit, net_none=net_none)
    return sorted(x86_64.SYSCALL_NAMES[nr] for nr, rule in r.items() if rule != bpf.ALLOW)
