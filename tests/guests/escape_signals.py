"""Python guest: every signal API of the os/signal modules aimed at a host
canary (argv[1]) and at umlpy (the parent), with SIGTERM."""

import os
import signal
import sys

signal.signal(signal.SIGTERM, signal.SIG_IGN)  # killpg of the shared group reaches us too
canary = int(sys.argv[1])
tracer = os.getppid()
attempts = [
    ("kill", lambda p: os.kill(p, signal.SIGTERM)),
    ("killpg", lambda p: os.killpg(os.getpgid(p), signal.SIGTERM)),
    ("pidfd", lambda p: signal.pidfd_send_signal(os.pidfd_open(p), signal.SIGTERM)),
    ("proc_dirfd", lambda p: signal.pidfd_send_signal(os.open(f"/proc/{p}", os.O_RDONLY), signal.SIGTERM)),
    ("sched_setaffinity", lambda p: os.sched_setaffinity(p, {0})),
    ("setpriority", lambda p: os.setpriority(os.PRIO_PROCESS, p, 19)),
]
for target in (canary, tracer):
    for name, fn in attempts:
        try:
            fn(target)
            print(f"{name}({target})=ok")
        except (OSError, ValueError, ProcessLookupError) as e:
            print(f"{name}({target})={type(e).__name__}")
