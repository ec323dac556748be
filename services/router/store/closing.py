"""Closing sessions: the one way a session closes, whoever closes it (the API, the sweeper,
a lookup that finds it ran out, STOP, an end command).

A close sets the session CLOSED with its reason, frees its participants' proxy numbers (the
core rule's index), writes a SESSION_CLOSED event, and queues the close notice (the session's,
else its pool's) to every participant, from their own proxy number, except to one who opted
out of that number. Callers hold the sessions' row locks (PostgreSQL) or the write lock
(SQLite), so "not closed yet" cannot change under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.store import expiry, queries, rows
from numproxy.router.store.expiry import NOT_CLOSED
from numproxy.router.store.models import Participant, Pool, ProxyNumber, Session
from numproxy.router.store.states import (
    CloseReason,
    Direction,
    EventType,
    SessionStatus,
)
from numproxy.router.store.writes import Writes


@dataclass(frozen=True, slots=True)
class Close:
    session_id: str
    reason: CloseReason
    at: datetime


def closed_values(reason: CloseReason, at: datetime, now: datetime) -> dict[str, Any]:
    """The session columns a close sets."""
    return {
        "status": SessionStatus.CLOSED,
        "closed_reason": reason,
        "closed_at": at,
        "updated_at": now,
    }


_OPEN_AMONG = (
    select(
        Session.id,
        Session.pool_id,
        func.coalesce(func.nullif(Session.close_notice, ""), Pool.close_notice),
    )
    .join(Pool, Pool.id == Session.pool_id)
    .where(Session.id.in_(bindparam("ids", expanding=True)), NOT_CLOSED)
)
_CLOSE = (
    update(Session)
    .where(Session.id == bindparam("b_id"), NOT_CLOSED)
    .values(
        status=bindparam("b_status"),
        closed_reason=bindparam("b_reason"),
        closed_at=bindparam("b_at"),
        updated_at=bindparam("b_now"),
    )
)
_ACTIVE_PARTICIPANTS = (
    select(Participant.session_id, Participant.number, ProxyNumber.number)
    .join(ProxyNumber, ProxyNumber.id == Participant.proxy_number_id)
    .where(Participant.session_id.in_(bindparam("ids", expanding=True)), Participant.active)
    .order_by(Participant.session_id, Participant.position)
)
_DEACTIVATE = (
    update(Participant)
    .where(Participant.session_id.in_(bindparam("ids", expanding=True)), Participant.active)
    .values(active=False)
)


async def close_sessions(
    conn: AsyncConnection, closes: Sequence[Close], now: datetime, writes: Writes
) -> list[str]:
    """Close those of ``closes`` not closed yet; their ids. Notices and events go to
    ``writes`` (the caller flushes it before commit)."""
    wanted = {close.session_id: close for close in closes}
    if not wanted:
        return []
    found = (await conn.execute(_OPEN_AMONG, {"ids": sorted(wanted)})).all()
    if not found:
        return []
    ids = [row[0] for row in found]
    params = []
    for session_id in ids:
        close = wanted[session_id]
        values = closed_values(close.reason, close.at, now)
        params.append(
            {
                "b_id": session_id,
                "b_status": values["status"],
                "b_reason": values["closed_reason"],
                "b_at": values["closed_at"],
                "b_now": values["updated_at"],
            }
        )
    await conn.execute(_CLOSE, params)
    notices = {row[0]: (row[1], row[2]) for row in found if row[2]}
    if notices:
        await _queue_notices(conn, notices, now, writes)
    await conn.execute(_DEACTIVATE, {"ids": ids})
    for session_id, pool_id, _ in found:
        writes.event(
            rows.event(
                type=EventType.SESSION_CLOSED,
                now=now,
                pool_id=pool_id,
                session_id=session_id,
                reason=wanted[session_id].reason,
            )
        )
    return ids


async def _queue_notices(
    conn: AsyncConnection, notices: dict[str, tuple[int, str]], now: datetime, writes: Writes
) -> None:
    """``notices``: (pool id, text) by session id."""
    participants = (await conn.execute(_ACTIVE_PARTICIPANTS, {"ids": sorted(notices)})).all()
    opted_out = await queries.opted_out(
        conn, ((number, proxy) for _, number, proxy in participants)
    )
    for session_id, number, proxy in participants:
        if (number, proxy) in opted_out:
            continue
        pool_id, text = notices[session_id]
        writes.interaction(
            rows.outbound(
                now=now,
                direction=Direction.SYSTEM,
                proxy_number=proxy,
                recipient_number=number,
                text=text,
                session_id=session_id,
            ),
            pool_id=pool_id,
        )


async def close_ran_out(
    conn: AsyncConnection, found: Sequence[Any], now: datetime, writes: Writes
) -> list[str]:
    """Close those of ``found`` — rows of (id, status, expires_at, idle_expires_at), locked by
    the caller — that ran out by ``now``, as of the moment each did. Notices and events go to
    ``writes`` (the caller flushes it before commit)."""
    closes = [
        Close(row[0], over.reason, over.at)
        for row in found
        if (over := expiry.ran_out(row[1], row[2], row[3], now)) is not None
    ]
    return await close_sessions(conn, closes, now, writes)


# The columns close_ran_out judges by.
RAN_OUT_COLUMNS = (Session.id, Session.status, Session.expires_at, Session.idle_expires_at)
