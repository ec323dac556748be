"""Pool limits, in one place: what the current caller may see and touch.

A caller limited to some pools (its policy's ``pools``, bound by the authorization
interceptor) sees and changes only those. Naming another pool is PERMISSION_DENIED with reason
POOL_NOT_ALLOWED, whether that pool exists or not (the answer tells nothing). A session of
another pool is NOT_FOUND / SESSION_NOT_FOUND, the same answer as for a session that does not
exist, so session ids of other pools cannot be probed. Lists are filtered to the allowed
pools. Outside an authorized call (no grant) nothing is limited: the interceptor binds a grant
for every call that reaches a servicer.
"""

from __future__ import annotations

from sqlalchemy import select

from numproxy.common.authorization import current_grant, note_target
from numproxy.common.errors import NotFound, PermissionDenied
from numproxy.router.sessions import names
from numproxy.router.store.models import Pool, Session
from numproxy.router.store.transactions import SessionFactory, reading


def allowed_pools() -> frozenset[str] | None:
    """The pool ids the current caller is limited to; None: every pool."""
    grant = current_grant()
    return None if grant is None else grant.policy.pools


def check_pool(pool: str, *, field: str = "pool") -> str:
    """The pool id in ``pool`` ("pools/{id}" or the bare id), if the caller may use it."""
    pool_id = names.pool_id(pool, field=field)
    allowed = allowed_pools()
    if allowed is not None and pool_id not in allowed:
        raise PermissionDenied(
            f"this caller may not use pool {pool_id!r}",
            reason="POOL_NOT_ALLOWED",
            metadata={"pool": names.pool_name(pool_id)},
        )
    return pool_id


class SessionAccess:
    """Checks a session against the caller's pool limit (a lookup, for limited callers only)."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory

    async def check(self, name: str, *, field: str = "name") -> None:
        allowed = allowed_pools()
        if allowed is None:
            return
        session_id = names.session_id(name, field=field)
        async with reading(self._factory) as db:
            pool_id = await db.scalar(
                select(Pool.name)
                .join(Session, Session.pool_id == Pool.id)
                .where(Session.id == session_id)
            )
        if pool_id is None or pool_id not in allowed:
            raise NotFound(
                f"session {session_id} does not exist",
                reason="SESSION_NOT_FOUND",
                metadata={"session": names.session_name(session_id)},
            )
        note_target(session_id=session_id, pool_id=pool_id)
