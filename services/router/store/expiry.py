"""The one expiry rule: when a session is over, in Python and in SQL side by side.

A session past its absolute expiry (``expires_at``) or its idle TTL (``idle_expires_at``, the
last activity plus the TTL) is closed for every reader at once, whether or not the sweeper or
a later lookup has written that down yet; its close time is the moment it ran out, not the
moment someone noticed. The absolute expiry wins when both have passed. A test holds the two
forms against each other on both databases (tests/unit/router/test_expiry_rule.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, CompoundSelect, and_, literal_column, or_, select, union

from numproxy.router.clock import as_utc
from numproxy.router.store.models import Session
from numproxy.router.store.states import CloseReason, SessionStatus


@dataclass(frozen=True, slots=True)
class RanOut:
    reason: CloseReason
    at: datetime


def ran_out(
    status: str, expires_at: datetime | None, idle_expires_at: datetime | None, now: datetime
) -> RanOut | None:
    """Python form: why and when an unclosed session ran out by ``now`` (None: live or
    already closed)."""
    if status == SessionStatus.CLOSED:
        return None
    if expires_at is not None and as_utc(expires_at) <= now:
        return RanOut(CloseReason.EXPIRED, as_utc(expires_at))
    if idle_expires_at is not None and as_utc(idle_expires_at) <= now:
        return RanOut(CloseReason.IDLE_TTL, as_utc(idle_expires_at))
    return None


def session_ran_out(session: Session, now: datetime) -> RanOut | None:
    return ran_out(session.status, session.expires_at, session.idle_expires_at, now)


# Literal (not a bound parameter) so both databases match the partial indexes' predicate.
NOT_CLOSED = Session.status != literal_column(f"'{SessionStatus.CLOSED}'")


def ran_out_sql(now: datetime) -> ColumnElement[bool]:
    """SQL form of ``ran_out(...) is not None``: unclosed and past either expiry."""
    return and_(NOT_CLOSED, or_(Session.expires_at <= now, Session.idle_expires_at <= now))


def live_sql(now: datetime) -> ColumnElement[bool]:
    """SQL form of "unclosed and ``ran_out(...) is None``"."""
    return and_(
        NOT_CLOSED,
        or_(Session.expires_at.is_(None), Session.expires_at > now),
        or_(Session.idle_expires_at.is_(None), Session.idle_expires_at > now),
    )


def ran_out_ids_sql(now: datetime) -> CompoundSelect[tuple[str]]:
    """The ids of ``ran_out_sql(now)`` sessions, as one scan of each partial expiry index
    (the sweeper's query)."""
    return union(
        select(Session.id).where(NOT_CLOSED, Session.expires_at <= now),
        select(Session.id).where(NOT_CLOSED, Session.idle_expires_at <= now),
    )
