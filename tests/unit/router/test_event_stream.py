"""Reading the event stream: cursor order, resuming, filters, checks, the feed's wake-ups and
retention (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import FailedPrecondition, InvalidArgument, NotFound
from numproxy.router.events.feed import EventFeed
from numproxy.router.events.stream import WATCH_PAGE, EventQuery, Events
from numproxy.router.inbound.housekeeping import InboundHousekeeping
from numproxy.router.sessions.pools import Pools
from numproxy.router.sessions.sessions import Sessions
from numproxy.router.settings import RouterSettings
from numproxy.router.store import events as store_events
from numproxy.router.store import rows
from numproxy.router.store.dialect import READ_ONLY, session_factory
from numproxy.router.store.events import StoredEvent
from numproxy.router.store.states import EventType
from tests.support.events import written
from tests.support.router_inbound import START, FakeClock, make_router
from tests.support.router_sessions import ALICE, BOB, CAROL, US1, US2, US3, make_pool, pair

STEP = 5.0  # seconds a watcher may take to see an event (it takes milliseconds)


async def newest(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        return await store_events.newest(conn)


class World:
    """The domain wired as the router wires it: writers tell the feed after each commit."""

    def __init__(self, engine: AsyncEngine, poll_interval: float = 3600.0) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.feed = EventFeed(lambda: newest(engine), poll_interval)
        factory = session_factory(engine)
        self.pools = Pools(factory, self.clock, on_events=self.feed.notify)
        self.sessions = Sessions(factory, self.clock, on_events=self.feed.notify)
        self.events = Events(engine, self.feed)

    async def watch(self, query: EventQuery) -> AsyncIterator[StoredEvent]:
        """The watch's events one by one (it yields each read's events together)."""
        pages = self.events.watch(query)
        try:
            async for found in pages:
                assert 0 < len(found) <= WATCH_PAGE
                for event in found:
                    yield event
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    async def all(self, query: EventQuery | None = None, size: int = 0) -> list[StoredEvent]:
        """Every event ListEvents pages through for ``query``."""
        found: list[StoredEvent] = []
        token = ""
        while True:
            page = await self.events.list_events(query or EventQuery(), size, token)
            found += page.items
            token = page.next_page_token
            if not token:
                return found


async def append(engine: AsyncEngine, count: int, **fields: object) -> None:
    """``count`` events written straight to the table, one transaction."""
    async with engine.begin() as conn:
        await store_events.append(
            conn,
            [rows.event(type=EventType.SESSION_UPDATED, now=START, **fields) for _ in range(count)],
        )


async def take(stream: AsyncIterator[StoredEvent], count: int) -> list[StoredEvent]:
    return [await asyncio.wait_for(anext(stream), STEP) for _ in range(count)]


def cursors(found: Sequence[Any]) -> list[int]:
    return [event.seq for event in found]


async def test_cursors_increase_and_list_pages_through_every_event_once(
    engine: AsyncEngine,
) -> None:
    w = World(engine)
    await make_pool(w, [US1, US2])
    for other in (BOB, CAROL):
        await w.sessions.create_session(pair(ALICE, other))

    listed = await w.all(size=1)

    stored = await written(engine)
    assert cursors(listed) == [e.seq for e in stored]
    assert cursors(listed) == sorted(set(cursors(listed)))
    assert [e.type for e in listed] == ["SESSION_CREATED", "SESSION_CREATED"]
    assert all(e.pool_name == "default" for e in listed)
    after_first = await w.all(EventQuery(after_cursor=listed[0].seq))
    assert cursors(after_first) == cursors(listed)[1:]


async def test_filters_by_pool_session_and_type(engine: AsyncEngine) -> None:
    w = World(engine)
    await make_pool(w, [US1, US2])
    await make_pool(w, [US3], pool_id="other")
    first = await w.sessions.create_session(pair(ALICE, BOB))
    second = await w.sessions.create_session(pair(ALICE, CAROL, pool="other"))
    await w.sessions.update_session(first.id, ["ttl"], ttl=timedelta(hours=1))
    await w.pools.remove_number("other", US3)

    by_pool = await w.all(EventQuery(pool="pools/other"))
    by_session = await w.all(EventQuery(session=f"sessions/{first.id}"))
    by_type = await w.all(EventQuery(types=["NUMBER_DRAINED", "SESSION_UPDATED"]))

    assert [(e.type, e.session_id) for e in by_pool] == [
        ("SESSION_CREATED", second.id),
        ("NUMBER_DRAINED", None),
    ]
    assert [e.type for e in by_session] == ["SESSION_CREATED", "SESSION_UPDATED"]
    assert [e.type for e in by_type] == ["SESSION_UPDATED", "NUMBER_DRAINED"]


@pytest.mark.parametrize(
    ("query", "error", "reason"),
    [
        (EventQuery(after_cursor=-1), InvalidArgument, "INVALID_CURSOR"),
        (EventQuery(after_cursor=10**6), InvalidArgument, "CURSOR_FROM_FUTURE"),
        (EventQuery(pool="pools/nowhere"), NotFound, "POOL_NOT_FOUND"),
        (EventQuery(pool="Not A Pool"), InvalidArgument, "INVALID_POOL_ID"),
        (EventQuery(session="sessions/42"), InvalidArgument, "INVALID_NAME"),
        (EventQuery(types=["UNSPECIFIED"]), InvalidArgument, "INVALID_EVENT_TYPE"),
        (
            EventQuery(types=["SESSION_CREATED"] * (len(EventType) + 1)),
            InvalidArgument,
            "INVALID_EVENT_TYPE",
        ),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    engine: AsyncEngine, query: EventQuery, error: type[Exception], reason: str
) -> None:
    w = World(engine)
    await append(engine, 3)

    with pytest.raises(error) as listed:
        await w.events.list_events(query)
    with pytest.raises(error) as watched:
        await anext(w.watch(query))

    assert getattr(listed.value, "reason", None) == reason
    assert getattr(watched.value, "reason", None) == reason


async def test_a_page_token_of_another_query_is_refused(engine: AsyncEngine) -> None:
    w = World(engine)
    await append(engine, 3)
    page = await w.events.list_events(EventQuery(), size=1)

    with pytest.raises(InvalidArgument) as refused:
        await w.events.list_events(EventQuery(types=["SESSION_UPDATED"]), 1, page.next_page_token)

    assert refused.value.reason == "INVALID_PAGE_TOKEN"


async def test_a_watcher_replays_then_follows_new_events_as_they_commit(
    engine: AsyncEngine,
) -> None:
    w = World(engine)  # the poll is an hour away: only the writers' notify can wake it
    await make_pool(w, [US1, US2])
    first = await w.sessions.create_session(pair(ALICE, BOB))
    stream = w.watch(EventQuery())
    [replayed] = await take(stream, 1)
    assert (replayed.type, replayed.session_id) == ("SESSION_CREATED", first.id)

    pending = asyncio.ensure_future(anext(stream))
    second = await w.sessions.create_session(pair(ALICE, CAROL))
    followed = await asyncio.wait_for(pending, STEP)

    assert (followed.type, followed.session_id) == ("SESSION_CREATED", second.id)
    assert followed.seq > replayed.seq
    assert w.feed.watchers == 1
    await stream.aclose()
    assert w.feed.watchers == 0


async def test_a_watcher_resuming_from_its_last_cursor_gets_every_later_event_once(
    engine: AsyncEngine,
) -> None:
    w = World(engine)
    await append(engine, WATCH_PAGE + 30)
    first = w.watch(EventQuery())
    seen = await take(first, 40)
    await first.aclose()
    await append(engine, 20)  # written while nobody watched

    resumed = w.watch(EventQuery(after_cursor=seen[-1].seq))
    seen += await take(resumed, WATCH_PAGE + 10)
    pending = asyncio.ensure_future(anext(resumed))
    await append(engine, 1)
    w.feed.notify()
    seen.append(await asyncio.wait_for(pending, STEP))
    await resumed.aclose()

    assert cursors(seen) == [e.seq for e in await written(engine)]


async def test_a_filtered_watcher_sees_only_its_events_in_order(engine: AsyncEngine) -> None:
    w = World(engine)
    await append(engine, 2 * WATCH_PAGE, session_id="00000000-0000-0000-0000-00000000000a")
    await append(engine, 3, session_id="00000000-0000-0000-0000-00000000000b")
    stream = w.watch(EventQuery(session="00000000-0000-0000-0000-00000000000b"))

    found = await take(stream, 3)

    assert [e.session_id for e in found] == ["00000000-0000-0000-0000-00000000000b"] * 3
    assert cursors(found) == sorted(cursors(found))
    await stream.aclose()


async def test_the_poll_wakes_watchers_for_commits_of_other_replicas(
    engine: AsyncEngine,
) -> None:
    w = World(engine, poll_interval=0.05)
    stream = w.watch(EventQuery())
    pending = asyncio.ensure_future(anext(stream))
    # Let the watcher find nothing and wait, so that only the poll can wake it (the test
    # holds without this pause, it would just not be about the poll).
    await asyncio.sleep(0.1)

    # Another replica's commit: this process's feed is not told.
    await append(engine, 1, reason="from replica B")
    event = await asyncio.wait_for(pending, STEP)

    assert event.reason == "from replica B"
    await stream.aclose()


async def test_retention_prunes_old_events_but_never_the_newest(engine: AsyncEngine) -> None:
    w = World(engine)
    settings = RouterSettings(event_retention=3600)
    inbound, _ = make_router(engine, w.clock, settings)
    housekeeping: InboundHousekeeping = inbound.housekeeping
    await append(engine, 5)  # at START
    w.clock.advance(1800)
    assert await housekeeping.prune_events() == 0  # not old enough yet

    w.clock.advance(3600)
    assert await housekeeping.prune_events() == 4

    [kept] = await written(engine)
    assert kept.seq == await newest(engine)
    async with engine.connect() as conn:
        bounds = await store_events.bounds(conn)
    assert bounds.pruned_through == kept.seq - 1


async def test_pruning_goes_in_cursor_order_in_bounded_batches(engine: AsyncEngine) -> None:
    await append(engine, 7)
    stored = await written(engine)

    async with engine.begin() as conn:
        assert await store_events.prune(conn, START + timedelta(seconds=1), 4) == 4
    async with engine.begin() as conn:
        assert await store_events.prune(conn, START + timedelta(seconds=1), 4) == 2

    assert cursors(await written(engine)) == [stored[-1].seq]


async def test_a_cursor_older_than_what_was_pruned_has_expired(engine: AsyncEngine) -> None:
    w = World(engine)
    await append(engine, 5)
    async with engine.begin() as conn:
        await store_events.prune(conn, START + timedelta(seconds=1), 2)
    first = cursors(await written(engine))[0]

    with pytest.raises(FailedPrecondition) as listed:
        await w.events.list_events(EventQuery(after_cursor=first - 2))
    with pytest.raises(FailedPrecondition) as watched:
        await anext(w.watch(EventQuery(after_cursor=first - 2)))
    from_start = await w.all(EventQuery(after_cursor=0))
    from_horizon = await w.all(EventQuery(after_cursor=first - 1))

    assert listed.value.reason == watched.value.reason == "CURSOR_EXPIRED"
    assert cursors(from_start) == cursors(from_horizon) == cursors(await written(engine))
