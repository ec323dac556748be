"""Row builders: every row of the pipeline's tables is built here, with every column set.

Each returns the column values as a dict, for a Core insert or an ORM constructor
(``Interaction(**row)``). Sessions, participants, pools and proxy numbers are each built in
the one module that writes them (sessions/sessions.py, sessions/pools.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from numproxy.common import tracing
from numproxy.router.store.ids import new_id
from numproxy.router.store.states import Direction, EventType, MessageStatus

Row = dict[str, Any]


def interaction(
    *,
    now: datetime,
    direction: Direction,
    status: MessageStatus,
    proxy_number: str,
    text: str,
    session_id: str | None = None,
    sender_number: str = "",
    recipient_number: str = "",
    note: str = "",
    next_attempt_at: datetime | None = None,
    attempts: int = 0,
    cause_id: str | None = None,
    trace_context: str | None = None,
) -> Row:
    """An interaction row (inbound or outbound) with a new time-ordered id."""
    return {
        "id": new_id(),
        "session_id": session_id,
        "direction": direction,
        "sender_number": sender_number,
        "recipient_number": recipient_number,
        "proxy_number": proxy_number,
        "text": text,
        "status": status,
        "failure_reason": "",
        "note": note,
        "provider_message_ids": [],
        "part_statuses": {},
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "cause_id": cause_id,
        "redacted_at": None,
        "trace_context": trace_context,
        "created_at": now,
        "updated_at": now,
    }


def inbound(
    *, now: datetime, session_id: str, sender: str, proxy: str, text: str, note: str = ""
) -> Row:
    """An inbound SMS recorded in its session."""
    return interaction(
        now=now,
        direction=Direction.INBOUND,
        status=MessageStatus.RECEIVED,
        proxy_number=proxy,
        text=text,
        session_id=session_id,
        sender_number=sender,
        note=note,
    )


def outbound(
    *,
    now: datetime,
    proxy_number: str,
    recipient_number: str,
    text: str,
    session_id: str | None = None,
    sender_number: str = "",
    cause_id: str | None = None,
    direction: Direction = Direction.OUTBOUND,
    traceparent: str = "",
) -> Row:
    """An SMS from ``proxy_number`` to ``recipient_number``: an outbox entry, due now.
    ``direction`` SYSTEM for numproxy's or an app's own texts to a participant (notices,
    SendMessage). ``traceparent``: the trace its send joins (the message that caused it;
    by default the current span's when tracing is on)."""
    return interaction(
        now=now,
        direction=direction,
        status=MessageStatus.QUEUED,
        proxy_number=proxy_number,
        text=text,
        session_id=session_id,
        sender_number=sender_number,
        recipient_number=recipient_number,
        next_attempt_at=now,
        cause_id=cause_id,
        trace_context=traceparent or tracing.traceparent(),
    )


def lease_until(now: datetime, seconds: float) -> datetime:
    """When a lease taken at ``now`` runs out (a claim's, or a row written already leased)."""
    return now + timedelta(seconds=seconds)


def leased(row: Row, until: datetime) -> Row:
    """``row`` (an outbound row not written yet) claimed by the writing process (the
    dispatcher's fast path): reserved until ``until``, its first attempt counted, as a claim
    would."""
    row["next_attempt_at"] = until
    row["attempts"] = 1
    return row


def inbound_message(*, api_key: str, message_id: str, now: datetime) -> Row:
    """A provider message id accepted (the dedupe of webhook retries)."""
    return {"api_key": api_key, "message_id": message_id, "received_at": now}


def message_part(
    *,
    sender: str,
    proxy: str,
    concat_ref: str,
    part: int,
    total: int,
    text: str,
    api_key: str,
    now: datetime,
) -> Row:
    return {
        "sender_number": sender,
        "proxy_number": proxy,
        "concat_ref": concat_ref,
        "part": part,
        "total": total,
        "text": text,
        "api_key": api_key,
        "received_at": now,
        "completed_at": None,
    }


def opt_out(*, number: str, proxy: str, now: datetime) -> Row:
    return {"number": number, "proxy_number": proxy, "created_at": now}


def reply_log(*, sender: str, proxy: str, now: datetime, timed: bool = True) -> Row:
    """A first automatic reply to ``sender`` from ``proxy``: a budget window starts with it.
    ``timed``: the reply starts an interval (an opt-out confirmation does not)."""
    return {
        "sender_number": sender,
        "proxy_number": proxy,
        "last_reply_at": now if timed else None,
        "window_started_at": now,
        "window_replies": 1,
    }


def hook_decision(*, message_key: str, kind: str, decision: Row, now: datetime) -> Row:
    """What a hook decided (or the failure mode applied) for one message."""
    return {"message_key": message_key, "kind": kind, "decision": decision, "created_at": now}


def event(
    *,
    type: EventType,
    now: datetime,
    pool_id: int | None = None,
    session_id: str | None = None,
    interaction_id: str | None = None,
    participant: str = "",
    proxy_number: str = "",
    reason: str = "",
    direction: str = "",
) -> Row:
    """An event row (its cursor is allocated on insert, store/events.py)."""
    return {
        "type": type,
        "pool_id": pool_id,
        "session_id": session_id,
        "interaction_id": interaction_id,
        "participant": participant,
        "proxy_number": proxy_number,
        "reason": reason,
        "direction": direction,
        "created_at": now,
    }
