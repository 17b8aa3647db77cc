"""What a syscall handler decides: a closed set of frozen values.

Handlers return an Outcome or raise :class:`GuestError`; only the dispatcher
(:mod:`umlpy.vkernel.dispatch`) turns an Outcome into register writes.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pass:
    """Let the host kernel run the call unchanged."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Run the call with some argument registers replaced (index -> value).

    ``on_exit`` sees the host's return value and may replace it; ``nr``
    replaces the call itself (openat -> openat2).
    """

    args: tuple[tuple[int, int], ...]
    on_exit: Callable[[int], int | None] | None = None
    nr: int | None = None


@dataclass(frozen=True, slots=True)
class Emulate:
    """Skip the host call; the guest sees ``retval``."""

    retval: int


@dataclass(frozen=True, slots=True)
class Deny:
    """Refuse by policy: the guest sees ``-errno``; counted and logged as a denial."""

    errno: int
    reason: str


Outcome = Pass | Rewrite | Emulate | Deny

PASS = Pass()


class GuestError(Exception):
    """The call fails as a kernel would fail it: the guest sees ``-errno``."""

    def __init__(self, err: int, detail: str = "") -> None:
        super().__init__(detail or _errno.errorcode.get(err, str(err)))
        self.errno = err
