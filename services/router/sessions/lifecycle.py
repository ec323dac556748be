"""Session lifecycle on loaded sessions (the API's side; every close goes through
store/closing.py, whoever closes).

OPEN -> IN_PROGRESS (first interaction) -> CLOSED (API, idle TTL, absolute expiry, opt-out,
end command). Expiry is decided at lookup time too (store/expiry.py), so correctness never
depends on the sweeper.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import FailedPrecondition
from numproxy.router.sessions import names
from numproxy.router.store import closing
from numproxy.router.store.closing import Close
from numproxy.router.store.models import Session
from numproxy.router.store.states import CloseReason, SessionStatus
from numproxy.router.store.writes import Writes


async def close(
    db: AsyncSession, session: Session, reason: CloseReason, now: datetime, writes: Writes
) -> None:
    """Close ``session`` (locked by the caller) now, and reload it. Its notices and event go
    to ``writes`` (the caller flushes it before commit)."""
    await db.flush()
    conn = await db.connection()
    if await closing.close_sessions(conn, [Close(session.id, reason, now)], now, writes):
        await db.refresh(session)


async def close_if_ran_out(
    db: AsyncSession, session: Session, now: datetime, writes: Writes
) -> bool:
    """Close ``session`` (locked) as of the moment it ran out, if it has; True when this call
    closed it. Its notices and event go to ``writes``."""
    await db.flush()
    row = (session.id, session.status, session.expires_at, session.idle_expires_at)
    if not await closing.close_ran_out(await db.connection(), [row], now, writes):
        return False
    await db.refresh(session)
    return True


async def require_live(db: AsyncSession, session: Session, now: datetime) -> None:
    """FAILED_PRECONDITION SESSION_CLOSED unless ``session`` (locked) is still live at ``now``
    (one that ran out is closed first, as of the moment it did)."""
    # Nothing else is written when it ran out (this raises), so its writes need no flush.
    await close_if_ran_out(db, session, now, Writes())
    if session.status == SessionStatus.CLOSED:
        raise FailedPrecondition(
            f"session {session.id} is closed",
            reason="SESSION_CLOSED",
            metadata={"session": names.session_name(session.id)},
        )


def reset_idle_expiry(session: Session, since: datetime) -> None:
    session.idle_expires_at = (
        since + timedelta(seconds=session.ttl_seconds) if session.ttl_seconds > 0 else None
    )
