"""The event table: writing events, reading them in cursor order, pruning old ones.

Events are written in the transaction of the change they describe, as its last statements:
``append`` takes the event order lock (store/dialect.py), held until commit, so cursors are
allocated in commit order and a watcher never sees cursor N+1 before N has committed. Hence
a reader that sees the newest cursor N has every event up to N visible in the same snapshot.

Retention deletes the oldest events but never the newest one, so ``newest`` stays the
high-water mark (SQLite would otherwise hand a deleted newest cursor out again), and records
how far it deleted in ``event_horizon`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.clock import as_utc
from numproxy.router.store import dialect
from numproxy.router.store.models import Event, EventHorizon, Pool
from numproxy.router.store.rows import Row

_INSERT = insert(Event.__table__)  # type: ignore[arg-type]
_HORIZON_ID = 1
# A list in a connection's info while something observes commits (router/metrics.py): the
# events of the transaction under way, handed to the observer on commit.
COMMITTED_EVENTS = "numproxy_committed_events"


async def append(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Write ``rows`` (built by store/rows.py ``event``); call it last in the transaction."""
    if not rows:
        return
    await dialect.event_order_lock(conn)
    await conn.execute(_INSERT, list(rows))
    pending = conn.info.get(COMMITTED_EVENTS)
    if pending is not None:
        pending.extend(rows)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bounds:
    """The newest cursor (0: no events yet) and how far retention pruned (0: never)."""

    newest: int
    pruned_through: int


_BOUNDS = select(
    select(func.max(Event.seq)).scalar_subquery(),
    select(EventHorizon.pruned_through).where(EventHorizon.id == _HORIZON_ID).scalar_subquery(),
)


async def bounds(conn: AsyncConnection) -> Bounds:
    row = (await conn.execute(_BOUNDS)).one()
    return Bounds(int(row[0] or 0), int(row[1] or 0))


async def newest(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(Event.seq)))).scalar_one() or 0)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events a reader wants: by pool (its key), session, types; None/empty: all.
    ``pool_keys``: only events of these pools (a pool-limited reader)."""

    pool_key: int | None = None
    session_id: str = ""
    types: tuple[str, ...] = ()
    pool_keys: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    type: str
    pool_name: str | None
    session_id: str | None
    interaction_id: str | None
    participant: str
    proxy_number: str
    reason: str
    direction: str
    created_at: datetime


_COLUMNS = (
    select(
        Event.seq,
        Event.type,
        Pool.name,
        Event.session_id,
        Event.interaction_id,
        Event.participant,
        Event.proxy_number,
        Event.reason,
        Event.direction,
        Event.created_at,
    )
    .outerjoin(Pool, Pool.id == Event.pool_id)
    .order_by(Event.seq)
)


async def page(
    conn: AsyncConnection, after: int, through: int, wanted: Filter, limit: int
) -> list[StoredEvent]:
    """Up to ``limit`` events with ``after < cursor <= through`` matching ``wanted``, in
    cursor order."""
    query = _COLUMNS.where(Event.seq > after, Event.seq <= through).limit(limit)
    if wanted.pool_key is not None:
        query = query.where(Event.pool_id == wanted.pool_key)
    if wanted.session_id:
        query = query.where(Event.session_id == wanted.session_id)
    if wanted.types:
        query = query.where(Event.type.in_(wanted.types))
    if wanted.pool_keys is not None:
        query = query.where(Event.pool_id.in_(wanted.pool_keys))
    return [
        StoredEvent(
            seq=row.seq,
            type=row.type,
            pool_name=row.name,
            session_id=row.session_id,
            interaction_id=row.interaction_id,
            participant=row.participant,
            proxy_number=row.proxy_number,
            reason=row.reason,
            direction=row.direction,
            created_at=as_utc(row.created_at),
        )
        for row in await conn.execute(query)
    ]


# --- retention ------------------------------------------------------------------------------


async def prune(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest events created before ``cutoff`` (never the newest
    one), in cursor order up to the first younger one; how many. The horizon row is locked
    first, so replicas pruning at once take turns."""
    horizon = (
        await conn.execute(
            select(EventHorizon.pruned_through)
            .where(EventHorizon.id == _HORIZON_ID)
            .with_for_update()
        )
    ).scalar_one()
    top = await newest(conn)
    candidates = await conn.execute(
        select(Event.seq, Event.created_at)
        .where(Event.seq > horizon, Event.seq < top)
        .order_by(Event.seq)
        .limit(limit)
    )
    through = horizon
    for seq, created_at in candidates:
        if as_utc(created_at) >= cutoff:
            break
        through = seq
    if through == horizon:
        return 0
    deleted = await conn.execute(delete(Event).where(Event.seq > horizon, Event.seq <= through))
    await conn.execute(
        update(EventHorizon).where(EventHorizon.id == _HORIZON_ID).values(pruned_through=through)
    )
    return int(deleted.rowcount or 0)
