"""Choosing proxy numbers (the core rule, docs/concepts.md) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import InvalidArgument, PoolExhausted
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import OptOut, Participant, ProxyNumber
from tests.support.router_inbound import START
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    UK1,
    UK_ERIN,
    US1,
    US2,
    US3,
    make_domain,
    make_pool,
    pair,
    proxy_of,
)


async def _usage(engine: AsyncEngine) -> dict[str, int]:
    async with session_factory(engine)() as db:
        rows = await db.execute(select(ProxyNumber.number, ProxyNumber.active_participants))
        return {number: count for number, count in rows}


async def test_a_user_holds_one_session_per_pool_number(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2, US3])
    sessions = [await d.sessions.create_session(pair(ALICE, other)) for other in (BOB, CAROL, DAVE)]
    assert sorted(proxy_of(s, ALICE) for s in sessions) == [US1, US2, US3]

    with pytest.raises(PoolExhausted) as exhausted:
        await d.sessions.create_session(pair(ALICE, "+15550100099"))
    error = exhausted.value
    assert error.reason == "POOL_EXHAUSTED"
    assert error.metadata == {
        "pool": "pools/default",
        "participant": "+1***01",
        "participant_index": "0",
    }
    # The error names the participant only masked, and never the other one.
    assert ALICE not in error.message and "+15550100099" not in error.message


async def test_pairs_of_other_users_are_unlimited(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    users = [f"+1555020{i:04d}" for i in range(10)]
    for a, b in zip(users[::2], users[1::2], strict=True):
        session = await d.sessions.create_session(pair(a, b))
        # One number in the pool: both share it, which the rule allows (different real numbers).
        assert {p.proxy_number for p in session.participants} == {US1}
    assert await _usage(engine) == {US1: 10}


async def test_prefers_distinct_numbers_for_the_two_participants(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    assert proxy_of(session, ALICE) != proxy_of(session, BOB)


async def test_prefers_the_participants_country(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, UK1])
    # Load the UK number so "least used" alone would choose the US one.
    await d.sessions.create_session(pair("+447700900001", "+447700900002"))
    session = await d.sessions.create_session(pair(UK_ERIN, ALICE))
    assert proxy_of(session, UK_ERIN) == UK1
    assert proxy_of(session, ALICE) == US1


async def test_without_a_number_in_the_country_the_least_used_one(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2, US3])
    await d.sessions.create_session(pair(BOB, CAROL))  # US1 and US2 now carry one each
    session = await d.sessions.create_session(pair(UK_ERIN, "+447700900009"))
    assert proxy_of(session, UK_ERIN) == US3
    # The other participant: least used too, but not the number the first one just got.
    assert proxy_of(session, "+447700900009") == US1
    assert await _usage(engine) == {US1: 2, US2: 1, US3: 1}


async def test_numbers_a_participant_opted_out_of_come_last(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    async with session_factory(engine)() as db, db.begin():
        db.add(OptOut(number=ALICE, proxy_number=US1, created_at=START))
    session = await d.sessions.create_session(pair(ALICE, BOB))
    assert proxy_of(session, ALICE) == US2


async def test_closing_a_session_frees_its_numbers(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    first = await d.sessions.create_session(pair(ALICE, BOB))
    with pytest.raises(PoolExhausted):
        await d.sessions.create_session(pair(ALICE, CAROL))
    await d.sessions.update_session(first.id, ["status"], status="CLOSED")
    second = await d.sessions.create_session(pair(ALICE, CAROL))
    assert proxy_of(second, ALICE) == US1
    assert await _usage(engine) == {US1: 2}


async def test_an_expired_session_frees_its_number_before_any_sweep(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    first = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=10)))
    d.clock.advance(600)
    second = await d.sessions.create_session(pair(ALICE, CAROL))
    assert proxy_of(second, ALICE) == US1
    closed = await d.sessions.get_session(first.id)
    assert (closed.status, closed.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert closed.closed_at == START + timedelta(minutes=10)


async def test_same_number_twice_is_invalid(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    with pytest.raises(InvalidArgument) as same:
        await d.sessions.create_session(pair(ALICE, "15550100001"))
    assert same.value.reason == "SAME_PARTICIPANT_NUMBER"


async def test_usage_counts_follow_participants_whatever_changes_them(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    a = await d.sessions.create_session(pair(ALICE, BOB))
    b = await d.sessions.create_session(pair(ALICE, CAROL))
    assert await _usage(engine) == {US1: 2, US2: 2}

    await d.sessions.update_session(a.id, ["status"], status="CLOSED")
    assert sum((await _usage(engine)).values()) == 2
    await d.sessions.delete_session(b.id)
    assert await _usage(engine) == {US1: 0, US2: 0}

    # Maintained by the database: a bulk UPDATE outside the domain code is counted too.
    c = await d.sessions.create_session(pair(ALICE, DAVE))
    async with session_factory(engine)() as db, db.begin():
        await db.execute(
            update(Participant).where(Participant.session_id == c.id).values(active=False)
        )
    assert await _usage(engine) == {US1: 0, US2: 0}
