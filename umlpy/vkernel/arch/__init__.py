"""Linux syscall numbers per ABI."""
