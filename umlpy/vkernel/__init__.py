"""The virtual kernel: the syscall table, handlers by family, the dispatcher.

Imports the tracer's context types and the pure services (vfs, vnet); the
tracer never imports this package.
"""
