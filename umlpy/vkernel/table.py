"""The syscall table: one entry per Linux syscall name, the single source of truth.

Each entry says how the call is trapped and how well it is supported; the
seccomp filter (:mod:`umlpy.vkernel.filter`), ``umlpy syscalls`` and the
compatibility document are generated from it.  Numbers live only in
:mod:`umlpy.vkernel.arch`.

Trap modes:

* ``native``: runs on the host without a stop.  Only for calls that act on the
  guest's own memory, fds or credentials within what the host kernel already
  confines (today, until the filesystem and network layers land, this includes
  the file and socket families — see README "What is contained").
* ``enter``: stops at entry; the handler decides.
* ``conditional``: the filter inspects a register argument and stops only
  when it matters (clone with CLONE_UNTRACED, a few prctl options).
* ``refused``: stops and fails with the entry's errno; counted and reported.
* ``errno``: fails in the kernel with the entry's errno, no stop; for calls
  refused only so libc falls back to an inspectable one (clone3 -> clone).

The i386 ABI (``int 0x80`` from any process) is refused wholesale: every i386
call stops and fails with ENOSYS, and the refusal is reported.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Callable
from dataclasses import dataclass

from umlpy.tracer import bpf
from umlpy.vkernel import fdops, ipc, meta, netcalls, process, security, uts
from umlpy.vkernel.arch import i386, x86_64
from umlpy.vkernel.outcome import Outcome

Handler = Callable[..., Outcome]


class Trap(enum.Enum):
    NATIVE = "native"
    ENTER = "enter"
    CONDITIONAL = "conditional"
    REFUSED = "refused"
    ERRNO = "errno"


class Support(enum.Enum):
    PASSTHROUGH = "passthrough"  # runs on the host unchanged
    CHECKED = "checked"  # trapped; targets/arguments checked against the sandbox
    EMULATED = "emulated"  # (partly) done by umlpy itself
    REFUSED = "refused"  # never runs; the guest gets an errno


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    trap: Trap
    support: Support
    handler: Handler | None = None
    errno: int = 0
    rule: bpf.Rule | None = None  # for Trap.CONDITIONAL
    note: str = ""


_EPERM = errno.EPERM

# name -> note; refused with EPERM ("operation not permitted", as for an
# unprivileged process) unless listed in _REFUSED_ERRNO.
_REFUSED: dict[str, str] = {
    "io_uring_setup": "io_uring submits I/O the tracer never sees",
    "io_uring_enter": "io_uring submits I/O the tracer never sees",
    "io_uring_register": "io_uring submits I/O the tracer never sees",
    "bpf": "kernel programs",
    "perf_event_open": "kernel observability, side channels",
    "ptrace": "the guest is already traced; nested tracing is not emulated",
    "kexec_load": "replaces the kernel",
    "kexec_file_load": "replaces the kernel",
    "init_module": "kernel modules",
    "finit_module": "kernel modules",
    "delete_module": "kernel modules",
    "create_module": "kernel modules",
    "get_kernel_syms": "kernel modules",
    "query_module": "kernel modules",
    "mount": "mount namespace changes would hide paths from the tracer",
    "umount2": "mount table",
    "pivot_root": "mount table",
    "fsopen": "new mount API",
    "fsconfig": "new mount API",
    "fsmount": "new mount API",
    "fspick": "new mount API",
    "move_mount": "new mount API",
    "open_tree": "new mount API",
    "open_tree_attr": "new mount API",
    "mount_setattr": "new mount API",
    "statmount": "host mount table",
    "listmount": "host mount table",
    "chroot": "not virtualized yet",
    "unshare": "namespaces are not virtualized",
    "setns": "namespaces are not virtualized",
    "userfaultfd": "can stall the tracer's reads of guest memory",
    "keyctl": "kernel keyrings are shared with the host user",
    "add_key": "kernel keyrings are shared with the host user",
    "request_key": "kernel keyrings are shared with the host user",
    "open_by_handle_at": "bypasses path resolution",
    "name_to_handle_at": "file handles bypass path resolution",
    "iopl": "port I/O",
    "ioperm": "port I/O",
    "swapon": "host swap",
    "swapoff": "host swap",
    "reboot": "host power",
    "acct": "host accounting",
    "quotactl": "host quotas",
    "quotactl_fd": "host quotas",
    "settimeofday": "host clock",
    "clock_settime": "host clock",
    "clock_adjtime": "host clock",
    "adjtimex": "host clock",
    "sethostname": "host name",
    "setdomainname": "host name",
    "syslog": "host kernel log",
    "vhangup": "host terminals",
    "lookup_dcookie": "kernel profiling",
    "nfsservctl": "obsolete",
    "uselib": "obsolete loader call, bypasses execve",
    "_sysctl": "obsolete",
    "lsm_set_self_attr": "security labels",
    "fanotify_init": "watches (and as root blocks) every host file access",
    "fanotify_mark": "watches (and as root blocks) every host file access",
}

_CHECKED: dict[str, tuple[Handler, str]] = {
    "kill": (process.sys_kill, "pid must be in the guest tree; group forms emulated"),
    "tkill": (process.sys_tkill, "tid must be in the guest tree"),
    "tgkill": (process.sys_tgkill, "tgid/tid must be in the guest tree"),
    "rt_sigqueueinfo": (process.sys_pid_first, "pid must be in the guest tree"),
    "rt_tgsigqueueinfo": (process.sys_tgkill, "tgid/tid must be in the guest tree"),
    "pidfd_open": (process.sys_pidfd_open, "pid must be in the guest tree"),
    "pidfd_send_signal": (process.sys_pidfd_send_signal, "emulated on the tracer's copy of the pidfd"),
    "pidfd_getfd": (process.sys_pidfd_first, "pidfd must refer to the guest tree"),
    "process_madvise": (process.sys_pidfd_first, "pidfd must refer to the guest tree"),
    "process_mrelease": (process.sys_pidfd_first, "pidfd must refer to the guest tree"),
    "process_vm_readv": (process.sys_pid_first, "pid must be in the guest tree"),
    "process_vm_writev": (process.sys_pid_first, "pid must be in the guest tree"),
    "kcmp": (process.sys_kcmp, "both pids must be in the guest tree"),
    "prlimit64": (process.sys_pid_first, "pid must be in the guest tree"),
    "setpgid": (process.sys_pid_first, "pid must be in the guest tree"),
    "sched_setaffinity": (process.sys_pid_first, "pid must be in the guest tree"),
    "sched_setscheduler": (process.sys_pid_first, "pid must be in the guest tree"),
    "sched_setparam": (process.sys_pid_first, "pid must be in the guest tree"),
    "sched_setattr": (process.sys_pid_first, "pid must be in the guest tree"),
    "get_robust_list": (process.sys_pid_first, "pid must be in the guest tree"),
    "migrate_pages": (process.sys_pid_first, "pid must be in the guest tree"),
    "move_pages": (process.sys_pid_first, "pid must be in the guest tree"),
    "setpriority": (process.sys_which_who, "only PRIO_PROCESS targets in the guest tree"),
    "ioprio_set": (process.sys_which_who, "only IOPRIO_WHO_PROCESS targets in the guest tree"),
    "seccomp": (security.sys_seccomp, "filters stack; NEW_LISTENER refused"),
    "execve": (process.sys_execve, "path noted for the report (execute-only images hide /proc/PID/exe)"),
    "execveat": (process.sys_execve, "path noted for the report (execute-only images hide /proc/PID/exe)"),
    "personality": (security.sys_personality, "Linux execution domains only"),
    **{n: (ipc.sys_ipc_get, "SysV: host keys refused, created ids recorded") for n in ("shmget", "semget", "msgget")},
    **{
        n: (ipc.sys_ipc_use, "SysV: only ids the guest created")
        for n in ("shmat", "shmctl", "semop", "semtimedop", "semctl", "msgsnd", "msgrcv", "msgctl")
    },
}

_CONDITIONAL: dict[str, tuple[Handler, bpf.Rule, str]] = {
    "clone": (
        process.sys_clone,
        bpf.IfArgMask(0, 0x00800000, bpf.TRACE, bpf.ALLOW),
        "stops only with CLONE_UNTRACED, which is stripped",
    ),
    "prctl": (
        security.sys_prctl,
        bpf.IfArgIn(0, security.PRCTL_TRAPPED, bpf.TRACE, bpf.ALLOW),
        "stops for PR_SET_DUMPABLE (emulated), PR_SET_MM (refused), PR_SET_SECCOMP",
    ),
}

_CONDITIONAL.update(
    {
        "ioctl": (
            fdops.sys_ioctl,
            bpf.IfArgIn(1, fdops.IOCTL_TRAPPED, bpf.TRACE, bpf.ALLOW),
            "stops for terminal injection, userfaultfd, fs freeze, inode flags, SIGIO owner: refused",
        ),
        "fcntl": (
            fdops.sys_fcntl,
            bpf.IfArgIn(1, fdops.FCNTL_TRAPPED, bpf.TRACE, bpf.ALLOW),
            "stops for F_SETOWN (owner must be the guest's) and F_SETOWN_EX (refused)",
        ),
        "mknod": (
            fdops.sys_mknod,
            bpf.IfArgMask(1, fdops.MKNOD_DEVICE_BIT, bpf.TRACE, bpf.ALLOW),
            "stops for device nodes, which are refused",
        ),
        "mknodat": (
            fdops.sys_mknod,
            bpf.IfArgMask(2, fdops.MKNOD_DEVICE_BIT, bpf.TRACE, bpf.ALLOW),
            "stops for device nodes, which are refused",
        ),
    }
)

# Calls whose first argument is a pid, 0 meaning the caller itself: the
# filter lets pid 0 through natively (a register, so race-free) and stops
# only for explicit pids.  getrlimit()/setrlimit() in glibc are prlimit64(0,
# …): every process start would otherwise pay a stop.
for _name, (_h, _note) in list(_CHECKED.items()):
    if _h is process.sys_pid_first:
        del _CHECKED[_name]
        _CONDITIONAL[_name] = (_h, bpf.IfArgIn(0, (0,), bpf.ALLOW, bpf.TRACE), _note + "; pid 0 (self) runs natively")

_ERRNO: dict[str, tuple[int, str]] = {
    "clone3": (errno.ENOSYS, "flags live in memory the guest can change; libc falls back to clone"),
}

# Handlers for calls that stop only under some policies (the filter decides).
POLICY_HANDLERS = {
    "socket": netcalls.sys_socket,
    "connect": netcalls.sys_connect,
    "bind": netcalls.sys_bind,
    "listen": netcalls.sys_listen,
    "sendto": netcalls.sys_sendto,
    "sendmsg": netcalls.sys_sendmsg,
    "sendmmsg": netcalls.sys_sendmmsg,
    "getsockname": netcalls.sys_getsockname,
    "getpeername": netcalls.sys_getpeername,
    "accept": netcalls.sys_accept,
    "accept4": netcalls.sys_accept,
    "uname": uts.sys_uname,  # with a virtual hostname
    **{n: meta.sys_metadata for n in meta.TRAPPED_WHEN_LIMITED},
}

# Trapped only when a task limit is set (handlers enforce it).
TASK_CREATION = {"clone": process.sys_clone, "fork": process.sys_fork, "vfork": process.sys_fork}


def _entry(name: str) -> Entry:
    if name in _REFUSED:
        return Entry(name, Trap.REFUSED, Support.REFUSED, errno=_EPERM, note=_REFUSED[name])
    if name in _ERRNO:
        e, note = _ERRNO[name]
        return Entry(name, Trap.ERRNO, Support.REFUSED, errno=e, note=note)
    if name in _CHECKED:
        h, note = _CHECKED[name]
        return Entry(name, Trap.ENTER, Support.CHECKED, handler=h, note=note)
    if name in _CONDITIONAL:
        h, rule, note = _CONDITIONAL[name]
        return Entry(name, Trap.CONDITIONAL, Support.CHECKED, handler=h, rule=rule, note=note)
    return Entry(name, Trap.NATIVE, Support.PASSTHROUGH)


TABLE: dict[str, Entry] = {
    name: _entry(name)
    for name in sorted(set(x86_64.SYSCALL_NAMES.values()) | set(i386.SYSCALL_NAMES.values()))
}

# Dense lookup by x86-64 number for the hot path.
BY_NR: dict[int, Entry] = {nr: TABLE[name] for nr, name in x86_64.SYSCALL_NAMES.items()}


def i386_name(nr: int) -> str:
    return i386.SYSCALL_NAMES.get(nr, f"syscall_{nr}")


def x86_64_name(nr: int) -> str:
    if nr & 0x40000000:
        return f"x32:{x86_64.SYSCALL_NAMES.get(nr & ~0x40000000, nr & ~0x40000000)}"
    return x86_64.SYSCALL_NAMES.get(nr, f"syscall_{nr}")
