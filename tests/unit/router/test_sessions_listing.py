"""ListSessions and ListInteractions: filters and pagination (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import InvalidArgument, NotFound
from numproxy.router.sessions.pagination import MAX_PAGE_SIZE
from tests.support.router_inbound import make_router, sms
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    US3,
    make_domain,
    make_pool,
    pair,
    proxy_of,
    record_activity,
)


async def test_pages_through_sessions_in_creation_order(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    created = []
    for i in range(7):
        session = await d.sessions.create_session(pair(f"+1555050{i:04d}", f"+1555080{i:04d}"))
        created.append(session)
        if i % 3 == 2:
            d.clock.advance(1)  # the others share a creation time: the id breaks the tie
    expected = [s.id for s in sorted(created, key=lambda s: (s.created_at, s.id))]

    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await d.sessions.list_sessions(size=2, token=token)
        assert len(page.items) <= 2
        seen += [s.id for s in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


async def test_filters_by_participant_status_and_pool(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    await make_pool(d, [US3], "other")
    ab = await d.sessions.create_session(pair(ALICE, BOB))
    ac = await d.sessions.create_session(pair(ALICE, CAROL, ttl=timedelta(minutes=1)))
    cd = await d.sessions.create_session(pair(CAROL, DAVE, pool="pools/other"))
    await record_activity(engine, ab.id, d.clock)
    d.clock.advance(120)

    async def ids(**filters: str) -> set[str]:
        return {s.id for s in (await d.sessions.list_sessions(**filters)).items}  # type: ignore[arg-type]

    assert await ids(participant_number="+1 555 010 0001") == {ab.id, ac.id}
    assert await ids(participant_number=CAROL) == {ac.id, cd.id}
    assert await ids(status="IN_PROGRESS") == {ab.id}
    assert await ids(status="OPEN") == {cd.id}
    assert await ids(status="CLOSED") == {ac.id}
    assert await ids(pool="other") == {cd.id}
    assert await ids(pool="pools/default", participant_number=CAROL) == {ac.id}
    assert await ids(participant_number="+15559999999") == set()


async def test_list_session_bad_input(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    cases = [
        ({"size": -1}, "INVALID_PAGE_SIZE"),
        ({"token": "garbage!"}, "INVALID_PAGE_TOKEN"),
        ({"participant_number": "abc"}, "INVALID_NUMBER"),
        ({"status": "DONE"}, "INVALID_STATUS"),
        ({"pool": "Not Valid"}, "INVALID_POOL_ID"),
    ]
    for kwargs, reason in cases:
        with pytest.raises(InvalidArgument) as invalid:
            await d.sessions.list_sessions(**kwargs)  # type: ignore[arg-type]
        assert invalid.value.reason == reason
    with pytest.raises(NotFound):
        await d.sessions.list_sessions(pool="missing")


async def test_a_page_token_only_fits_its_own_query(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    for other in (BOB, CAROL):
        await d.sessions.create_session(pair(ALICE, other))
    page = await d.sessions.list_sessions(size=1, participant_number=ALICE)
    assert page.next_page_token
    with pytest.raises(InvalidArgument) as mismatch:
        await d.sessions.list_sessions(size=1, token=page.next_page_token, participant_number=BOB)
    assert mismatch.value.reason == "INVALID_PAGE_TOKEN"


async def test_page_size_defaults_and_caps(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    for i in range(3):
        await d.sessions.create_session(pair(f"+1555060{i:04d}", f"+1555070{i:04d}"))
    assert len((await d.sessions.list_sessions(size=0)).items) == 3
    assert len((await d.sessions.list_sessions(size=MAX_PAGE_SIZE * 10)).items) == 3


async def test_lists_every_interaction_of_a_session(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    inbound, _ = make_router(engine, d.clock)
    await inbound.receive(sms(ALICE, proxy_of(session, ALICE), "one"))
    d.clock.advance(1)
    await inbound.receive(sms(ALICE, proxy_of(session, ALICE), "two"))
    await inbound.receive(sms(BOB, proxy_of(session, BOB), "three"))

    everything = []
    token = ""
    while True:
        page = await d.sessions.list_interactions(f"sessions/{session.id}", 4, token)
        everything += page.items
        token = page.next_page_token
        if not token:
            break
    summary = [(i.direction, i.sender_number, i.recipient_number, i.text) for i in everything]
    # The order is the promise: each inbound before the copies it caused, in arrival order
    # ("two" and "three" share a timestamp: the time-ordered ids decide).
    assert summary == [
        ("INBOUND", ALICE, "", "one"),
        ("OUTBOUND", ALICE, BOB, "one"),
        ("INBOUND", ALICE, "", "two"),
        ("OUTBOUND", ALICE, BOB, "two"),
        ("INBOUND", BOB, "", "three"),
        ("OUTBOUND", BOB, ALICE, "three"),
    ]
    outbound = [i for i in everything if i.direction == "OUTBOUND"]
    assert {i.status for i in outbound} == {"QUEUED"}
    assert {(i.recipient_number, i.proxy_number) for i in outbound} == {
        (BOB, proxy_of(session, BOB)),
        (ALICE, proxy_of(session, ALICE)),
    }
    with pytest.raises(InvalidArgument):
        await d.sessions.list_interactions("sessions/x")
