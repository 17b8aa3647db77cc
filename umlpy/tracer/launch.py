"""Start a guest under PTRACE_SEIZE with its seccomp filter in place.

Sequence (DESIGN.md, "Launch"):

1. fork.  The child makes itself dumpable again (a non-dumpable tracer
   forks non-dumpable children, which it may not seize without
   CAP_SYS_PTRACE), says so on a pipe and blocks reading a sync pipe, so the
   parent can PTRACE_SEIZE it while nothing else has happened yet;
2. the child restores what Python changed and a guest must not inherit
   (SIGPIPE/SIGXFSZ ignored, blocked signals), runs the caller's
   sets NO_NEW_PRIVS, runs the caller's ``prepare`` (rlimits, Landlock),
   installs the seccomp filter and execs.  From the filter on, every syscall of the child and of
   its descendants is under the tracer; nothing runs untraced;
3. an exec failure is written as an errno to a CLOEXEC pipe and the child
   exits 127 — the parent reads it after the run (EOF means exec worked).

The child runs only calls prepared by the parent: no imports, no logging,
nothing that can take a lock another thread held at fork time.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from umlpy.tracer import _ffi
from umlpy.tracer.bpf import Insn

_RESTORE_DEFAULT = (signal.SIGPIPE, signal.SIGXFSZ)


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int
    errpipe: int  # read end; holds an errno if exec failed

    def exec_errno(self) -> int | None:
        """After the child is gone: the errno of a failed exec, else None."""
        try:
            data = os.read(self.errpipe, 16)
        finally:
            os.close(self.errpipe)
        return int(data) if data else None


def spawn(
    path: bytes,
    argv: Sequence[bytes],
    env: dict[bytes, bytes],
    *,
    filter_program: list[Insn],
    cwd: bytes | None = None,
    prepare: Callable[[], None] | None = None,
    on_seized: Callable[[], None] | None = None,
    options: int,
) -> Spawned:
    """Fork, seize and exec ``path``; the caller must then run the wait loop."""
    sync_r, sync_w = os.pipe()
    ready_r, ready_w = os.pipe()
    err_r, err_w = os.pipe()
    envd = dict(env)
    argl = list(argv)
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(sync_w)
            os.close(ready_r)
            os.close(err_r)
            for s in _RESTORE_DEFAULT:
                signal.signal(s, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            # A non-dumpable tracer forks non-dumpable children, which an
            # unprivileged tracer may not seize: undo that for this mm first.
            _ffi.set_dumpable(True)
            os.write(ready_w, b"r")
            os.close(ready_w)
            os.read(sync_r, 1)
            os.close(sync_r)
            if cwd is not None:
                os.chdir(cwd)
            _ffi.set_no_new_privs()
            if prepare is not None:
                prepare()
            _ffi.install_seccomp(filter_program)
            try:
                os.execve(path, argl, envd)
            except OSError as e:
                if e.errno != errno.ENOEXEC:
                    raise
                # No #! line: run it as a shell script, as execvp(3) and shells do.
                os.execve(b"/bin/sh", [b"sh", path, *argl[1:]], envd)
        except OSError as e:
            try:
                os.write(err_w, str(e.errno or 1).encode())
            finally:
                os._exit(127)
        except BaseException:  # noqa: BLE001 - the forked child must never return into the caller
            os._exit(127)
        os._exit(127)
    os.close(sync_r)
    os.close(ready_w)
    os.close(err_w)
    ready = os.read(ready_r, 1)
    os.close(ready_r)
    try:
        if ready != b"r":
            raise OSError(errno.ECHILD, "the guest process died before it could be traced")
        _ffi.seize(pid, options)
    except OSError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(sync_w)
        os.close(err_r)
        raise
    if on_seized is not None:
        # Still before the child can run anything: e.g. the tracer making itself
        # non-dumpable (which, done before fork, would be inherited and forbid
        # the seize itself for an unprivileged tracer).
        on_seized()
    os.write(sync_w, b"x")
    os.close(sync_w)
    return Spawned(pid, err_r)

