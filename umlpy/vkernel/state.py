"""The virtual kernel's view of the guest: tasks, limits, counters.

Handlers receive a :class:`Kernel` and ask it questions ("is this pid
ours?"); they never touch the tracer's bookkeeping directly.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from umlpy.vkernel.arch import x86_64
from umlpy.vkernel.proctree import ProcessTree
from umlpy.vkernel.tally import Tally, files_read, unimplemented
from umlpy.vkernel.task import Task

if TYPE_CHECKING:
    from umlpy.vfs.vfs import Vfs
    from umlpy.vkernel.nlroute import NetlinkService
    from umlpy.vkernel.sockstats import SocketStats
    from umlpy.vnet.ports import Published
    from umlpy.vnet.stack import VirtualNetwork

MAX_DENIAL_RECORDS = 1000
MAX_SECRET_RECORDS = 1000


@dataclass(frozen=True, slots=True)
class Denial:
    tid: int
    abi: str
    syscall: str
    errno: int
    reason: str


@dataclass(slots=True)
class Kernel:
    max_tasks: int | None = None
    net_mode: str = "host"  # "host", "loopback" or "none" (see umlpy.vkernel.net)
    # Builds the virtual network on first use (None: the host's network, nothing trapped).
    vnet_factory: Callable[[], VirtualNetwork] | None = None
    _vnet: VirtualNetwork | None = None
    # The tracer's end of emulated NETLINK_ROUTE sockets, made by the first one.
    nlroute: NetlinkService | None = None
    # Byte counters of the guest's connections (umlpy.vkernel.sockstats), made by the first one.
    sockstats: SocketStats | None = None
    # Called (in the tracer thread) when a guest bind of a --publish'ed port succeeded.
    on_publish: Callable[[Published], None] | None = None
    hostname: str | None = None  # uname's nodename as the guest sees it (None: the host's)
    writable: tuple[str, ...] | None = None  # host writes limited to these (see umlpy.vkernel.meta)
    vfs: Vfs | None = None  # the guest's filesystem view (None: the host's, untranslated)
    # Addresses the tracer bound guest unix sockets with -> the guest's (umlpy.vkernel.unixnames).
    unix_names: dict[bytes, bytes] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    forking: set[int] = field(default_factory=set)  # tids with a fork/clone in flight
    ipc_ids: dict[str, set[int]] = field(default_factory=dict)  # SysV ids the guest created
    trapped: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    denials: list[Denial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    execs: list[tuple[int, str]] = field(default_factory=list)
    tree: ProcessTree = field(default_factory=ProcessTree)
    current_tid: int = 0  # the task whose trapped call is being decided
    # Hidden paths the guest reached for: (tgid, guest path asked, hidden root) -> times.
    secrets: dict[tuple[int, str, str], int] = field(default_factory=dict)
    # Guest paths of read-only opens of existing non-directories (the open may still fail, e.g. EACCES).
    files_read: Tally = field(default_factory=files_read)
    # Calls refused with ENOSYS because umlpy has no path for them: "abi syscall" -> times.
    unimplemented: Tally = field(default_factory=unimplemented)

    @property
    def vnet(self) -> VirtualNetwork | None:
        """The virtual network, built (and umlpy.vnet imported) by the first socket call that needs it."""
        if self._vnet is None and self.vnet_factory is not None:
            self._vnet = self.vnet_factory()
        return self._vnet

    @property
    def virtual_interfaces(self) -> bool:
        """The guest sees umlpy's lo/eth0, not the host's interfaces."""
        return self.net_mode != "host" and self.vnet is not None

    def netlink_service(self) -> NetlinkService:
        if self.nlroute is None:
            from umlpy.vkernel.nlroute import NetlinkService

            assert self.vnet is not None
            self.nlroute = NetlinkService(self.vnet.interfaces)
        return self.nlroute

    def note_socket(self, cookie: int, record: int | None = None) -> None:
        """Follow the guest socket with SO_COOKIE ``cookie`` until it is freed: then its
        views are forgotten and, for TCP, its bytes counted into log record ``record``."""
        vnet = self.vnet
        if vnet is None or not cookie:
            return
        if self.sockstats is None:
            from umlpy.vkernel.sockstats import SocketStats

            log = vnet.log
            self.sockstats = SocketStats(lambda rid, sent, received: log.account(rid, sent=sent, received=received),
                                         self.warn, vnet.views.forget)
        self.sockstats.watch(cookie, record)

    def close(self) -> None:
        """Release what the virtual kernel holds for the guest (after the run)."""
        if self.sockstats is not None:
            self.sockstats.close()
            self.sockstats = None
        if self.nlroute is not None:
            self.nlroute.close()
            self.nlroute = None

    def in_tree(self, pid: int) -> bool:
        return pid in self.tasks

    def tgid_of(self, tid: int) -> int:
        t = self.tasks.get(tid)
        return t.tgid if t else tid

    def tgids(self) -> set[int]:
        return {t.tgid for t in list(self.tasks.values())}  # list(): atomic under the GIL

    def over_task_limit(self) -> bool:
        """True if one more task would pass the limit, counting forks in flight.

        A fork is reserved at its entry and released by its fork event (or by
        the caller's next trapped call, if it failed), so concurrent forks
        cannot all slip under the limit.
        """
        return self.max_tasks is not None and len(self.tasks) + len(self.forking) >= self.max_tasks

    @staticmethod
    def nr(name: str) -> int:
        return x86_64.SYSCALL_NUMBERS[name]

    @staticmethod
    def name_of(nr: int) -> str:
        return x86_64.SYSCALL_NAMES.get(nr, f"syscall_{nr}")

    def record_denial(self, d: Denial) -> None:
        self.denied[d.syscall] += 1
        if len(self.denials) < MAX_DENIAL_RECORDS:
            self.denials.append(d)

    def secret_touched(self, asked: bytes, hidden: bytes) -> None:
        """The vfs found ``asked`` beneath the hidden path ``hidden`` (its on_hidden hook)."""
        key = (self.tgid_of(self.current_tid), os.fsdecode(asked), os.fsdecode(hidden))
        if key in self.secrets or len(self.secrets) < MAX_SECRET_RECORDS:
            self.secrets[key] = self.secrets.get(key, 0) + 1

    def note_read(self, guest: bytes) -> None:
        """The guest opened ``guest`` (canonical guest path) for reading (fs.py's open hook)."""
        self.files_read.note(os.fsdecode(guest))

    def note_unimplemented(self, abi: str, syscall: str) -> None:
        """The dispatcher refused a call with ENOSYS: an unknown number, x32 or i386."""
        self.unimplemented.note(f"{abi} {syscall.removeprefix(abi + ':')}")

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)
