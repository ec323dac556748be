"""Resource names of the public API: "pools/{id}", "sessions/{id}", ".../interactions/{id}"."""

from __future__ import annotations

import re
import uuid

from numproxy.common.errors import InvalidArgument

POOLS = "pools/"
SESSIONS = "sessions/"
INTERACTIONS = "/interactions/"
DEFAULT_POOL = "default"

_POOL_ID = re.compile(r"^[a-z0-9-]{1,63}$")


def validate_pool_id(pool_id: str, *, field: str = "pool_id") -> str:
    if not _POOL_ID.match(pool_id):
        raise InvalidArgument(
            f"{field} must be 1-63 lower-case letters, digits or '-', got {pool_id[:80]!r}",
            reason="INVALID_POOL_ID",
            metadata={"field": field},
        )
    return pool_id


def pool_id(name: str, *, field: str = "pool") -> str:
    """The pool id in "pools/{id}" or a bare id."""
    return validate_pool_id(name.removeprefix(POOLS), field=field)


def pool_name(pool_id: str) -> str:
    return POOLS + pool_id


def session_id(name: str, *, field: str = "name") -> str:
    """The session id in "sessions/{uuid}" or a bare uuid."""
    return _uuid(name.removeprefix(SESSIONS), field=field, kind="session")


def session_name(session_id: str) -> str:
    return SESSIONS + session_id


def interaction_name(session_id: str, interaction_id: str) -> str:
    return f"{SESSIONS}{session_id}{INTERACTIONS}{interaction_id}"


def _uuid(value: str, *, field: str, kind: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(
            f"{field} must name a {kind} ('{kind}s/{{uuid}}' or a bare uuid), got {value[:80]!r}",
            reason="INVALID_NAME",
            metadata={"field": field},
        ) from None
