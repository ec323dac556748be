"""numproxy.v1.EventService on a real router (in this process) through the typed client:
the stream, pages, errors with their reasons, and the end of streams at shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from numproxy.client import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    NumproxyClient,
    UnavailableError,
)
from numproxy.router.store import events as store_events
from numproxy.router.store import rows
from numproxy.router.store.dialect import create_engine
from numproxy.router.store.states import EventType
from numproxy.v1 import event_pb2, session_pb2
from tests.support.postgres import free_port
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    api_router,
    api_router_settings,
    router_channel,
)

STEP = 5.0


async def client_on(database_url: str) -> AsyncIterator[NumproxyClient]:
    async with router_channel(database_url) as channel:
        yield NumproxyClient(channel=channel)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[NumproxyClient]:
    async for one in client_on(database_url):
        yield one


async def next_event(stream: AsyncIterator[event_pb2.Event]) -> event_pb2.Event:
    return await asyncio.wait_for(anext(stream), STEP)


async def test_a_watch_replays_then_streams_each_change_as_it_commits(
    client: NumproxyClient,
) -> None:
    await client.create_pool("default")
    await client.add_numbers("default", [US1, US2])
    first = await client.create_session(ALICE, BOB, greetings=("hello Alice", ""))
    stream = client.watch_events()

    created = await next_event(stream)
    queued = await next_event(stream)
    closing = asyncio.ensure_future(client.close_session(first.name))
    closed = await next_event(stream)
    await closing
    drained = asyncio.ensure_future(client.remove_number("default", US2))
    number = await next_event(stream)
    await drained
    await stream.aclose()  # type: ignore[attr-defined]

    assert [event_pb2.EventType.Name(e.type) for e in (created, queued, closed, number)] == [
        "EVENT_TYPE_SESSION_CREATED",
        "EVENT_TYPE_OUTBOUND_QUEUED",
        "EVENT_TYPE_SESSION_CLOSED",
        "EVENT_TYPE_NUMBER_DRAINED",
    ]
    assert created.cursor < queued.cursor < closed.cursor < number.cursor
    assert (created.pool, created.session) == ("pools/default", first.name)
    assert queued.interaction.startswith(f"{first.name}/interactions/")
    assert (queued.participant_number, queued.direction) == (ALICE, session_pb2.DIRECTION_OUTBOUND)
    assert (closed.session, closed.reason) == (first.name, "API")
    assert (number.pool, number.proxy_number, number.session) == ("pools/default", US2, "")
    assert abs(created.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(
        minutes=1
    )


async def test_list_pages_and_filters(client: NumproxyClient) -> None:
    await client.create_pool("default")
    await client.add_numbers("default", [US1, US2])
    for other in (BOB, CAROL):
        await client.create_session(ALICE, other)
    await client.remove_number("default", US1)

    first = await client.list_events(page_size=2)
    rest = await client.list_events(page_size=2, page_token=first.next_page_token)
    drained = [e async for e in client.iter_events(types=["number_drained"])]
    after = [e async for e in client.iter_events(after_cursor=first.events[0].cursor)]

    cursors = [e.cursor for e in [*first.events, *rest.events]]
    assert len(cursors) == 3 and cursors == sorted(cursors)
    assert rest.next_page_token == ""
    assert [e.proxy_number for e in drained] == [US1]
    assert [e.cursor for e in after] == cursors[1:]


@pytest.mark.parametrize(
    ("request_fields", "error", "code", "reason"),
    [
        ({"after_cursor": -1}, InvalidArgumentError, "INVALID_ARGUMENT", "INVALID_CURSOR"),
        ({"after_cursor": 99}, InvalidArgumentError, "INVALID_ARGUMENT", "CURSOR_FROM_FUTURE"),
        ({"pool": "nowhere"}, NotFoundError, "NOT_FOUND", "POOL_NOT_FOUND"),
        ({"session": "not-a-uuid"}, InvalidArgumentError, "INVALID_ARGUMENT", "INVALID_NAME"),
        ({"types": [0]}, InvalidArgumentError, "INVALID_ARGUMENT", "INVALID_EVENT_TYPE"),
        ({"types": [99]}, InvalidArgumentError, "INVALID_ARGUMENT", "INVALID_EVENT_TYPE"),
    ],
)
async def test_bad_requests_answer_a_clear_reason(
    client: NumproxyClient,
    request_fields: dict[str, object],
    error: type[Exception],
    code: str,
    reason: str,
) -> None:
    await client.create_pool("default")  # no event: the stream is empty

    with pytest.raises(error) as watched:
        await next_event(client.watch_events(**request_fields))  # type: ignore[arg-type]
    with pytest.raises(error) as listed:
        await client.list_events(**request_fields)  # type: ignore[arg-type]

    for failure in (watched.value, listed.value):
        assert (failure.code.name, failure.reason) == (code, reason)  # type: ignore[attr-defined]


async def test_a_cursor_older_than_the_retention_has_expired(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            old = datetime.now(UTC) - timedelta(days=30)
            await store_events.append(
                conn, [rows.event(type=EventType.SESSION_UPDATED, now=old) for _ in range(3)]
            )
        async with engine.begin() as conn:
            await store_events.prune(conn, datetime.now(UTC) - timedelta(days=7), 100)
    finally:
        await engine.dispose()
    async for client in client_on(database_url):
        with pytest.raises(FailedPreconditionError) as watched:
            await next_event(client.watch_events(after_cursor=1))
        kept = await next_event(client.watch_events())

        assert (watched.value.code, watched.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CURSOR_EXPIRED",
        )
        assert kept.cursor == 3  # the newest is never pruned; cursor 0 starts after the horizon


async def test_streams_end_when_the_router_shuts_down(
    database_url: str,
) -> None:
    settings = api_router_settings(database_url, shutdown_grace=30.0)
    router = api_router(settings, anonymous="admin")
    address = await router.__aenter__()
    async with NumproxyClient(address) as client:
        await client.create_pool("default")
        await client.add_numbers("default", [US1, US2])
        session = await client.create_session(ALICE, BOB)
        stream = client.watch_events()
        [created] = [await next_event(stream)]
        ended = asyncio.ensure_future(anext(stream, None))
        started = time.monotonic()
        await router.__aexit__(None, None, None)

        # The stream ended as the router stopped: it did not wait out its 30 s grace.
        assert await asyncio.wait_for(ended, STEP) is None
        assert time.monotonic() - started < 10
    assert created.session == session.name


async def test_the_stream_and_pages_answer_unavailable_while_the_database_is_down() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
    async for client in client_on(url):
        with pytest.raises(UnavailableError) as watched:
            await next_event(client.watch_events())
        with pytest.raises(UnavailableError) as listed:
            await client.list_events()

        assert watched.value.reason == listed.value.reason == "DATABASE_UNAVAILABLE"
