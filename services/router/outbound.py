"""Writing outbound messages: each is an interaction row that is also an outbox entry.

Rows are written in the caller's transaction (with the inbound that caused them); the
dispatcher sends them once that transaction committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.router.db.models import Interaction
from numproxy.router.ids import new_id

QUEUED = "QUEUED"
SENT = "SENT"
DELIVERED = "DELIVERED"
FAILED = "FAILED"
RECEIVED = "RECEIVED"


def new_interaction(
    *,
    now: datetime,
    direction: str,
    status: str,
    proxy_number: str,
    text: str,
    session_id: str | None = None,
    sender_number: str = "",
    recipient_number: str = "",
    note: str = "",
    next_attempt_at: datetime | None = None,
    cause_id: str | None = None,
) -> Interaction:
    """An interaction row with every column set (inbound and outbound rows alike)."""
    return Interaction(
        id=new_id(),
        session_id=session_id,
        direction=direction,
        sender_number=sender_number,
        recipient_number=recipient_number,
        proxy_number=proxy_number,
        text=text,
        status=status,
        failure_reason="",
        note=note,
        provider_message_ids=[],
        part_statuses={},
        attempts=0,
        next_attempt_at=next_attempt_at,
        cause_id=cause_id,
        created_at=now,
        updated_at=now,
    )


def queue_outbound(
    db: AsyncSession,
    *,
    now: datetime,
    proxy_number: str,
    recipient_number: str,
    text: str,
    session_id: str | None = None,
    sender_number: str = "",
    cause_id: str | None = None,
) -> Interaction:
    """Add an outbound SMS from ``proxy_number`` to ``recipient_number``, due now."""
    row = new_interaction(
        now=now,
        direction="OUTBOUND",
        status=QUEUED,
        proxy_number=proxy_number,
        text=text,
        session_id=session_id,
        sender_number=sender_number,
        recipient_number=recipient_number,
        next_attempt_at=now,
        cause_id=cause_id,
    )
    db.add(row)
    return row


@dataclass(frozen=True, slots=True)
class OutboundSend:
    """What sending one outbound row needs (its id is the sender's idempotency key)."""

    id: str
    proxy_number: str
    recipient_number: str
    text: str


def leased_values(now: datetime, lease: float) -> dict[str, Any]:
    """Column values of a row written already claimed by the writing process (the dispatcher's
    fast path): leased as a claim would lease it, its first attempt counted."""
    return {"next_attempt_at": now + timedelta(seconds=lease), "attempts": 1}
