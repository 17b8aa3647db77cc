"""The public Python API: ``Sandbox(config).run(argv) -> RunResult``.

One call to :meth:`Sandbox.run` launches the guest, traces it to the end in
the *calling thread* (ptrace ties a tracee to the thread that attached it)
and returns what happened.  Several threads may each run a sandbox at once:
each tracer waits only for its own tracees (``__WNOTHREAD``).

The CLI is a client of this module; nothing here prints.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import signal
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from umlpy.tracer import _ffi, bpf, landlock
from umlpy.tracer.launch import spawn
from umlpy.tracer.loop import SEIZE_OPTIONS, InternalError, Tracer
from umlpy.tracer.stops import Exited, Killed
from umlpy.vkernel import filter as seccomp_filter
from umlpy.vkernel import meta, scratch
from umlpy.vkernel.dispatch import HandlerFn, Observer, VirtualKernel
from umlpy.vkernel.hooks import Hook, HookSet
from umlpy.vkernel.inject import Injector, InjectRule
from umlpy.vkernel.state import Kernel

if TYPE_CHECKING:
    from umlpy.vfs.mounts import BindSpec
    from umlpy.vfs.vfs import Vfs, VfsConfig
    from umlpy.vnet.ports import Published
    from umlpy.vnet.stack import VirtualNetwork

CpuPolicy = Literal["same", "spread"] | int


class UmlpyError(Exception):
    """A user-facing failure: one line of text and an exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How to run guests.

    * ``kill_on_exit``: when the main process exits, kill what it left behind
      (like a container's PID 1).  False: wait until the whole tree is gone.
    * ``cpu``: ``"same"`` pins tracer and guest to one CPU (a stop then costs
      a same-CPU wakeup); ``"spread"`` lets the scheduler place them; an int
      pins both to that CPU.
    * ``writable``: None leaves host writes to the host's own permissions;
      a list makes the host read-only to the guest except beneath these
      paths (Landlock; device nodes like /dev/null stay writable).
    * ``landlock``: apply the kernel backstop where the host has it.
    * ``max_tasks``: fork/clone fail with EAGAIN at this many live tasks.
    * ``memory``: bytes of resident memory for the whole tree; over it the
      tree is killed.  ``timeout``: seconds; over it the tree is killed.
    * ``net``: ``"host"`` (the host's network, unchanged, nothing trapped);
      ``"loopback"``: host loopback reachable, nothing beyond; ``"none"``:
      nothing leaves the sandbox, but the guest's own loopback client/server
      pairs work (:mod:`umlpy.vnet.policy`).  Outside ``host``, sockets of
      families other than unix/netlink/inet/inet6 fail with EACCES, and
      connect/bind/sendto/sendmsg are checked race-free
      (:mod:`umlpy.vkernel.net`).  ``none`` is the default, as for
      ``umlpy run``.
    * ``net_rules``: ``("allow"|"deny", RULE)`` pairs in command-line order
      (:mod:`umlpy.vnet.rules`; last match wins).  With rules, even ``host``
      is checked.
    * ``publish``: ``[[ADDR:]HOST:]GUEST[/tcp|udp]`` entries, as ``docker run -p``
      (:func:`umlpy.vnet.ports.parse_publish`): a guest bind of port GUEST is a
      host bind of ADDR (default the wildcard) at HOST, so host clients reach the
      guest's server there while the guest still sees GUEST.  Without HOST the
      host kernel picks the port; every published binding is passed to
      ``Sandbox.run``'s ``on_publish`` as it happens and listed in
      ``RunResult.published``.  Publishing turns the virtual network on even
      under ``host``.
    * ``net_address``: eth0's ``ADDR/PREFIX`` (default 10.0.2.15/24, gateway
      10.0.2.2, as QEMU's user networking; :func:`umlpy.vnet.interfaces.parse_address`).
      Outside ``host`` the guest sees only the virtual ``lo`` and ``eth0``, through
      netlink (:mod:`umlpy.vkernel.nlroute`) and the SIOCGIF* ioctls
      (:mod:`umlpy.vkernel.netdev`); with ``host`` it sees the host's and this is
      an error.
    * ``hostname``: uname's nodename, hence gethostname(3) (:mod:`umlpy.vkernel.uts`).
      None: ``umlpy`` outside ``host``, the host's own with ``host``.
    * ``protect_tracer``: make the calling process non-dumpable once the
      guest is seized, so a same-uid guest cannot open /proc/<tracer>/mem
      or attach to it (Landlock also forbids that where available).  It
      also disables core dumps of the calling process.
    * ``trace_all``: stop on every syscall (for tracing); otherwise only the
      calls the syscall table traps, plus ``trap_extra`` (names).
    * ``scratch_guard``: how umlpy's read-only scratch regions are kept
      read-only (:mod:`umlpy.vkernel.scratch`): ``"seal"`` with mseal(2),
      free; ``"trap"`` by trapping the memory-map calls, which costs a stop
      per mprotect/munmap/...; ``"auto"``: seal where the host has mseal.
    * ``vfs``: the guest's filesystem (:mod:`umlpy.vfs`): every path it
      names is translated, writes land in a copy-on-write layer in the state
      directory (:func:`vfs_config` builds the usual one).  None: the host's
      filesystem, untranslated (``writable`` then limits writes).
    * ``handlers_override``: syscall name -> ``handler(kernel, ctx) ->
      Outcome``, trapped and run instead of the table's handler.  A test
      seam (e.g. a rewrite through the scratch region before the
      filesystem layer exists), not a stable API.
    """

    kill_on_exit: bool = True
    cpu: CpuPolicy = "same"
    writable: tuple[str, ...] | None = None
    landlock: bool = True
    max_tasks: int | None = 4096
    memory: int | None = None
    timeout: float | None = None
    net: Literal["host", "none", "loopback"] = "none"
    net_rules: tuple[tuple[str, str], ...] = ()
    net_address: str | None = None
    publish: tuple[str, ...] = ()
    hostname: str | None = None
    protect_tracer: bool = True
    inject: tuple[InjectRule, ...] = ()  # fault injection (umlpy.vkernel.inject)
    trace_all: bool = False
    trap_extra: tuple[str, ...] = ()
    scratch_guard: Literal["auto", "seal", "trap"] = "auto"
    handlers_override: Mapping[str, HandlerFn] | None = None
    vfs: VfsConfig | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A running sandbox at one moment (what the live status shows)."""

    elapsed_s: float
    processes: int  # alive now
    trapped: int  # syscalls the tracer has seen so far
    denied: int
    overlay_bytes: int | None  # in the copy-on-write layers (None: no virtual filesystem)


class Monitor(Protocol):
    """Watches a run from its own thread: ``start`` once the guest runs, ``stop`` when it is gone.

    ``sample()`` may be called from any thread, as often as a few times a
    second; it reads counters the tracer thread updates and stats at most a
    few hundred files (:class:`umlpy.vfs.meter.UpperMeter`).
    """

    def start(self, sample: Callable[[], Progress]) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DenialRecord:
    tid: int
    abi: str
    syscall: str
    errno: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunResult:
    argv: tuple[str, ...]
    exit_code: int | None
    signal: int | None
    core_dumped: bool
    duration_s: float
    cpu_user_s: float
    cpu_system_s: float
    max_rss_kb: int
    tasks_created: int
    peak_tasks: int
    stops: int
    trapped: int
    denied: dict[str, int]
    denials: tuple[DenialRecord, ...]
    warnings: tuple[str, ...]
    execs: tuple[str, ...]
    leftovers_killed: int
    limit: str | None  # "timeout", "memory" or None
    landlock_abi: int
    landlock_scoped: bool
    landlock_fs: bool
    connections: list[dict[str, object]] = field(default_factory=list)  # umlpy.vnet.log records
    published: list[dict[str, object]] = field(default_factory=list)  # umlpy.vnet.ports.Published, as dicts
    state_dir: str | None = None  # where the guest's changes are kept (with a vfs)
    # umlpy.vfs.changes as dicts: path, kind (created|modified|deleted), node (file|dir|symlink|other),
    # size (the new node's; the old one's for deleted), old_size (modified), meta_only
    changes: list[dict[str, object]] = field(default_factory=list)
    # The process tree (umlpy.vkernel.proctree): pid, ppid, argv, exe, start_s, end_s, exit_code, signal
    processes: list[dict[str, object]] = field(default_factory=list)
    processes_dropped: int = 0  # beyond umlpy.vkernel.proctree.MAX_PROCESSES
    # Hidden paths the guest reached for: pid, path (as asked), hidden (the rule's path), count
    secrets: list[dict[str, object]] = field(default_factory=list)
    # guest paths written or tried, transient files included (for --audit); bounded
    written: list[str] = field(default_factory=list)
    # Calls a profile's "log syscall" rule matched: tid, syscall, path, rule
    logged: list[dict[str, object]] = field(default_factory=list)
    # Read-only opens of existing files (guest paths, first umlpy.vkernel.tally.MAX_FILES_READ distinct): path, count
    files_read: list[dict[str, object]] = field(default_factory=list)
    files_read_total: int = 0  # every such open, listed or not
    files_read_dropped: int = 0  # opens of paths beyond the listed ones
    # Calls refused with ENOSYS for want of an implementation (unknown number, x32, i386): abi, syscall, count
    unimplemented: list[dict[str, object]] = field(default_factory=list)
    profile: str | None = None  # the profile's name, if the caller says (the CLI does)
    started_at: float = 0.0  # time.time() at launch

    @property
    def returncode(self) -> int:
        """The status a shell would report: the exit code, or 128 + signal."""
        if self.signal is not None:
            return 128 + self.signal
        return self.exit_code if self.exit_code is not None else 125

    @property
    def denied_total(self) -> int:
        return sum(self.denied.values())

    @property
    def files_created(self) -> list[dict[str, object]]:
        return [c for c in self.changes if c.get("kind") == "created"]

    @property
    def files_modified(self) -> list[dict[str, object]]:
        return [c for c in self.changes if c.get("kind") == "modified"]

    @property
    def files_deleted(self) -> list[dict[str, object]]:
        return [c for c in self.changes if c.get("kind") == "deleted"]

    def resources(self) -> dict[str, object]:
        """CPU, peak memory and process counts of the whole guest tree."""
        return {
            "cpu_user_s": round(self.cpu_user_s, 3), "cpu_system_s": round(self.cpu_system_s, 3),
            "max_rss_kb": self.max_rss_kb, "processes": len(self.processes) + self.processes_dropped,
            "tasks_created": self.tasks_created, "peak_tasks": self.peak_tasks, "duration_s": round(self.duration_s, 3),
            "trapped_syscalls": self.trapped, "files_read": self.files_read_total,
            "unimplemented_calls": sum(int(str(u.get("count") or 0)) for u in self.unimplemented), "overlay_bytes": sum(
                int(str(c.get("size") or 0)) for c in self.changes if c.get("kind") != "deleted"),
        }

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["returncode"] = self.returncode
        d["resources"] = self.resources()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def resolve_command(name: str, path_env: str | None, *, root: str = "/") -> str:
    """Find ``name`` as a shell would; UmlpyError(127/126) when it cannot run.

    Under a guest ``root`` the search happens inside it (approximately: a
    symlink in the rootfs pointing to an absolute path is followed on the
    host) and the guest path is returned."""
    if not name:
        raise UmlpyError("umlpy: : command not found", 127)

    def host(p: str) -> str:
        return p if root == "/" else os.path.join(root, os.path.abspath(p).lstrip("/"))

    if "/" in name:
        _check_runnable(name, host(name))
        return name
    for d in (path_env if path_env is not None else os.defpath).split(":"):
        cand = os.path.join(d or ".", name)
        try:
            st = os.stat(host(cand))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(host(cand), os.X_OK):
            return cand
    raise UmlpyError(f"umlpy: {name}: command not found", 127)


def _check_runnable(shown: str, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        raise UmlpyError(f"umlpy: {shown}: {os.strerror(e.errno or errno.ENOENT)}", 127) from None
    if stat.S_ISDIR(st.st_mode):
        raise UmlpyError(f"umlpy: {shown}: Is a directory", 126)
    if not os.access(path, os.X_OK):
        raise UmlpyError(f"umlpy: {shown}: Permission denied", 126)


_cpu_lock = threading.Lock()
_cpu_users: dict[int, int] = {}  # CPU -> sandboxes of this process pinned there now


def _pick_cpu(policy: CpuPolicy) -> int | None:
    """The CPU to pin tracer and guest to, or None to let the scheduler place them.

    Pair with :func:`_unpick_cpu`.  Among the least used CPUs the one this
    thread runs on wins: pinning to another migrates the thread, which
    costs milliseconds on these VMs (~3.7 ms median measured, against
    20 µs to pin where it is).
    """
    if policy == "spread":
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if isinstance(policy, int):
        if policy not in allowed:
            raise UmlpyError(f"umlpy: CPU {policy} is not available (allowed: {allowed})", 2)
        cpu = policy
    else:
        here = _ffi.sched_getcpu()
        with _cpu_lock:  # parallel sandboxes spread over the CPUs
            cpu = min(allowed, key=lambda c: (_cpu_users.get(c, 0), c != here, c))
    with _cpu_lock:
        _cpu_users[cpu] = _cpu_users.get(cpu, 0) + 1
    return cpu


def _unpick_cpu(cpu: int) -> None:
    with _cpu_lock:
        _cpu_users[cpu] -= 1


class _Watchdog(threading.Thread):
    """Enforces the timeout and the memory limit from outside the tracer loop."""

    def __init__(
        self, tracer: Tracer, processes: Callable[[], set[int]], *, timeout: float | None, memory: int | None
    ) -> None:
        super().__init__(daemon=True, name="umlpy-watchdog")
        self.tracer = tracer
        self.processes = processes
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.memory = memory
        self.fired: str | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        ticks = 0
        while not self._halt.wait(0.1):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self._fire("timeout")
                return
            if self.memory is not None:
                ticks += 1
                # Open files are rescanned every 0.5 s: listing fds costs more than RSS.
                if ticks % 5 == 1:
                    self._held = self._held_in_files()
                if self._rss() + self._held > self.memory:
                    self._fire("memory")
                    return

    _held = 0

    def _rss(self) -> int:
        import psutil  # only runs with --memory; importing costs ~10 ms at startup

        total = 0
        for pid in self.processes():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return total

    def _held_in_files(self) -> int:
        """Memory held in memfds and /dev/shm files the guest has open.

        Their pages belong to no process's RSS until mapped, so a guest could
        hold any amount of RAM in them unseen.  Counted once per inode (a
        mapped part is then counted twice: the limit errs on the safe side).
        tmpfs files closed after writing are not found.
        """
        seen: set[tuple[int, int]] = set()
        total = 0
        for pid in self.processes():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                link = f"/proc/{pid}/fd/{fd}"
                try:
                    target = os.readlink(link)
                    if not target.startswith(("/memfd:", "/dev/shm/")):
                        continue
                    st = os.stat(link)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        return total

    def _fire(self, why: str) -> None:
        self.fired = why
        self.tracer.kill_all()

    def stop(self) -> None:
        self._halt.set()


@dataclass
class Sandbox:
    config: SandboxConfig = field(default_factory=SandboxConfig)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_start: Callable[[int], None] | None = None,
        observer: Observer | None = None,
        on_guest_stop: Callable[[int], None] | None = None,
        on_publish: Callable[[Published], None] | None = None,
        hooks: Sequence[Hook] = (),
        monitor: Monitor | None = None,
    ) -> RunResult:
        """Run ``argv`` to completion under the sandbox.

        stdin/stdout/stderr and the controlling terminal are the caller's.
        ``observer`` sees every trapped call and task event (see
        :class:`umlpy.vkernel.dispatch.Observer`).  ``on_guest_stop(sig)``
        runs in the tracer thread when the guest's main process stops (job
        control); the CLI stops itself there, like a shell job.
        ``on_publish(published)`` runs in the tracer thread when a guest
        bind of a ``--publish``'ed port succeeded (the CLI prints it).
        ``hooks``: Python callbacks at the entry and exit of chosen calls,
        which may read and change them after umlpy's own decision
        (:mod:`umlpy.vkernel.hooks`; they run in this thread).  They are an
        argument of the run, not of the config: a config is a value that
        can be saved and compared, hooks are code.
        ``monitor`` is started once the guest runs and stopped before this
        returns (the CLI's live status, :mod:`umlpy.status`).
        Raises UmlpyError when the command cannot be started.
        """
        if not argv:
            raise UmlpyError("umlpy: no command given", 2)
        cfg = self.config
        envmap = dict(os.environ if env is None else env)
        root = os.fsdecode(cfg.vfs.root) if cfg.vfs is not None else "/"
        if root != "/":
            # A guest root: the command is looked up inside it and exec'd by
            # its guest path (the exec handler translates it); the guest
            # starts in its /.
            path = resolve_command(argv[0], envmap.get("PATH"), root=root)
            if cwd is None:
                cwd = root
        else:
            path = resolve_command(argv[0], envmap.get("PATH"))
        if cwd is not None:
            _check_dir(cwd)
        guard, guard_rules, handlers = _scratch_setup(cfg)
        vnet_factory = _vnet_factory(cfg)
        hostname = _hostname(cfg)
        injector = Injector(cfg.inject) if cfg.inject else None
        hookset = HookSet(tuple(hooks)) if hooks else None
        vfs = _open_vfs(cfg.vfs) if cfg.vfs is not None else None
        fs_trapped: tuple[str, ...] = ()
        if vfs is not None:
            from umlpy.vkernel import fs  # with its vfs: ~20 % of start-up, for sandboxes that use it

            fs_trapped = fs.TRAPPED + (fs.FAKE_ROOT_TRAPPED if vfs.config.identity is not None else ())
        program = seccomp_filter.build(
            trace_all=cfg.trace_all or (hookset is not None and hookset.traps_all),
            task_limit=cfg.max_tasks is not None,
            net_none=vnet_factory is not None,
            unix_names=vfs is not None,
            extra=cfg.trap_extra
            + tuple(cfg.handlers_override or ())
            + (meta.TRAPPED_WHEN_LIMITED if cfg.writable is not None and vfs is None else ())
            + fs_trapped
            + tuple(sorted(injector.names if injector is not None else ()))
            + tuple(sorted(hookset.names if hookset is not None else ()))
            + (("uname",) if hostname is not None else ()),
            native_rules=guard_rules,
        )
        if vfs is not None:
            writable: tuple[str, ...] | None = tuple(os.fsdecode(p) for p in vfs.writable_hosts())
            devices = tuple(d for d in landlock.DEVICE_WRITABLE if d != "/dev/shm")
            unreadable = tuple(os.fsdecode(vfs.mounts.locate(h).host) for h in vfs.config.hidden)
        else:
            writable, devices, unreadable = cfg.writable, landlock.DEVICE_WRITABLE, ()
        rules = landlock.Ruleset(writable=writable, devices=devices, unreadable=unreadable) if cfg.landlock else None
        kernel = Kernel(max_tasks=cfg.max_tasks, net_mode=cfg.net, vnet_factory=vnet_factory, on_publish=on_publish,
                        writable=cfg.writable,
                        vfs=vfs, hostname=hostname)
        if vfs is not None:
            vfs.on_hidden = kernel.secret_touched
        vk = VirtualKernel(
            kernel,
            trace_all=cfg.trace_all,
            observer=observer,
            handlers=handlers,
            scratch_guard=guard,
            injector=injector,
            hooks=hookset,
        )

        cpu = _pick_cpu(cfg.cpu)
        saved_affinity = os.sched_getaffinity(0)
        try:
            lock = _lock_state(vfs.state_dir) if vfs is not None else None
        except BaseException:
            if cpu is not None:
                _unpick_cpu(cpu)
            raise
        t0 = time.monotonic()
        started_at = time.time()
        kernel.tree.t0 = t0
        try:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})  # this thread; the guest inherits it
            try:
                spawned = spawn(
                    os.fsencode(path),
                    [os.fsencode(a) for a in argv],
                    {os.fsencode(k): os.fsencode(v) for k, v in envmap.items()},
                    filter_program=program,
                    cwd=os.fsencode(cwd) if cwd is not None else None,
                    prepare=rules.restrict_self if rules is not None else None,
                    on_seized=_protect_tracer if cfg.protect_tracer else None,
                    options=SEIZE_OPTIONS,
                )
            except OSError as e:
                raise UmlpyError(f"umlpy: cannot trace: {e.strerror} (is ptrace allowed here? try 'umlpy doctor')", 125) from None
            finally:
                if rules is not None:
                    rules.close()
            vk.start(spawned.pid, on_guest_stop=on_guest_stop)
            if on_start is not None:
                on_start(spawned.pid)
            tracer = Tracer(vk, spawned.pid, kill_on_exit=cfg.kill_on_exit)
            dog = _Watchdog(tracer, kernel.tgids, timeout=cfg.timeout, memory=cfg.memory)
            if cfg.timeout is not None or cfg.memory is not None:
                dog.start()
            if monitor is not None:
                monitor.start(_sampler(kernel, t0))
            try:
                outcome = tracer.run()
            finally:
                if monitor is not None:
                    monitor.stop()
                dog.stop()
                kernel.close()
        finally:
            if cpu is not None:
                os.sched_setaffinity(0, saved_affinity)
                _unpick_cpu(cpu)
            if lock is not None:
                os.close(lock)
        duration = time.monotonic() - t0
        written = sorted(os.fsdecode(p) for p in vfs.written) if vfs is not None else []
        changes = _changes(vfs) if vfs is not None else []
        exec_err = spawned.exec_errno()
        if exec_err is not None:
            raise UmlpyError(f"umlpy: {argv[0]}: {os.strerror(exec_err)}", 126 if exec_err == errno.EACCES else 127)

        status = outcome.status
        ru = outcome.rusage
        return RunResult(
            argv=tuple(argv),
            exit_code=None if isinstance(status, Killed) else status.code,
            signal=status.sig if isinstance(status, Killed) else None,
            core_dumped=status.core if isinstance(status, Killed) else False,
            duration_s=duration,
            cpu_user_s=getattr(ru, "ru_utime", 0.0),
            cpu_system_s=getattr(ru, "ru_stime", 0.0),
            max_rss_kb=getattr(ru, "ru_maxrss", 0),
            tasks_created=outcome.tasks_seen,
            peak_tasks=outcome.peak_tasks,
            stops=outcome.stops,
            trapped=kernel.trapped,
            denied=dict(kernel.denied),
            denials=tuple(
                DenialRecord(d.tid, d.abi, d.syscall, errno.errorcode.get(d.errno, str(d.errno)), d.reason)
                for d in kernel.denials
            ),
            warnings=tuple(kernel.warnings),
            execs=tuple(exe for _, exe in kernel.execs),
            leftovers_killed=outcome.leftovers_killed,
            limit=dog.fired,
            landlock_abi=rules.applied.abi if rules else 0,
            landlock_scoped=rules.applied.scoped if rules else False,
            landlock_fs=rules.applied.fs_writes_limited if rules else False,
            connections=kernel._vnet.log.to_json() if kernel._vnet is not None else [],
            published=[p.to_json() for p in kernel._vnet.ports.published] if kernel._vnet is not None else [],
            state_dir=os.fsdecode(vfs.state_dir) if vfs is not None else None,
            changes=changes,
            written=written,
            processes=kernel.tree.to_json(),
            processes_dropped=kernel.tree.dropped,
            secrets=[{"pid": pid, "path": asked, "hidden": hidden, "count": n}
                     for (pid, asked, hidden), n in kernel.secrets.items()],
            logged=[{"tid": e.tid, "syscall": e.syscall, "path": e.path, "rule": e.rule}
                    for e in (injector.logged if injector is not None else [])],
            files_read=[{"path": p, "count": n} for p, n in kernel.files_read.counts.items()],
            files_read_total=kernel.files_read.total,
            files_read_dropped=kernel.files_read.dropped,
            unimplemented=_unimplemented(kernel),
            started_at=started_at,
        )


def _sampler(kernel: Kernel, t0: float) -> Callable[[], Progress]:
    """Progress snapshots, safe from another thread: only atomic reads of the tracer's counters."""
    meter = kernel.vfs.meter if kernel.vfs is not None else None

    def sample() -> Progress:
        return Progress(
            elapsed_s=time.monotonic() - t0,
            processes=kernel.tree.alive(),
            trapped=kernel.trapped,
            denied=sum(list(kernel.denied.values())),  # list(): one C-level copy, atomic under the GIL
            overlay_bytes=meter.sample() if meter is not None else None,
        )

    return sample


def _unimplemented(kernel: Kernel) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for key, n in sorted(kernel.unimplemented.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        abi, _, name = key.partition(" ")
        out.append({"abi": abi, "syscall": name, "count": n})
    if kernel.unimplemented.dropped:
        out.append({"abi": "?", "syscall": "(others)", "count": kernel.unimplemented.dropped})
    return out


def _open_vfs(cfg: VfsConfig) -> Vfs:
    from umlpy.vfs.vfs import Vfs

    try:
        return Vfs(cfg)
    except (OSError, ValueError) as e:
        raise UmlpyError(f"umlpy: cannot set up the guest filesystem: {e}", 2) from None


def _changes(vfs: Vfs) -> list[dict[str, object]]:
    try:
        out: list[dict[str, object]] = [
            {"path": os.fsdecode(c.path), "kind": c.kind.value, "node": c.node.value, "size": c.size,
             "old_size": c.old_size, "meta_only": c.meta_only}
            for c in vfs.changes()
        ]
    finally:
        vfs.close()
    return out


LOCK = "lock"


def _lock_state(state_dir: bytes) -> int:
    """Hold an flock on the state directory for the run: ``umlpy gc`` skips locked ones."""
    fd = os.open(os.path.join(state_dir, LOCK.encode()), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UmlpyError(f"umlpy: {os.fsdecode(state_dir)}: in use by another run", 2) from None
    return fd


def in_use(state_dir: str) -> bool:
    """Is a run holding this state directory now?"""
    try:
        fd = os.open(os.path.join(state_dir, LOCK), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def state_home() -> str:
    """Where sandboxes keep their state: $XDG_STATE_HOME/umlpy (or ~/.local/state/umlpy),
    else /tmp/umlpy-UID when the home directory is not writable."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = os.path.join(base, "umlpy")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = f"/tmp/umlpy-{os.getuid()}"
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or not stat.S_ISDIR(st.st_mode):
        raise UmlpyError(f"umlpy: {path} belongs to someone else; set XDG_STATE_HOME", 2)
    return path


def new_state_dir() -> str:
    """A fresh, unique sandbox state directory (its name is the sandbox id)."""
    home = state_home()
    while True:
        sid = time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(3).hex()
        path = os.path.join(home, sid)
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def vfs_config(
    state_dir: str,
    *,
    root: str = "/",
    read_only: bool = False,
    binds: Sequence[BindSpec] = (),
    tmpfs: Sequence[str] = (),
    hide: Sequence[str] = (),
    fake_root: bool = False,
    uid: int | None = None,
    gid: int | None = None,
    synthetic: Sequence[tuple[str, bytes]] = (),
) -> VfsConfig:
    """The usual guest filesystem: copy-on-write over the host's / (read-only
    with ``read_only``), the host's /proc and /dev (their existing nodes
    only), /sys read-only, a private /dev/shm, plus the caller's mounts."""
    from umlpy.vfs.mounts import Access, BindSpec
    from umlpy.vfs.vfs import VfsConfig

    std = (
        BindSpec(b"/proc", b"/proc", Access.RW),
        BindSpec(b"/dev", b"/dev", Access.RW),
        BindSpec(b"/sys", b"/sys", Access.RO),
    )
    return VfsConfig(
        state_dir=os.fsencode(state_dir),
        root=os.fsencode(os.path.realpath(root)),
        root_access=Access.RO if read_only else Access.COW,
        binds=std + tuple(binds),
        tmpfs=(b"/dev/shm", *(os.fsencode(t) for t in tmpfs)),
        hidden=tuple(os.fsencode(h) for h in hide),
        fake_root=fake_root,
        fake_uid=uid,
        fake_gid=gid,
        synthetic=tuple((os.fsencode(g), data) for g, data in synthetic),
    )


def _scratch_setup(
    cfg: SandboxConfig,
) -> tuple[scratch.Guard, dict[str, bpf.Rule] | None, dict[int, HandlerFn]]:
    """The scratch guard, the filter rules it adds and the handlers to run."""
    have_seal = scratch.mseal_available()
    if cfg.scratch_guard == "seal" and not have_seal:
        raise UmlpyError("umlpy: --scratch-guard seal: this kernel has no mseal(2) (Linux >= 6.10)", 125)
    guard = scratch.Guard.SEAL if cfg.scratch_guard != "trap" and have_seal else scratch.Guard.TRAP
    handlers: dict[int, HandlerFn] = {}
    rules: dict[str, bpf.Rule] | None = None
    if guard is scratch.Guard.TRAP:
        rules = {name: rule for name, (_, rule) in scratch.TRAP_GUARD.items()}
        for name, (fn, _) in scratch.TRAP_GUARD.items():
            handlers[Kernel.nr(name)] = fn
    for name, fn in (cfg.handlers_override or {}).items():
        handlers[Kernel.nr(name)] = fn
    return guard, rules, handlers


def _hostname(cfg: SandboxConfig) -> str | None:
    if cfg.hostname is None:
        return None if cfg.net == "host" else DEFAULT_HOSTNAME
    from umlpy.vnet.interfaces import check_hostname

    try:
        return check_hostname(cfg.hostname)
    except ValueError as e:
        raise UmlpyError(f"umlpy: {e}", 2) from None


DEFAULT_HOSTNAME = "umlpy"


def _vnet_factory(cfg: SandboxConfig) -> Callable[[], VirtualNetwork] | None:
    """None for the host's network; else a builder, run at once when rules need checking."""
    if cfg.net_address is not None and cfg.net == "host":
        raise UmlpyError("umlpy: --ip needs a virtual network (--net none or loopback), not --net host", 2)
    if cfg.net == "host" and not cfg.net_rules and not cfg.publish:
        return None
    address: str = "10.0.2.15/24"
    gateway: str | None = "10.0.2.2"
    if cfg.net_address is not None:
        from umlpy.vnet.interfaces import parse_address

        try:
            address, gateway = parse_address(cfg.net_address)
        except ValueError as e:
            raise UmlpyError(f"umlpy: {e}", 2) from None

    def build() -> VirtualNetwork:
        from umlpy.vnet.interfaces import NetConfig
        from umlpy.vnet.stack import VirtualNetwork

        config = NetConfig(hostname=cfg.hostname or DEFAULT_HOSTNAME, address=address, gateway=gateway)
        return VirtualNetwork.from_options(cfg.net, cfg.net_rules, cfg.publish, config=config)

    if cfg.net_rules or cfg.publish:  # a bad rule is a usage error before anything runs
        try:
            built = build()
        except ValueError as e:
            raise UmlpyError(f"umlpy: {e}", 2) from None
        return lambda: built
    return build


def _protect_tracer() -> None:
    try:
        _ffi.set_dumpable(False)
    except OSError:
        pass


def _check_dir(cwd: str) -> None:
    if not os.path.isdir(cwd):
        raise UmlpyError(f"umlpy: {cwd}: not a directory", 2)


def reraise_signal(sig: int) -> None:
    """Die of ``sig`` like the guest did, so a shell reports it the same way."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught or blocked
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os.kill(os.getpid(), sig)


@dataclass(frozen=True, slots=True)
class AttachResult:
    """How an attached run ended (:func:`attach`)."""

    pid: int
    detached: bool  # a hook's detach() left the tree running, untraced
    exit_code: int | None  # the process's, when it ended while attached
    signal: int | None
    warnings: tuple[str, ...] = ()


def attach(pid: int, observer: Observer | None = None, *, hooks: Sequence[Hook] = ()) -> AttachResult:
    """Trace a running process tree until it ends or a hook detaches (``umlpy trace -p``).

    Every thread of ``pid`` and of its descendants is seized, and the
    children they create later.  Nothing is virtualized or refused: the
    ``observer`` sees every call, ``hooks`` run at the entry and exit of
    theirs and may change them (applied directly: :mod:`umlpy.vkernel.attached`),
    and ``call.detach()`` in a hook ends the run, leaving every task
    running untraced.  KeyboardInterrupt, or an exception in a hook,
    detaches every task too and propagates (what umlpy did not start, it
    does not kill).  UmlpyError when ``pid`` cannot be attached to (exit
    status 2: no such process; 125: not permitted).
    """
    from umlpy.tracer.attach import seize_tree
    from umlpy.vkernel.attached import AttachedHandler, Detach

    handler = AttachedHandler(observer, HookSet(tuple(hooks)) if hooks else None)
    try:
        tids = seize_tree(pid)
    except OSError as e:
        raise UmlpyError(f"umlpy: attach {pid}: {os.strerror(e.errno or errno.EPERM)}", 2 if e.errno == errno.ESRCH else 125) from None
    tracer = Tracer(handler, pid, kill_on_exit=False, attached=tuple(tids))
    try:
        status: Exited | Killed | None = tracer.run().status
    except Detach:
        return AttachResult(pid, True, None, None, tuple(handler.warnings))
    except InternalError:
        status = None
    return AttachResult(pid, False, status.code if isinstance(status, Exited) else None,
                        status.sig if isinstance(status, Killed) else None, tuple(handler.warnings))
