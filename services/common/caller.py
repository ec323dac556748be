"""Who is calling: the identity the authentication layer established for the current RPC.

The server's authentication interceptor binds a ``Caller`` around each handler call; anything
below it (authorization checks in servicers, the audit trail) reads it with
``current_caller()``. Outside an authenticated call it is ``None``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its name (certificate SAN or the name a bearer token maps to)."""

    name: str


_current: ContextVar[Caller | None] = ContextVar("numproxy_caller", default=None)


def current_caller() -> Caller | None:
    return _current.get()


@contextlib.contextmanager
def bound_caller(caller: Caller | None) -> Iterator[None]:
    """Make ``caller`` the current caller for the code run inside the block."""
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)
