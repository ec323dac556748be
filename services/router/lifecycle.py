"""Session lifecycle rules shared by the API, inbound routing and the sweeper.

OPEN -> IN_PROGRESS (first interaction) -> CLOSED (API, idle TTL, absolute expiry, opt-out).
Expiry is decided here at lookup time too, so correctness never depends on the sweeper.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from numproxy.router.clock import as_utc
from numproxy.router.db.models import Session

OPEN = "OPEN"
IN_PROGRESS = "IN_PROGRESS"
CLOSED = "CLOSED"

REASON_API = "API"
REASON_IDLE_TTL = "IDLE_TTL"
REASON_EXPIRED = "EXPIRED"
REASON_OPT_OUT = "OPT_OUT"


def expiry_reason(session: Session, now: datetime) -> str | None:
    """Why an unclosed session is over at ``now`` (None while it is live)."""
    if session.status == CLOSED:
        return None
    if session.expires_at is not None and as_utc(session.expires_at) <= now:
        return REASON_EXPIRED
    if session.idle_expires_at is not None and as_utc(session.idle_expires_at) <= now:
        return REASON_IDLE_TTL
    return None


def close(session: Session, reason: str, now: datetime) -> None:
    """Close ``session``: frees its participants' proxy numbers (the core rule's index)."""
    if session.status == CLOSED:
        return
    session.status = CLOSED
    session.closed_reason = reason
    session.closed_at = now
    session.updated_at = now
    for participant in session.participants:
        participant.active = False


def ran_out_at(session: Session, reason: str) -> datetime:
    """The moment a session that expired for ``reason`` ran out."""
    moment = session.expires_at if reason == REASON_EXPIRED else session.idle_expires_at
    assert moment is not None
    return as_utc(moment)


def close_if_expired(session: Session, now: datetime) -> bool:
    """Close ``session`` as of the moment it ran out, if it has; True when it is closed."""
    reason = expiry_reason(session, now)
    if reason is not None:
        close(session, reason, now)
        session.closed_at = ran_out_at(session, reason)
    return session.status == CLOSED


def record_activity(session: Session, now: datetime) -> None:
    """An interaction happened: IN_PROGRESS, and the idle TTL counts from now."""
    if session.status == OPEN:
        session.status = IN_PROGRESS
    session.last_interaction_at = now
    session.updated_at = now
    reset_idle_expiry(session, now)


def reset_idle_expiry(session: Session, since: datetime) -> None:
    session.idle_expires_at = (
        since + timedelta(seconds=session.ttl_seconds) if session.ttl_seconds > 0 else None
    )
