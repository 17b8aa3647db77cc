"""The platform: ptrace + seccomp, tasks, stops, registers, guest memory.

Knows nothing about files or sockets; hands each trapped syscall to a
:class:`~umlpy.tracer.loop.Handler`.
"""
