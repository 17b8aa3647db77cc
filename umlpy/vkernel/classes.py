"""strace's trace classes (``-e trace=%file`` …) as sets of syscall names.

Membership follows strace's own classification: the flag column of its
per-arch syscall tables (``src/linux/x86_64/syscallent.h`` and
``src/linux/generic/syscallent-common.h``; TF → %file, TD → %desc, TN →
%network, TP → %process, TS → %signal, TI → %ipc, TM → %memory, TC →
%creds, TCL → %clock, TST/TLST/TFST/TSTA → %stat/%lstat/%fstat/%%stat,
TSF/TFSF/TSFA → %statfs/%fstatfs/%%statfs, PU → %pure).  Calls newer than
strace's table (listxattrat … file_setattr) are classed like their siblings.

Names only; numbers live in :mod:`umlpy.vkernel.arch`.
"""

from __future__ import annotations


def _s(text: str) -> frozenset[str]:
    return frozenset(text.split())


_XATTRAT = "setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr"

FILE = _s(
    "open stat lstat access execve truncate getcwd chdir rename mkdir rmdir creat link unlink symlink"
    " readlink chmod chown lchown utime mknod uselib statfs pivot_root chroot acct mount umount2 swapon"
    " swapoff quotactl setxattr lsetxattr getxattr lgetxattr listxattr llistxattr removexattr lremovexattr"
    " utimes inotify_add_watch openat mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat"
    " linkat symlinkat readlinkat fchmodat faccessat utimensat fanotify_mark name_to_handle_at renameat2"
    " execveat statx open_tree move_mount fsconfig fspick openat2 faccessat2 mount_setattr fchmodat2 "
    + _XATTRAT
)

DESC = _s(
    "read write open close fstat poll lseek mmap ioctl pread64 pwrite64 readv writev pipe select dup dup2"
    " sendfile fcntl flock fsync fdatasync ftruncate getdents fchdir creat fchmod fchown fstatfs readahead"
    " fsetxattr fgetxattr flistxattr fremovexattr epoll_create getdents64 fadvise64 epoll_wait epoll_ctl"
    " mq_open mq_timedsend mq_timedreceive mq_notify mq_getsetattr inotify_init inotify_add_watch"
    " inotify_rm_watch openat mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat linkat"
    " symlinkat readlinkat fchmodat faccessat pselect6 ppoll splice tee sync_file_range vmsplice utimensat"
    " epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4"
    " eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev perf_event_open fanotify_init"
    " fanotify_mark name_to_handle_at open_by_handle_at syncfs setns finit_module renameat2 memfd_create"
    " kexec_file_load bpf execveat userfaultfd copy_file_range preadv2 pwritev2 statx pidfd_send_signal"
    " io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick"
    " pidfd_open openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd"
    " landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease"
    " cachestat fchmodat2 " + _XATTRAT
)

NETWORK = _s(
    "sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname"
    " getpeername socketpair setsockopt getsockopt getpmsg putpmsg accept4 recvmmsg sendmmsg"
)

PROCESS = _s(
    "clone fork vfork execve exit wait4 kill rt_sigqueueinfo tkill exit_group tgkill waitid"
    " rt_tgsigqueueinfo execveat pidfd_send_signal clone3"
)

SIGNAL = _s(
    "rt_sigaction rt_sigprocmask rt_sigreturn pause kill rt_sigpending rt_sigtimedwait rt_sigqueueinfo"
    " rt_sigsuspend sigaltstack tkill tgkill signalfd signalfd4 rt_tgsigqueueinfo pidfd_send_signal"
    " io_uring_enter"
)

IPC = _s("shmget shmat shmctl semget semop semctl shmdt msgget msgsnd msgrcv msgctl semtimedop")

MEMORY = _s(
    "mmap mprotect munmap brk mremap msync mincore madvise shmat shmdt mlock munlock mlockall munlockall"
    " io_setup io_destroy remap_file_pages mbind set_mempolicy get_mempolicy migrate_pages move_pages"
    " mlock2 pkey_mprotect io_uring_register set_mempolicy_home_node map_shadow_stack mseal"
)

CREDS = _s(
    "getuid getgid setuid setgid geteuid getegid setreuid setregid getgroups setgroups setresuid"
    " getresuid setresgid getresgid setfsuid setfsgid capget capset prctl"
)

CLOCK = _s("gettimeofday adjtimex settimeofday time clock_settime clock_gettime clock_getres clock_adjtime")

STAT = _s("stat")
LSTAT = _s("lstat")
FSTAT = _s("fstat newfstatat statx")
STAT_ALL = _s("stat fstat lstat newfstatat statx")
STATFS = _s("statfs")
FSTATFS = _s("fstatfs")
STATFS_ALL = _s("ustat statfs fstatfs")
PURE = _s("getpid getuid getgid geteuid getegid getppid getpgrp gettid")

CLASSES: dict[str, frozenset[str]] = {
    "file": FILE,
    "desc": DESC,
    "network": NETWORK,
    "net": NETWORK,
    "process": PROCESS,
    "signal": SIGNAL,
    "ipc": IPC,
    "memory": MEMORY,
    "creds": CREDS,
    "clock": CLOCK,
    "stat": STAT,
    "lstat": LSTAT,
    "fstat": FSTAT,
    "%stat": STAT_ALL,
    "statfs": STATFS,
    "fstatfs": FSTATFS,
    "%statfs": STATFS_ALL,
    "pure": PURE,
}


def lookup(spec: str) -> frozenset[str]:
    """``"%file"`` or ``"%%stat"`` → names; KeyError for an unknown class."""
    return CLASSES[spec.removeprefix("%")]


def parse_set(expr: str, universe: frozenset[str]) -> frozenset[str]:
    """strace's ``-e trace=`` syntax: ``open,%file,/^sig``, a leading ``!`` negates.

    ``all`` and ``none`` are accepted; ``?name`` ignores an unknown name.
    Raises ValueError naming the first unknown element.
    """
    import re

    negate = expr.startswith("!")
    if negate:
        expr = expr[1:]
    out: set[str] = set()
    for item in filter(None, (x.strip() for x in expr.split(","))):
        optional = item.startswith("?")
        item = item.removeprefix("?")
        if item == "all":
            out |= universe
        elif item == "none":
            continue
        elif item.startswith("%"):
            try:
                out |= lookup(item)
            except KeyError:
                if not optional:
                    raise ValueError(f"invalid system call class '{item}'") from None
        elif item.startswith("/"):
            try:
                rx = re.compile(item[1:])
            except re.error as e:
                raise ValueError(f"invalid regular expression '{item[1:]}': {e}") from None
            out |= {n for n in universe if rx.search(n)}
        elif item in universe:
            out.add(item)
        elif not optional:
            raise ValueError(f"invalid system call '{item}'")
    return frozenset(universe - out) if negate else frozenset(out & universe)
