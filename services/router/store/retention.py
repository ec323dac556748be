"""Retention: what housekeeping deletes or redacts (inbound/housekeeping.py), each task a
bounded batch per transaction.

- Message text of a closed session, once its pool's ``message_retention`` has passed since the
  close: emptied, the rows kept (direction, status, times) so counts and the history's shape
  stay; each interaction and the session are marked ``redacted_at``.
- Replies recorded without a session (keyword answers, out-of-session replies) older than
  ``sessionless_retention``: deleted, unless still queued.
- Automatic-reply records (reply_log) whose window and last reply are older than
  ``reply_log_retention``.
- Daily send counts of pools (pool_send_count) older than a week.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.store.models import Interaction, Pool, PoolSendCount, ReplyLog, Session
from numproxy.router.store.states import MessageStatus, SessionStatus

SEND_COUNT_DAYS = 7


async def redact_closed_sessions(conn: AsyncConnection, now: datetime, limit: int) -> int:
    """Empty the message text of up to ``limit`` closed sessions past their pool's message
    retention; how many sessions."""
    pools = (await conn.execute(select(Pool.id, Pool.message_retention_seconds))).all()
    done = 0
    for pool_id, retention in pools:
        if done >= limit:
            break
        due = (
            select(Session.id)
            .where(
                Session.pool_id == pool_id,
                Session.status == SessionStatus.CLOSED,
                Session.redacted_at.is_(None),
                Session.closed_at < now - timedelta(seconds=retention),
            )
            .order_by(Session.closed_at)
            .limit(limit - done)
        )
        ids = list((await conn.execute(due)).scalars())
        if not ids:
            continue
        await conn.execute(
            update(Interaction)
            .where(Interaction.session_id.in_(ids), Interaction.redacted_at.is_(None))
            .values(text="", redacted_at=now, updated_at=now)
        )
        await conn.execute(update(Session).where(Session.id.in_(ids)).values(redacted_at=now))
        done += len(ids)
    return done


async def prune_sessionless(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` settled replies recorded without a session before ``cutoff``."""
    due = (
        select(Interaction.id)
        .where(
            Interaction.session_id.is_(None),
            Interaction.created_at < cutoff,
            Interaction.status != MessageStatus.QUEUED,
        )
        .limit(limit)
    )
    result = await conn.execute(delete(Interaction).where(Interaction.id.in_(due)))
    return int(result.rowcount or 0)


async def prune_reply_log(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` automatic-reply records whose window started, and whose last
    timed reply went, before ``cutoff``."""
    due = select(ReplyLog.sender_number, ReplyLog.proxy_number).where(
        ReplyLog.window_started_at < cutoff,
        or_(ReplyLog.last_reply_at.is_(None), ReplyLog.last_reply_at < cutoff),
    )
    result = await conn.execute(
        delete(ReplyLog).where(
            tuple_(ReplyLog.sender_number, ReplyLog.proxy_number).in_(due.limit(limit))
        )
    )
    return int(result.rowcount or 0)


async def prune_send_counts(conn: AsyncConnection, now: datetime) -> int:
    """Delete the pools' daily send counts of days more than a week ago."""
    oldest = (now - timedelta(days=SEND_COUNT_DAYS)).date().isoformat()
    result = await conn.execute(delete(PoolSendCount).where(PoolSendCount.day < oldest))
    return int(result.rowcount or 0)
