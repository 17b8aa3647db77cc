"""System V IPC: the guest sees only the objects it created itself.

SysV shared memory, semaphores and message queues live in the host's IPC
namespace, keyed by integers any process can guess, and no Landlock right
covers them (svipc(7)).  umlpy keeps the set of ids the guest created:

* ``*get(key, …)``: IPC_PRIVATE always creates; for any other key the tracer
  first asks the host whether the key exists — if it does and is not the
  guest's own, the call fails with EACCES as if permissions forbade it.
  The returned id is recorded at the syscall exit.
* every call that names an id (shmat, shmctl, semop, semtimedop, semctl,
  msgsnd, msgrcv, msgctl) must name a recorded id, else EINVAL ("no such
  identifier"), as the kernel says for a removed object.
* the ``*_INFO``/``*_STAT`` commands enumerate the host's objects by index:
  refused (EACCES), so ``ipcs`` inside shows nothing of the host's.

Ids are registers, so none of these checks can be raced.  A key created on
the host between the probe and the guest's call would be adopted: the
window is one syscall wide.
"""

from __future__ import annotations

import errno

from umlpy.tracer import _ffi
from umlpy.tracer.loop import SyscallContext
from umlpy.vkernel.args import s32
from umlpy.vkernel.outcome import PASS, Deny, GuestError, Outcome
from umlpy.vkernel.state import Kernel

IPC_PRIVATE = 0
IPC_64 = 0x100
_ENUMERATING = {
    "shmctl": {3, 13, 14, 15},  # IPC_INFO, SHM_STAT, SHM_INFO, SHM_STAT_ANY
    "semctl": {3, 18, 19, 20},  # IPC_INFO, SEM_STAT, SEM_INFO, SEM_STAT_ANY
    "msgctl": {3, 11, 12, 13},  # IPC_INFO, MSG_STAT, MSG_INFO, MSG_STAT_ANY
}
_KIND = {
    "shmget": "shm", "shmat": "shm", "shmctl": "shm",
    "semget": "sem", "semop": "sem", "semtimedop": "sem", "semctl": "sem",
    "msgget": "msg", "msgsnd": "msg", "msgrcv": "msg", "msgctl": "msg",
}
_CMD_ARG = {"shmctl": 1, "semctl": 2, "msgctl": 1}
_PROBE = {  # kind -> (syscall name, argument tuple after the key) that only looks a key up
    "shm": ("shmget", (0, 0)),
    "sem": ("semget", (0, 0)),
    "msg": ("msgget", (0,)),
}



def sys_ipc_get(k: Kernel, ctx: SyscallContext) -> Outcome:
    """Implements shmget(2), semget(2), msgget(2)."""
    name = k.name_of(ctx.nr)
    kind = _KIND[name]
    key = s32(ctx.args[0])
    owned = k.ipc_ids.setdefault(kind, set())
    if key != IPC_PRIVATE:
        probe, rest = _PROBE[kind]
        existing: int | None
        try:
            existing = _ffi.raw_syscall(k.nr(probe), key & 0xFFFFFFFF, *rest)
        except OSError as e:
            existing = None if e.errno == errno.ENOENT else -1
        if existing is not None and existing not in owned:
            return Deny(errno.EACCES, f"SysV {kind} key {key:#x} belongs to the host")

    def record(ret: int) -> None:
        if 0 <= ret < 1 << 31:
            owned.add(ret)

    ctx.on_exit(record)
    return PASS


def sys_ipc_use(k: Kernel, ctx: SyscallContext) -> Outcome:
    """shmat, shmctl, semop, semtimedop, semctl, msgsnd, msgrcv, msgctl."""
    name = k.name_of(ctx.nr)
    kind = _KIND[name]
    if name in _CMD_ARG:
        cmd = (ctx.args[_CMD_ARG[name]] & 0xFFFFFFFF) & ~IPC_64
        if cmd in _ENUMERATING[name]:
            raise GuestError(errno.EACCES, "enumerating the host's SysV objects")
    ident = s32(ctx.args[0])
    if ident not in k.ipc_ids.get(kind, set()):
        raise GuestError(errno.EINVAL, f"SysV {kind} id {ident} is not the guest's")
    if name.endswith("ctl"):
        cmd = (ctx.args[_CMD_ARG[name]] & 0xFFFFFFFF) & ~IPC_64
        if cmd == 0:  # IPC_RMID
            k.ipc_ids[kind].discard(ident)
    return PASS
