"""When a session ran out, and closing it as of that moment.

A session past its idle TTL or absolute expiry is closed for every reader at once, whether or
not the sweeper or a later lookup has written that down yet; its close time is the moment it
ran out, not the moment someone noticed.
"""

from __future__ import annotations

from datetime import datetime

from numproxy.router import lifecycle
from numproxy.router.db.models import Session


def ran_out(session: Session, now: datetime) -> tuple[str, datetime] | None:
    """(closed_reason, when) if the unclosed ``session`` is over at ``now``."""
    reason = lifecycle.expiry_reason(session, now)
    if reason is None:
        return None
    return reason, lifecycle.ran_out_at(session, reason)


def close_if_ran_out(session: Session, now: datetime) -> bool:
    """Close ``session`` if it is over; True when this call closed it."""
    was_open = session.status != lifecycle.CLOSED
    return lifecycle.close_if_expired(session, now) and was_open
