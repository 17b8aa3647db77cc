"""Scratch regions: guest memory the guest can read but never change.

Why.  A handler that rewrites a path (or a sockaddr) must hand the host
kernel bytes the guest cannot flip between the tracer's check and the
kernel's read (DESIGN.md, "Rewriting paths safely").  Rewritten arguments
therefore live in a *scratch region* umlpy maps into each guest address
space: private, anonymous, ``PROT_READ``, written only by the tracer through
``/proc/PID/mem`` (a ptracer's FOLL_FORCE write ignores page protections;
``process_vm_writev`` does not, see :func:`umlpy.tracer.memory.poke`).

API.  A handler calls ``place(task, ctx, data) -> guest address`` and puts
the address in an argument register (``Rewrite((1, addr),)``).  The first
call in an address space finds no region: ``place`` raises
:class:`ScratchNeeded`; the dispatcher calls :func:`grow`, which *injects*
a syscall into the stopped task (:mod:`umlpy.tracer.inject`) and lets the
original call re-execute.  Creation takes two injections, each followed by
a re-entry of the original call, which runs its handler again:

1. ``mmap(NULL, REGION_SIZE, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)``
2. ``mseal(addr, REGION_SIZE, 0)`` (Linux >= 6.10, 64-bit), then the
   mapping is checked in /proc/PID/maps to be still ours (private,
   anonymous, read-only): a guest thread could unmap and replace it between
   the two injections, and sealing *its* mapping must not count.
Both calls are ALLOWed natively by the filter; injection depends on it.

Sharing follows the address space: CLONE_VM tasks share the regions; fork
copies them at the same addresses (the child's copy is private, still
read-only, and stays sealed — VM_SEALED is inherited, checked on 6.18), so
the child reuses them and the tracer writes the child's copy through
/proc/CHILD/mem; execve drops them (a new address space gets new ones).
Each task gets its own SLOT_SIZE slot in a region, kept until it dies or
execs: several threads may have rewritten calls in flight at once, and a
task has at most one call in flight, so a slot is free again as soon as
its owner traps its next call.  Placements within one call are packed in
the caller's slot.  More live tasks than slots: another region.

Protection (``Guard``).  The guest must not make a region writable or
replace it.  The calls that could are mprotect, pkey_mprotect, munmap,
mremap (from or onto it), mmap/shmat with a fixed address over it,
remap_file_pages, and madvise advice that discards or un-forks anonymous
memory (DONTNEED, FREE, REMOVE, DONTFORK, WIPEONFORK — a child without the
page could map a writable one at the same address).  io_uring is refused.

* ``SEAL`` (default where the host has mseal): the kernel itself refuses
  every one of them with EPERM on a sealed mapping.  Nothing extra traps,
  so processes that never need a region pay nothing.
* ``TRAP`` (fallback for older kernels): the filter traps mprotect,
  pkey_mprotect, munmap, mremap, madvise, shmat and remap_file_pages always
  (one filter serves every process, and it cannot know which ones have a
  region), and mmap only when its flags register has MAP_FIXED or
  MAP_FIXED_NOREPLACE (a BPF test on a register, free for ordinary mmaps).
  Handlers refuse an overlapping range with EPERM, mseal's errno, so both
  guards look the same to the guest.  Cost: every dynamic-library load and
  malloc trim now stops.  Measured (benchmarks/bench.py, 2-CPU VM, median
  of 5, ratio to native, ``umlpy-same`` vs ``umlpy-guard-trap``): pyimport
  1.83x -> 1.94x, gcc 3.18x -> 3.29x, forkexec 1.78x -> 1.99x; SEAL costs
  nothing measurable (before this module: 1.80x, 3.29x, 1.74x).
  Residual race: an munmap allowed before the region existed may still be
  in flight when the kernel places it.

Creating a region costs four extra stops per address space (two injected
calls, each with an exit stop and a re-entry) plus one read of
/proc/PID/maps: about 0.16 ms per process on the same machine.

Not protected: writes through ``/proc/self/mem`` (or ``/proc/<sibling>/mem``)
ignore page protections *and* seals; opening those files is the
filesystem layer's job (not wired yet).  Landlock does not stop a process
writing its own /proc/self/mem.  The guest can *read* its regions, so the
host paths placed there are visible to it.
"""

from __future__ import annotations

import enum
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from umlpy.tracer import _ffi, bpf, memory
from umlpy.tracer.inject import InjectError, inject
from umlpy.vkernel.outcome import PASS, Deny, GuestError, Outcome

if TYPE_CHECKING:
    from umlpy.tracer.loop import SyscallContext
    from umlpy.vkernel.state import Kernel
    from umlpy.vkernel.task import Task

log = logging.getLogger(__name__)

PAGE = 4096
SLOT_SIZE = 2 * PAGE  # two PATH_MAX paths (renameat2, linkat, symlinkat)
SLOTS = 16
REGION_SIZE = SLOT_SIZE * SLOTS  # 128 KiB of address space; only written pages cost memory

NR_MMAP, NR_MSEAL = 9, 462
PROT_READ = 0x1
MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x20, 0x4000
MAP_FIXED, MAP_FIXED_NOREPLACE = 0x10, 0x100000
MREMAP_FIXED = 2
SHM_REMAP = 0o40000
_HARMLESS_MADVISE = frozenset({0, 1, 2, 3, 20, 21})  # NORMAL RANDOM SEQUENTIAL WILLNEED COLD PAGEOUT


class Guard(enum.Enum):
    SEAL = "seal"
    TRAP = "trap"


class ScratchNeeded(Exception):
    """The caller's address space has no usable slot yet; the dispatcher grows one."""


@dataclass(slots=True)
class _Slot:
    base: int
    ctx: object = None  # the call the placements below ``used`` belong to
    used: int = 0
    # offset -> bytes the tracer wrote there earlier: the guest cannot change
    # them, so the same placement again (a loop stat()ing one path) is free.
    written: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class Region:
    addr: int
    owners: dict[int, _Slot] = field(default_factory=dict)  # tid -> slot

    def free_slot(self) -> int | None:
        taken = {s.base for s in self.owners.values()}
        for i in range(SLOTS):
            if self.addr + i * SLOT_SIZE not in taken:
                return self.addr + i * SLOT_SIZE
        return None


@dataclass(slots=True)
class ScratchSpace:
    """Per address space: sealed regions, one being built, a failure to report once."""

    regions: list[Region] = field(default_factory=list)
    pending: int | None = None  # mapped, not sealed or checked yet
    error: int = 0

    def fork(self) -> ScratchSpace:
        """The child's view after fork(2): same addresses, no slots taken."""
        return ScratchSpace([Region(r.addr) for r in self.regions])

    def ranges(self) -> list[tuple[int, int]]:
        out = [(r.addr, r.addr + REGION_SIZE) for r in self.regions]
        if self.pending is not None:
            out.append((self.pending, self.pending + REGION_SIZE))
        return out


def place(task: Task, ctx: SyscallContext, data: bytes) -> int:
    """Copy ``data`` where the guest cannot change it; return its guest address.

    Raises ScratchNeeded when the region must be created first (the
    dispatcher handles it: the call re-enters and its handler runs again),
    GuestError when creating it failed or ``data`` does not fit.
    """
    space = task.vm.scratch
    slot = _slot_of(space, task.tid)
    if slot is None:
        if space.error:
            err, space.error = space.error, 0
            raise GuestError(err, "no scratch region")
        raise ScratchNeeded
    if slot.ctx is not ctx:
        slot.ctx, slot.used = ctx, 0
    if slot.used + len(data) > SLOT_SIZE:
        raise GuestError(errno.ENAMETOOLONG, "rewritten arguments exceed the scratch slot")
    addr = slot.base + slot.used
    if not data:
        return addr  # a probe: the slot exists
    off = slot.used
    if slot.written.get(off) == data:
        slot.used += (len(data) + 15) & ~15
        return addr
    for o in [o for o, d in slot.written.items() if o < off + len(data) and o + len(d) > off]:
        del slot.written[o]
    try:
        memory.poke(ctx.tid, addr, data)
    except OSError as e:
        if e.errno == errno.ESRCH:
            raise
        log.warning("tid %d: cannot write scratch region: %s", ctx.tid, e)
        raise GuestError(errno.EPERM, "scratch region not writable by the tracer") from e
    slot.written[off] = data
    slot.used += (len(data) + 15) & ~15
    return addr


def _slot_of(space: ScratchSpace, tid: int) -> _Slot | None:
    for r in space.regions:
        s = r.owners.get(tid)
        if s is not None:
            return s
    for r in space.regions:
        base = r.free_slot()
        if base is not None:
            s = r.owners[tid] = _Slot(base)
            return s
    return None


def release(task: Task) -> None:
    """The task died or exec'd: its slot is free (its last call is over)."""
    for r in task.vm.scratch.regions:
        r.owners.pop(task.tid, None)


def grow(k: Kernel, task: Task, ctx: SyscallContext, guard: Guard) -> None:
    """Inject the next step of creating a region into the stopped task.

    Raises GuestError if nothing can be injected here.
    """
    space = task.vm.scratch
    tid = ctx.tid

    def mapped(ret: int) -> None:
        if ret < 0:
            space.error = -ret
            return
        if guard is Guard.SEAL:
            space.pending = ret
        else:
            _adopt(k, space, tid, ret)

    def sealed(ret: int, addr: int) -> None:
        if space.pending == addr:
            space.pending = None
        if any(r.addr == addr for r in space.regions):
            return  # another thread of the process sealed it first
        if ret < 0:
            log.warning("tid %d: mseal of the scratch region failed: %s", tid, errno.errorcode.get(-ret, ret))
            space.error = errno.ENOMEM
            return
        _adopt(k, space, tid, addr)

    try:
        pending = space.pending
        if pending is None:
            flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
            inject(ctx, NR_MMAP, (0, REGION_SIZE, PROT_READ, flags, -1, 0), mapped)
        else:
            inject(ctx, NR_MSEAL, (pending, REGION_SIZE, 0), lambda ret: sealed(ret, pending))
    except InjectError as e:
        log.warning("tid %d: cannot create a scratch region: %s", tid, e)
        raise GuestError(errno.ENOMEM, str(e)) from e


def _adopt(k: Kernel, space: ScratchSpace, tid: int, addr: int) -> None:
    if _is_ours(tid, addr):
        space.regions.append(Region(addr))
        log.debug("tid %d: scratch region at %#x", tid, addr)
    else:
        k.warn(f"pid {tid}: the scratch region was replaced before it was sealed; not used")
        space.error = errno.ENOMEM


def _is_ours(tid: int, addr: int) -> bool:
    """Is [addr, addr+REGION_SIZE) a private, anonymous, read-only mapping?"""
    try:
        with open(f"/proc/{tid}/maps", "rb") as f:
            for line in f:
                parts = line.split()
                lo, _, hi = parts[0].partition(b"-")
                if int(lo, 16) <= addr < int(hi, 16):
                    return (
                        int(hi, 16) >= addr + REGION_SIZE
                        and parts[1] == b"r--p"
                        and parts[4] == b"0"
                        and (len(parts) == 5 or parts[5].startswith(b"[anon"))
                    )
    except (OSError, ValueError, IndexError):
        pass
    return False


# -- TRAP guard: handlers for the memory-management calls -------------------------


def mseal_available() -> bool:
    """Does the host kernel have mseal(2)?  (A zero-length seal is a no-op.)"""
    try:
        _ffi.raw_syscall(NR_MSEAL, 0, 0, 0)
    except OSError:
        return False
    return True


def _overlaps(k: Kernel, ctx: SyscallContext, start: int, length: int) -> bool:
    task = k.tasks.get(ctx.tid)
    if task is None:
        return False
    end = start + ((length + PAGE - 1) & ~(PAGE - 1))
    return any(start < hi and end > lo for lo, hi in task.vm.scratch.ranges())


def _refuse(name: str) -> Deny:
    return Deny(errno.EPERM, f"{name} over umlpy's scratch region")


def sys_mm_range(k: Kernel, ctx: SyscallContext) -> Outcome:
    """mprotect, pkey_mprotect, munmap, remap_file_pages: (addr, len) ranges."""
    return _refuse("memory-map change") if _overlaps(k, ctx, ctx.args[0], ctx.args[1]) else PASS


def sys_madvise(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements madvise(2)'s guard: only harmless advice over a region."""
    advice = ctx.args[2] & 0xFFFFFFFF
    if advice in _HARMLESS_MADVISE or not _overlaps(k, ctx, ctx.args[0], ctx.args[1]):
        return PASS
    return _refuse("madvise")


def sys_mremap(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements mremap(2)'s guard: the old range, its growth, a fixed target."""
    old, old_len, new_len, flags, new = ctx.args[:5]
    hit = _overlaps(k, ctx, old, max(old_len, new_len))
    if flags & MREMAP_FIXED:
        hit = hit or _overlaps(k, ctx, new, new_len)
    return _refuse("mremap") if hit else PASS


def sys_mmap(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements mmap(2)'s guard (trapped only with MAP_FIXED[_NOREPLACE])."""
    if ctx.args[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE) and _overlaps(k, ctx, ctx.args[0], ctx.args[1]):
        return _refuse("mmap(MAP_FIXED)")
    return PASS


def sys_shmat(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements shmat(2)'s guard: SHM_REMAP at or below a region (size unknown here)."""
    addr, flags = ctx.args[1], ctx.args[2] & 0xFFFFFFFF
    task = k.tasks.get(ctx.tid)
    if task is None or not (flags & SHM_REMAP and addr):
        return PASS
    return _refuse("shmat(SHM_REMAP)") if any(addr < hi for _, hi in task.vm.scratch.ranges()) else PASS


TRAP_GUARD: dict[str, tuple[Callable[[Kernel, SyscallContext], Outcome], bpf.Rule]] = {
    "mprotect": (sys_mm_range, bpf.TRACE),
    "pkey_mprotect": (sys_mm_range, bpf.TRACE),
    "munmap": (sys_mm_range, bpf.TRACE),
    "remap_file_pages": (sys_mm_range, bpf.TRACE),
    "madvise": (sys_madvise, bpf.TRACE),
    "mremap": (sys_mremap, bpf.TRACE),
    "shmat": (sys_shmat, bpf.TRACE),
    "mmap": (sys_mmap, bpf.IfArgMask(3, MAP_FIXED | MAP_FIXED_NOREPLACE, bpf.TRACE, bpf.ALLOW)),
}
