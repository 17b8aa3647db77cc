"""Per-task state grouped by what clone(2) shares.

Linux shares, per clone flag: the fs context (root, cwd, umask) with
CLONE_FS, the fd table with CLONE_FILES, the address space with CLONE_VM,
and the thread group with CLONE_THREAD.  execve(2) gives the process a new
address space and unshares a shared fd table (fs/exec.c, unshare_files).
The virtual kernel keeps its own state in the same groups so a handler that
updates, say, the cwd of one thread is seen by every task that shares it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umlpy.vkernel.scratch import ScratchSpace

CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_THREAD = 0x00010000
CLONE_UNTRACED = 0x00800000


@dataclass(slots=True)
class FsContext:
    """Shared under CLONE_FS: the guest-visible root and cwd (bytes), umask."""

    root: bytes = b"/"
    cwd: bytes | None = None  # None: not virtualized, the host's cwd is the truth
    umask: int | None = None

    def copy(self) -> FsContext:
        return FsContext(self.root, self.cwd, self.umask)


@dataclass(slots=True)
class FdTable:
    """Shared under CLONE_FILES: what the vkernel knows about guest fds."""

    entries: dict[int, object] = field(default_factory=dict)
    # fd -> inode of the emulated NETLINK_ROUTE sockets made here (umlpy.vkernel.nlroute):
    # socket calls on a table without any skip the check for one.
    netlink: dict[int, int] = field(default_factory=dict)

    def copy(self) -> FdTable:
        return FdTable(dict(self.entries), dict(self.netlink))


@dataclass(slots=True)
class AddressSpace:
    """Shared under CLONE_VM (threads, vfork): e.g. pages umlpy mapped in."""

    mappings: dict[int, object] = field(default_factory=dict)
    scratch: ScratchSpace = field(default_factory=ScratchSpace)

    def fork(self) -> AddressSpace:
        """fork(2) copies every mapping, umlpy's scratch regions included."""
        return AddressSpace(scratch=self.scratch.fork())


@dataclass(frozen=True, slots=True)
class Reentry:
    """A call whose task was made to run an injected syscall first.

    The call re-executes and traps again at the same ``ip``; the dispatcher
    recognises it, does not count or show it twice, and bounds the retries.
    """

    nr: int
    ip: int
    wants_exit: bool
    attempts: int


@dataclass(slots=True)
class Task:
    tid: int
    tgid: int
    fs: FsContext = field(default_factory=FsContext)
    files: FdTable = field(default_factory=FdTable)
    vm: AddressSpace = field(default_factory=AddressSpace)
    execs: int = 0
    reentry: Reentry | None = None
    # execve's path as asked, absolute (audit for images /proc/PID/exe can't show)
    exec_path: str | None = None

    def clone(self, child_tid: int, flags: int) -> Task:
        """The child's state after clone(flags)."""
        return Task(
            tid=child_tid,
            tgid=self.tgid if flags & CLONE_THREAD else child_tid,
            fs=self.fs if flags & CLONE_FS else self.fs.copy(),
            files=self.files if flags & CLONE_FILES else self.files.copy(),
            vm=self.vm if flags & CLONE_VM else self.vm.fork(),
        )

    def exec(self, new_tid: int) -> None:
        """execve: new address space, private fd table, the leader's tid."""
        self.tid = new_tid
        self.tgid = new_tid
        self.vm = AddressSpace()
        self.files = self.files.copy()
        self.execs += 1
