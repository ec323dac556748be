"""Reading the event stream: ListEvents pages and WatchEvents streams, with their checks.

A cursor is an event's position: strictly increasing in commit order (store/events.py). A
reader resuming after cursor C gets every later event, in order, once. Cursor 0 means "from
the oldest retained event"; a cursor below what retention pruned is CURSOR_EXPIRED (events
after it are gone: the reader must re-sync), one above the newest event CURSOR_FROM_FUTURE.

A watch reads a bounded page at a time, and the next only once the stream has taken the
previous one (gRPC's flow control holds a slow consumer back): nothing is buffered without
bound. Each read is one snapshot: the newest cursor N, then the page up to N; with nothing
more to read, the watcher has seen everything up to N (even events its filter skipped) and
waits for the feed (events/feed.py). The stream ends when the router shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import FailedPrecondition, InvalidArgument, NotFound
from numproxy.router.clock import Clock, as_utc
from numproxy.router.events.feed import EventFeed
from numproxy.router.metrics import RouterMetrics
from numproxy.router.sessions import names
from numproxy.router.sessions.pagination import Page, decode_token, page_size, paginate
from numproxy.router.store import events
from numproxy.router.store.dialect import READ_ONLY, snapshot_reads
from numproxy.router.store.events import Filter, StoredEvent
from numproxy.router.store.models import Pool
from numproxy.router.store.states import EventType

# Events read at once by a watcher (its memory bound, with gRPC's own send buffer).
WATCH_PAGE = 100
# After a wake-up a watcher waits this long (seconds) before it reads, so the commits that land
# together (inbound batches, send results, receipts) cost one read, not one each: a watcher's
# reads then cost the router little whatever the traffic, for at most this much latency.
GATHER = 0.02
EVENT_TYPES = tuple(EventType)


@dataclass(frozen=True)
class EventQuery:
    """What a ListEvents or WatchEvents request asks for, before it is checked. ``within``:
    only events of these pools (a pool-limited reader)."""

    after_cursor: int = 0
    pool: str = ""
    session: str = ""
    types: Sequence[str] = ()
    within: Collection[str] | None = None


@dataclass(frozen=True)
class _Checked:
    after: int
    pool_id: str
    session_id: str
    types: tuple[str, ...]
    within: tuple[str, ...] | None


class Events:
    def __init__(
        self,
        engine: AsyncEngine,
        feed: EventFeed,
        metrics: RouterMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._feed = feed
        # The lag of each delivered page (metrics on): its newest event's age.
        self._lag = (metrics, clock) if metrics is not None and clock is not None else None

    async def list_events(
        self, query: EventQuery, size: int = 0, token: str = ""
    ) -> Page[StoredEvent]:
        checked = _check(query)
        size = page_size(size)
        scope = ["events", checked.after, checked.pool_id, checked.session_id, *checked.types]
        if checked.within is not None:
            scope.append(list(checked.within))
        key = decode_token(token, scope)
        after = checked.after
        if key:
            if not isinstance(key[0], int):
                raise InvalidArgument(
                    "page_token is invalid",
                    reason="INVALID_PAGE_TOKEN",
                    metadata={"field": "page_token"},
                )
            after = key[0]
        wanted = await self._filter(checked)
        async with self._engine.connect() as conn:
            await conn.execution_options(**snapshot_reads(conn))
            async with conn.begin():
                bounds = await events.bounds(conn)
                after = _start(after, bounds, checked.after if not key else None)
                found = await events.page(conn, after, bounds.newest, wanted, size + 1)
        return paginate(found, size, lambda e: [e.seq], scope)

    async def watch(self, query: EventQuery) -> AsyncIterator[list[StoredEvent]]:
        """Every event after the cursor, then each new one, until the caller stops: each
        read's events together (one to a page), in cursor order."""
        checked = _check(query)
        wanted = await self._filter(checked)
        position = checked.after
        requested: int | None = checked.after
        async with self._feed.watching():
            while not self._feed.stopped:
                generation = self._feed.generation
                async with self._engine.connect() as conn:
                    await conn.execution_options(**snapshot_reads(conn))
                    async with conn.begin():
                        bounds = await events.bounds(conn)
                        position = _start(position, bounds, requested)
                        found = await events.page(conn, position, bounds.newest, wanted, WATCH_PAGE)
                requested = None
                full = len(found) == WATCH_PAGE
                if found:
                    if self._lag is not None:
                        metrics, clock = self._lag
                        age = clock.now() - as_utc(found[-1].created_at)
                        metrics.event_lag.observe(max(0.0, age.total_seconds()))
                    yield found
                # A short page means everything up to the newest cursor was read.
                position = found[-1].seq if full else max(position, bounds.newest)
                if not full:
                    await self._feed.wait(generation)
                    await asyncio.sleep(GATHER)

    async def _filter(self, checked: _Checked) -> Filter:
        pool_key: int | None = None
        pool_keys: tuple[int, ...] | None = None
        if checked.pool_id or checked.within is not None:
            async with self._engine.connect() as conn:
                await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    if checked.pool_id:
                        pool_key = (
                            await conn.execute(select(Pool.id).where(Pool.name == checked.pool_id))
                        ).scalar()
                    if checked.within is not None:
                        found = await conn.execute(
                            select(Pool.id).where(Pool.name.in_(checked.within))
                        )
                        pool_keys = tuple(found.scalars())
            if checked.pool_id and pool_key is None:
                raise NotFound(
                    f"pool {checked.pool_id!r} does not exist",
                    reason="POOL_NOT_FOUND",
                    metadata={"pool": names.pool_name(checked.pool_id)},
                )
        return Filter(pool_key, checked.session_id, checked.types, pool_keys)


def _check(query: EventQuery) -> _Checked:
    if query.after_cursor < 0:
        raise InvalidArgument(
            f"after_cursor must not be negative, got {query.after_cursor}",
            reason="INVALID_CURSOR",
            metadata={"field": "after_cursor"},
        )
    if len(query.types) > len(EVENT_TYPES):
        raise InvalidArgument(
            f"at most {len(EVENT_TYPES)} types",
            reason="INVALID_EVENT_TYPE",
            metadata={"field": "types"},
        )
    for kind in query.types:
        if kind not in EVENT_TYPES:
            raise InvalidArgument(
                f"unknown event type {kind[:80]!r}",
                reason="INVALID_EVENT_TYPE",
                metadata={"field": "types"},
            )
    return _Checked(
        after=query.after_cursor,
        pool_id=names.pool_id(query.pool) if query.pool else "",
        session_id=names.session_id(query.session, field="session") if query.session else "",
        types=tuple(sorted(set(query.types))),
        within=tuple(sorted(query.within)) if query.within is not None else None,
    )


def _start(position: int, bounds: events.Bounds, requested: int | None) -> int:
    """Where reading resumes: ``position``, checked against what is stored. ``requested``:
    the caller's own cursor on a first read (checked against the newest too), else None."""
    if requested is not None and requested > bounds.newest:
        raise InvalidArgument(
            f"after_cursor {requested} is beyond the newest event ({bounds.newest})",
            reason="CURSOR_FROM_FUTURE",
            metadata={"field": "after_cursor", "newest_cursor": str(bounds.newest)},
        )
    if requested == 0:
        return max(position, bounds.pruned_through)
    if position < bounds.pruned_through:
        raise FailedPrecondition(
            f"events after cursor {position} were pruned (retention); read from cursor 0 "
            "again, or from the state the other APIs give, and watch from there",
            reason="CURSOR_EXPIRED",
            metadata={
                "cursor": str(position),
                "pruned_through": str(bounds.pruned_through),
            },
        )
    return position
