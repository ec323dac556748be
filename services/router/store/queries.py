"""The router's SQL: every statement of the inbound pipeline, the outbox and housekeeping.

All run on a Core connection inside the caller's transaction, a constant number per batch
(not per message). Statements built once at import are compiled once and then served from
SQLAlchemy's statement cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Executable,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from numproxy.router.clock import as_utc
from numproxy.router.store import dialect
from numproxy.router.store.expiry import NOT_CLOSED
from numproxy.router.store.models import (
    HookDecision,
    InboundMessage,
    Interaction,
    MessagePart,
    OptOut,
    Participant,
    Pool,
    ProxyNumber,
    ReplyLog,
    Session,
)
from numproxy.router.store.rows import Row
from numproxy.router.store.states import (
    Direction,
    FailureReason,
    MessageStatus,
    SessionStatus,
)

Pair = tuple[str, str]
GroupKey = tuple[str, str, str]  # (sender, proxy number, concat-ref)

_INBOUND_MESSAGE = InboundMessage.__table__
_MESSAGE_PART = MessagePart.__table__
_OPT_OUT = OptOut.__table__
_REPLY_LOG = ReplyLog.__table__
_HOOK_DECISION = HookDecision.__table__


# --- dedupe ---------------------------------------------------------------------------------


async def insert_message_ids(conn: AsyncConnection, rows: Sequence[Row]) -> set[Pair]:
    """Insert provider message ids; the (api_key, message_id) keys that were new. Sorted, so
    concurrent batches holding the same ids wait on each other in one order."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: (r["api_key"], r["message_id"]))
    statement = dialect.insert_ignoring_conflicts(_INBOUND_MESSAGE, conn).returning(  # type: ignore[arg-type]
        _INBOUND_MESSAGE.c.api_key, _INBOUND_MESSAGE.c.message_id
    )
    return {(row[0], row[1]) for row in await conn.execute(statement, ordered)}


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveRow:
    """A session found for (sender, proxy number), with one other participant (or none), and
    what the pipeline needs of the sender and the pool in a live session."""

    sender: str
    proxy: str
    session_id: str
    pool_id: int
    status: str
    ttl_seconds: int
    expires_at: datetime | None
    idle_expires_at: datetime | None
    sender_display_name: str
    end_command: str
    prefix_display_name: bool
    partner: str | None
    partner_proxy: str | None
    # The session's request_id (hooks: which message opened it), its pool and the pool's hook
    # columns (store/models.py Pool), for pool_hooks().
    request_id: str | None
    pool_name: str
    hook_address: str
    hook_deadline_ms: int
    hook_failure_mode: str
    hook_resolve: bool
    hook_intercept: bool
    # The session's message rate window (inbound/session_rate.py) and the pool's daily send
    # budget (0: none).
    rate_window_started_at: datetime | None
    rate_window_messages: int
    daily_send_budget: int
    # Whether the partner opted out of its proxy number (a session older than the rule that
    # no such pair is allocated): its copy is left to the dispatcher's claim, which refuses it.
    partner_opted_out: bool


# The pool's name and hook settings, read with the session lookup and the pool policy so the
# hook stage (router/hooks/stage.py) needs no query of its own.
_HOOK_COLUMNS = (
    Pool.name,
    Pool.hook_address,
    Pool.hook_deadline_ms,
    Pool.hook_failure_mode,
    Pool.hook_resolve,
    Pool.hook_intercept,
)


@dataclass(frozen=True, slots=True)
class PoolHooks:
    """A pool's hooks, for pools that call one (pool_hooks() is None for the others)."""

    pool_name: str
    address: str
    deadline_ms: int
    failure_mode: str
    resolve: bool
    intercept: bool


def pool_hooks(
    pool_name: str,
    address: str,
    deadline_ms: int,
    failure_mode: str,
    resolve: bool,
    intercept: bool,
) -> PoolHooks | None:
    """The hooks of a pool from its columns; None when it calls none (the busy path)."""
    if not address or not (resolve or intercept):
        return None
    return PoolHooks(pool_name, address, deadline_ms, failure_mode, resolve, intercept)


def _live_query() -> Executable:
    author = aliased(Participant)
    author_number = aliased(ProxyNumber)
    other = aliased(Participant)
    other_number = aliased(ProxyNumber)
    return (
        select(
            author.number,
            author_number.number,
            Session.id,
            Session.pool_id,
            Session.status,
            Session.ttl_seconds,
            Session.expires_at,
            Session.idle_expires_at,
            author.display_name,
            Pool.end_command,
            Pool.prefix_display_name,
            other.number,
            other_number.number,
            Session.request_id,
            *_HOOK_COLUMNS,
            Session.rate_window_started_at,
            Session.rate_window_messages,
            Pool.daily_send_budget,
            select(OptOut.number)
            .where(OptOut.number == other.number, OptOut.proxy_number == other_number.number)
            .exists(),
        )
        .select_from(author)
        .join(author_number, author.proxy_number_id == author_number.id)
        .join(Session, Session.id == author.session_id)
        .join(Pool, Pool.id == Session.pool_id)
        .outerjoin(
            other,
            and_(other.session_id == Session.id, other.id != author.id, other.active.is_(True)),
        )
        .outerjoin(other_number, other.proxy_number_id == other_number.id)
        .where(
            author.active.is_(True),
            NOT_CLOSED,
            author.number.in_(bindparam("senders", expanding=True)),
            tuple_(author.number, author_number.number).in_(bindparam("pairs", expanding=True)),
        )
        .order_by(Session.id, other.position)
        # Locked in id order, so concurrent batches cannot deadlock on each other; NO KEY
        # UPDATE: the interactions inserted next only need the key to stay.
        .with_for_update(of=Session, key_share=True)
    )


_LIVE = _live_query()


async def find_sessions(conn: AsyncConnection, pairs: Iterable[Pair]) -> list[LiveRow]:
    """The unclosed session of each (sender, proxy number) texted, rows locked (PostgreSQL).
    By the core rule there is at most one per pair; expiry is the caller's to judge."""
    wanted = sorted(set(pairs))
    if not wanted:
        return []
    rows = await conn.execute(
        _LIVE, {"senders": sorted({sender for sender, _ in wanted}), "pairs": wanted}
    )
    return [LiveRow(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Activity:
    """An interaction happened in a session: IN_PROGRESS, and the idle TTL counts from now."""

    session_id: str
    status: str
    ttl_seconds: int
    # The session's message rate window after this batch (None: left as it is).
    rate_window_started_at: datetime | None = None
    rate_window_messages: int = 0


def activity_values(status: str, ttl_seconds: int, now: datetime) -> dict[str, Any]:
    return {
        "status": SessionStatus.IN_PROGRESS if status == SessionStatus.OPEN else status,
        "last_interaction_at": now,
        "updated_at": now,
        "idle_expires_at": now + timedelta(seconds=ttl_seconds) if ttl_seconds > 0 else None,
    }


_ACTIVITY = (
    update(Session)
    .where(Session.id == bindparam("b_id"), NOT_CLOSED)
    .values(
        status=bindparam("b_status"),
        last_interaction_at=bindparam("b_last"),
        updated_at=bindparam("b_updated"),
        idle_expires_at=bindparam("b_idle"),
        rate_window_started_at=func.coalesce(
            bindparam("b_rate_start", type_=Session.rate_window_started_at.type),
            Session.rate_window_started_at,
        ),
        rate_window_messages=case(
            (
                bindparam("b_rate_start", type_=Session.rate_window_started_at.type).is_(None),
                Session.rate_window_messages,
            ),
            else_=bindparam("b_rate_messages"),
        ),
    )
)


async def record_activity(
    conn: AsyncConnection, sessions: Sequence[Activity], now: datetime
) -> None:
    if not sessions:
        return
    params = []
    for session in sessions:
        values = activity_values(session.status, session.ttl_seconds, now)
        params.append(
            {
                "b_id": session.session_id,
                "b_status": values["status"],
                "b_last": values["last_interaction_at"],
                "b_updated": values["updated_at"],
                "b_idle": values["idle_expires_at"],
                "b_rate_start": session.rate_window_started_at,
                "b_rate_messages": session.rate_window_messages,
            }
        )
    await conn.execute(_ACTIVITY, params)


# --- pools, opt-outs, replies ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """What the pipeline needs of the pool owning a proxy number."""

    pool_id: int
    out_of_session_policy: str
    out_of_session_reply: str
    reply_interval_seconds: int
    hooks: PoolHooks | None = None
    daily_send_budget: int = 0


_POOLS_OF = (
    select(
        ProxyNumber.number,
        Pool.id,
        Pool.out_of_session_policy,
        Pool.out_of_session_reply,
        Pool.reply_interval_seconds,
        *_HOOK_COLUMNS,
        Pool.daily_send_budget,
    )
    .join(Pool, Pool.id == ProxyNumber.pool_id)
    .where(ProxyNumber.number.in_(bindparam("numbers", expanding=True)))
)


async def pools_of(conn: AsyncConnection, numbers: Iterable[str]) -> dict[str, PoolPolicy]:
    """The pool policy of each of ``numbers`` that is one of our proxy numbers."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = await conn.execute(_POOLS_OF, {"numbers": wanted})
    return {
        row[0]: PoolPolicy(
            row[1],
            row[2],
            row[3],
            row[4],
            pool_hooks(row[5], row[6], row[7], row[8], row[9], row[10]),
            row[11],
        )
        for row in rows
    }


async def opted_out(conn: AsyncConnection, pairs: Iterable[Pair]) -> set[Pair]:
    """Which (number, proxy number) pairs sent a stop keyword and did not start again."""
    wanted = sorted(set(pairs))
    if not wanted:
        return set()
    rows = await conn.execute(
        select(OptOut.number, OptOut.proxy_number).where(
            tuple_(OptOut.number, OptOut.proxy_number).in_(wanted)
        )
    )
    return {(row[0], row[1]) for row in rows}


async def opt_out(conn: AsyncConnection, row: Row) -> bool:
    """Record an opt-out; False when it already existed."""
    return await dialect.insert_ignore(conn, _OPT_OUT, row)  # type: ignore[arg-type]


async def opt_in(conn: AsyncConnection, number: str, proxy: str) -> bool:
    """Undo an opt-out; False when there was none."""
    result = await conn.execute(
        delete(OptOut).where(OptOut.number == number, OptOut.proxy_number == proxy)
    )
    return bool(result.rowcount)


async def claim_reply_slots(
    conn: AsyncConnection,
    rows: Sequence[Row],
    *,
    interval_cutoff: datetime,
    window_cutoff: datetime,
    budget: int,
) -> set[Pair]:
    """Charge an automatic reply to each (sender, proxy number) of ``rows`` (distinct pairs)
    unless the last timed one went there after ``interval_cutoff`` or its budget window
    (started after ``window_cutoff``) has had ``budget`` replies; the pairs that may be
    answered now. A row without ``last_reply_at`` (store/rows.py reply_log) leaves the
    pair's last timed reply as it was.
    One statement: the row lock of the upsert makes a concurrent claim wait and then see
    this one."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: (r["sender_number"], r["proxy_number"]))
    table = _REPLY_LOG
    base = dialect.upsert(table, conn)  # type: ignore[arg-type]
    window_over = table.c.window_started_at <= window_cutoff
    statement = (
        base.values(ordered)
        .on_conflict_do_update(
            index_elements=[table.c.sender_number, table.c.proxy_number],
            set_={
                "last_reply_at": func.coalesce(base.excluded.last_reply_at, table.c.last_reply_at),
                "window_started_at": case(
                    (window_over, base.excluded.window_started_at),
                    else_=table.c.window_started_at,
                ),
                "window_replies": case((window_over, 1), else_=table.c.window_replies + 1),
            },
            where=and_(
                or_(table.c.last_reply_at.is_(None), table.c.last_reply_at <= interval_cutoff),
                or_(window_over, table.c.window_replies < budget),
            ),
        )
        .returning(table.c.sender_number, table.c.proxy_number)
    )
    return {(row[0], row[1]) for row in await conn.execute(statement)}


# --- multipart ------------------------------------------------------------------------------


@dataclass(slots=True)
class StoredPart:
    part: int
    total: int
    text: str
    received_at: datetime
    completed: bool


async def insert_parts(
    conn: AsyncConnection, rows: Sequence[Row]
) -> set[tuple[str, str, str, int]]:
    """Store parts; the (sender, proxy, concat-ref, part) keys that were new."""
    if not rows:
        return set()
    ordered = sorted(
        rows, key=lambda r: (r["sender_number"], r["proxy_number"], r["concat_ref"], r["part"])
    )
    table = _MESSAGE_PART
    statement = dialect.insert_ignoring_conflicts(table, conn).returning(  # type: ignore[arg-type]
        table.c.sender_number, table.c.proxy_number, table.c.concat_ref, table.c.part
    )
    return {(r[0], r[1], r[2], r[3]) for r in await conn.execute(statement, ordered)}


async def group_parts(
    conn: AsyncConnection, keys: Iterable[GroupKey]
) -> dict[GroupKey, dict[int, StoredPart]]:
    """Every stored part of each group, by part number."""
    wanted = sorted(set(keys))
    groups: dict[GroupKey, dict[int, StoredPart]] = {key: {} for key in wanted}
    if not wanted:
        return groups
    rows = await conn.execute(
        select(
            MessagePart.sender_number,
            MessagePart.proxy_number,
            MessagePart.concat_ref,
            MessagePart.part,
            MessagePart.total,
            MessagePart.text,
            MessagePart.received_at,
            MessagePart.completed_at,
        ).where(
            tuple_(MessagePart.sender_number, MessagePart.proxy_number, MessagePart.concat_ref).in_(
                wanted
            )
        )
    )
    for row in rows:
        groups[(row[0], row[1], row[2])][row[3]] = StoredPart(
            row[3], row[4], row[5], as_utc(row[6]), row[7] is not None
        )
    return groups


_COMPLETE_PART = (
    update(MessagePart)
    .where(
        MessagePart.sender_number == bindparam("b_sender"),
        MessagePart.proxy_number == bindparam("b_proxy"),
        MessagePart.concat_ref == bindparam("b_ref"),
        MessagePart.part == bindparam("b_part"),
    )
    .values(completed_at=bindparam("b_now"))
)


async def complete_parts(
    conn: AsyncConnection, parts: Sequence[tuple[GroupKey, int]], now: datetime
) -> None:
    """Mark parts routed (kept until the dedupe retention to absorb redeliveries)."""
    if not parts:
        return
    await conn.execute(
        _COMPLETE_PART,
        [
            {"b_sender": key[0], "b_proxy": key[1], "b_ref": key[2], "b_part": part, "b_now": now}
            for key, part in parts
        ],
    )


async def stale_groups(conn: AsyncConnection, cutoff: datetime) -> list[GroupKey]:
    """Groups with parts waiting since before ``cutoff``."""
    rows = await conn.execute(
        select(MessagePart.sender_number, MessagePart.proxy_number, MessagePart.concat_ref)
        .where(MessagePart.completed_at.is_(None))
        .group_by(MessagePart.sender_number, MessagePart.proxy_number, MessagePart.concat_ref)
        .having(func.min(MessagePart.received_at) <= cutoff)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def purge_dedupe(conn: AsyncConnection, cutoff: datetime) -> int:
    """Delete dedupe records, routed parts and hook decisions older than ``cutoff``; how many.
    (A decision lives as long as the dedupe record of its message: a retry after that is a
    new message anyway.)"""
    purged = await conn.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
    parts = await conn.execute(delete(MessagePart).where(MessagePart.completed_at <= cutoff))
    decisions = await conn.execute(delete(HookDecision).where(HookDecision.created_at < cutoff))
    return sum(int(result.rowcount or 0) for result in (purged, parts, decisions))


async def forget_messages(
    conn: AsyncConnection, ids: Sequence[Pair], parts: Sequence[tuple[str, str, str, int]]
) -> None:
    """Delete the dedupe records (api_key, message id) and stored parts (sender, proxy,
    concat-ref, part) of messages this transaction inserted and then set aside."""
    if ids:
        await conn.execute(
            delete(InboundMessage).where(
                tuple_(InboundMessage.api_key, InboundMessage.message_id).in_(list(ids))
            )
        )
    if parts:
        await conn.execute(
            delete(MessagePart).where(
                tuple_(
                    MessagePart.sender_number,
                    MessagePart.proxy_number,
                    MessagePart.concat_ref,
                    MessagePart.part,
                ).in_(list(parts))
            )
        )


# --- hook decisions -------------------------------------------------------------------------


async def hook_decision(
    conn: AsyncConnection, message_key: str, kind: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The decision recorded for (message key, hook kind), or None."""
    query = select(HookDecision.decision).where(
        HookDecision.message_key == message_key, HookDecision.kind == kind
    )
    if for_update:
        query = query.with_for_update()
    found: dict[str, Any] | None = (await conn.execute(query)).scalar_one_or_none()
    return found


async def record_hook_decision(conn: AsyncConnection, row: Row) -> bool:
    """Record a decision unless one exists for its (message key, kind); True when this one
    went in. A concurrent insert of the same key waits for the other transaction."""
    return await dialect.insert_ignore(conn, _HOOK_DECISION, row)  # type: ignore[arg-type]


async def save_hook_decision(
    conn: AsyncConnection, message_key: str, kind: str, decision: dict[str, Any]
) -> None:
    await conn.execute(
        update(HookDecision)
        .where(HookDecision.message_key == message_key, HookDecision.kind == kind)
        .values(decision=decision)
    )


# --- interactions and the outbox ------------------------------------------------------------


async def insert_interactions(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    if rows:
        await conn.execute(insert(Interaction), list(rows))


@dataclass(frozen=True, slots=True)
class Claimed:
    """What sending one outbound row needs (its id is the sender's idempotency key)."""

    id: str
    proxy_number: str
    recipient_number: str
    text: str
    # The trace the send joins (a W3C traceparent; None when tracing was off).
    trace_context: str | None = None


# The pool of the row's proxy number: one indexed lookup inside the row's own query.
_POOL_OF_PROXY = (
    select(ProxyNumber.pool_id)
    .where(ProxyNumber.number == Interaction.proxy_number)
    .correlate(Interaction)
    .scalar_subquery()
)


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row a claim took: leased to be sent (status QUEUED), or failed at once (FAILED:
    its recipient opted out), with what its events and the pool's send budget need."""

    claimed: Claimed
    status: str
    failure_reason: str
    attempts: int
    session_id: str | None
    direction: str
    pool_id: int | None
    daily_send_budget: int


# A row to a (number, proxy number) that opted out is never sent: its session's traffic not
# at all (the STOP closed that session, so this is what was queued before it), numproxy's own
# sessionless replies when queued before the opt-out (the STOP's confirmation and later
# keyword answers are queued after it, and go out).
_OPTED_OUT_ROW = (
    select(OptOut.number)
    .where(
        OptOut.number == Interaction.recipient_number,
        OptOut.proxy_number == Interaction.proxy_number,
        or_(Interaction.session_id.is_not(None), OptOut.created_at > Interaction.created_at),
    )
    .correlate(Interaction)
    .exists()
)


async def claim_due(
    conn: AsyncConnection, now: datetime, limit: int, lease_until: datetime
) -> list[ClaimedRow]:
    """Lease up to ``limit`` due outbound rows to this process, counting the attempt; rows
    to an opted-out pair are failed instead (OPTED_OUT), in the same statement."""
    due = (
        select(Interaction.id)
        .where(Interaction.status == MessageStatus.QUEUED, Interaction.next_attempt_at <= now)
        .order_by(Interaction.next_attempt_at)
        .limit(limit)
        # SKIP LOCKED: replicas share the work without sending a row twice.
        .with_for_update(skip_locked=True)
        # Materialized, so the locking LIMIT runs once (as "id IN (subquery)" PostgreSQL
        # may re-run it and, skipping its own locks, claim more rows than the limit).
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    refused = _OPTED_OUT_ROW
    claim = (
        update(Interaction)
        .where(Interaction.id == due.c.id)
        .values(
            status=case((refused, MessageStatus.FAILED), else_=Interaction.status),
            failure_reason=case(
                (refused, FailureReason.OPTED_OUT), else_=Interaction.failure_reason
            ),
            next_attempt_at=case((refused, None), else_=lease_until),
            attempts=case((refused, Interaction.attempts), else_=Interaction.attempts + 1),
            updated_at=now,
        )
        .returning(
            Interaction.id,
            Interaction.proxy_number,
            Interaction.recipient_number,
            Interaction.text,
            Interaction.status,
            Interaction.failure_reason,
            Interaction.attempts,
            Interaction.session_id,
            Interaction.direction,
            Interaction.trace_context,
        )
    )
    found = (await conn.execute(claim)).all()
    # The pools of the rows' numbers (SQLite's RETURNING cannot hold a subquery of another
    # table): one more statement per claim, not per row.
    pools = await pools_of(conn, (row[1] for row in found))
    return [
        ClaimedRow(
            Claimed(row[0], row[1], row[2], row[3], row[9]),
            status=row[4],
            failure_reason=row[5],
            attempts=row[6],
            session_id=row[7],
            direction=row[8],
            pool_id=pools[row[1]].pool_id if row[1] in pools else None,
            daily_send_budget=pools[row[1]].daily_send_budget if row[1] in pools else 0,
        )
        for row in found
    ]


async def fail_outbound(
    conn: AsyncConnection, ids: Sequence[str], reason: str, now: datetime
) -> None:
    """Fail still queued rows without sending them."""
    if ids:
        await conn.execute(
            update(Interaction)
            .where(Interaction.id.in_(list(ids)), Interaction.status == MessageStatus.QUEUED)
            .values(
                status=MessageStatus.FAILED,
                failure_reason=reason,
                next_attempt_at=None,
                updated_at=now,
            )
        )


@dataclass(slots=True)
class OutboundState:
    """The columns a send result or a delivery receipt decides on and changes."""

    id: str
    status: str
    recipient_number: str
    attempts: int
    created_at: datetime
    provider_message_ids: list[str]
    part_statuses: dict[str, Any]
    failure_reason: str
    next_attempt_at: datetime | None
    # Read only, for the events a change brings (store/rows.py event).
    session_id: str | None
    direction: str
    proxy_number: str
    pool_id: int | None
    trace_context: str | None


_OUTBOUND_COLUMNS = select(
    Interaction.id,
    Interaction.status,
    Interaction.recipient_number,
    Interaction.attempts,
    Interaction.created_at,
    Interaction.provider_message_ids,
    Interaction.part_statuses,
    Interaction.failure_reason,
    Interaction.next_attempt_at,
    Interaction.session_id,
    Interaction.direction,
    Interaction.proxy_number,
    _POOL_OF_PROXY,
    Interaction.trace_context,
).where(Interaction.direction != Direction.INBOUND)
_OUTBOUND_STATE = (
    _OUTBOUND_COLUMNS.where(Interaction.id.in_(bindparam("ids", expanding=True)))
    .order_by(Interaction.id)
    .with_for_update()
)


async def load_outbound(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, OutboundState]:
    """Outbound rows by id, locked in id order."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(_OUTBOUND_STATE, {"ids": wanted})
    return {row[0]: OutboundState(*row) for row in rows}


_SAVE_OUTBOUND = (
    update(Interaction)
    .where(Interaction.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        provider_message_ids=bindparam("b_ids"),
        part_statuses=bindparam("b_parts"),
        failure_reason=bindparam("b_reason"),
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_now"),
    )
)


async def find_outbound_by_provider_id(
    conn: AsyncConnection, message_id: str, since: datetime
) -> OutboundState | None:
    """The outbound row sent as provider message ``message_id`` (created after ``since``),
    locked: a search of the JSON lists of provider ids, for receipts without a usable
    client-ref (rare, so a bounded scan)."""
    escaped = message_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    row = (
        await conn.execute(
            _OUTBOUND_COLUMNS.where(
                Interaction.created_at >= since,
                cast(Interaction.provider_message_ids, Text).like(f'%"{escaped}"%', escape="\\"),
            )
            .limit(1)
            .with_for_update()
        )
    ).first()
    return OutboundState(*row) if row is not None else None


async def save_outbound(
    conn: AsyncConnection, states: Sequence[OutboundState], now: datetime
) -> None:
    if not states:
        return
    await conn.execute(
        _SAVE_OUTBOUND,
        [
            {
                "b_id": s.id,
                "b_status": s.status,
                "b_ids": s.provider_message_ids,
                "b_parts": s.part_statuses,
                "b_reason": s.failure_reason,
                "b_next": s.next_attempt_at,
                "b_now": now,
            }
            for s in states
        ],
    )


async def hand_back(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> None:
    """Clear the lease of still queued rows, so any replica sends them now."""
    await conn.execute(
        update(Interaction)
        .where(Interaction.id.in_(list(ids)), Interaction.status == MessageStatus.QUEUED)
        .values(next_attempt_at=now, updated_at=now)
    )
