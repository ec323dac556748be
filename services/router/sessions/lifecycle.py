"""Session lifecycle on loaded sessions (the API's side; the pipeline and the sweeper write the
same columns with store/queries.py, from the same value builders).

OPEN -> IN_PROGRESS (first interaction) -> CLOSED (API, idle TTL, absolute expiry, opt-out).
Expiry is decided at lookup time too (store/expiry.py), so correctness never depends on the
sweeper.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from numproxy.router.store.expiry import session_ran_out
from numproxy.router.store.models import Session
from numproxy.router.store.queries import closed_values
from numproxy.router.store.states import CloseReason, SessionStatus


def close(session: Session, reason: CloseReason, now: datetime, at: datetime | None = None) -> None:
    """Close ``session`` (as of ``at``, default now): frees its participants' proxy numbers
    (the core rule's index)."""
    if session.status == SessionStatus.CLOSED:
        return
    for column, value in closed_values(reason, at or now, now).items():
        setattr(session, column, value)
    for participant in session.participants:
        participant.active = False


def close_if_ran_out(session: Session, now: datetime) -> bool:
    """Close ``session`` as of the moment it ran out, if it has; True when this call closed it."""
    over = session_ran_out(session, now)
    if over is None:
        return False
    close(session, over.reason, now, at=over.at)
    return True


def reset_idle_expiry(session: Session, since: datetime) -> None:
    session.idle_expires_at = (
        since + timedelta(seconds=session.ttl_seconds) if session.ttl_seconds > 0 else None
    )
