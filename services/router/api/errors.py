"""What the router's API answers for failures that are not domain errors."""

from __future__ import annotations

from numproxy.common.errors import DomainError, Unavailable
from numproxy.router.store.dialect import database_unavailable


def database_outage(exc: Exception) -> DomainError | None:
    """A database that cannot be reached right now (down, restarting, connection lost, a
    locked SQLite) is UNAVAILABLE with reason DATABASE_UNAVAILABLE on every RPC, so callers
    (and, through the gateway's 503, the provider) retry; anything else stays internal."""
    if database_unavailable(exc):
        return Unavailable("database unavailable, retry later", reason="DATABASE_UNAVAILABLE")
    return None
