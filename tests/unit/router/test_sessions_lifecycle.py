"""Session lifecycle with a fake clock: idle TTL, absolute expiry, lookups before any sweep,
the sweeper, UpdateSession and DeleteSession (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import FailedPrecondition, InvalidArgument, NotFound
from numproxy.router.inbound.message import Outcome
from numproxy.router.sessions.sweeper import Sweeper
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import Interaction, Participant, Session
from tests.support.router_inbound import START, eventually, make_router, sms
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    make_domain,
    make_pool,
    pair,
    proxy_of,
    record_activity,
    stored_status,
)

MINUTE = 60
DAY = timedelta(days=1)


async def test_idle_ttl_counts_from_the_last_interaction(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=10)))
    inbound, _ = make_router(engine, d.clock)

    d.clock.advance(8 * MINUTE)
    result = await inbound.receive(sms(ALICE, proxy_of(session, ALICE), "still there?"))
    assert result.outcome is Outcome.FORWARDED
    d.clock.advance(8 * MINUTE)  # 16 minutes after creation, 8 after the last message
    live = await d.sessions.get_session(session.id)
    assert live.status == "IN_PROGRESS"
    assert live.last_interaction_at == START + timedelta(minutes=8)

    d.clock.advance(2 * MINUTE)
    closed = await d.sessions.get_session(session.id)
    assert (closed.status, closed.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert closed.closed_at == START + timedelta(minutes=18)


async def test_absolute_expiry_is_not_extended_by_activity(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(
        pair(ALICE, BOB, ttl=timedelta(hours=1), expire_time=START + timedelta(minutes=30))
    )
    d.clock.advance(29 * MINUTE)
    await record_activity(engine, session.id, d.clock)
    assert (await d.sessions.get_session(session.id)).status == "IN_PROGRESS"
    d.clock.advance(MINUTE)
    closed = await d.sessions.get_session(session.id)
    assert (closed.status, closed.closed_reason) == ("CLOSED", "EXPIRED")
    assert closed.closed_at == START + timedelta(minutes=30)


async def test_lookups_treat_expired_sessions_as_closed_before_the_sweep(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    expiring = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    lasting = await d.sessions.create_session(pair(ALICE, CAROL))
    d.clock.advance(5 * MINUTE)

    assert await stored_status(engine, expiring.id) == ("OPEN", None)
    assert (await d.sessions.get_session(expiring.id)).status == "CLOSED"
    closed = await d.sessions.list_sessions(status="CLOSED")
    assert [s.id for s in closed.items] == [expiring.id]
    assert closed.items[0].closed_reason == "IDLE_TTL"
    open_ = await d.sessions.list_sessions(status="OPEN")
    assert [s.id for s in open_.items] == [lasting.id]


async def test_the_sweeper_closes_expired_sessions_and_frees_numbers(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    idle = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    timed = await d.sessions.create_session(
        pair(ALICE, CAROL, expire_time=START + timedelta(minutes=7))
    )
    live = await d.sessions.create_session(pair(BOB, CAROL, ttl=timedelta(hours=1)))
    sweeper = Sweeper(session_factory(engine), d.clock, interval=60, batch_size=1)

    d.clock.advance(6 * MINUTE)
    assert await sweeper.sweep() == 1
    assert await stored_status(engine, idle.id) == ("CLOSED", "IDLE_TTL")
    assert await stored_status(engine, timed.id) == ("OPEN", None)

    d.clock.advance(2 * MINUTE)
    assert await sweeper.sweep() == 1
    assert await stored_status(engine, timed.id) == ("CLOSED", "EXPIRED")
    assert await stored_status(engine, live.id) == ("OPEN", None)
    assert await sweeper.sweep() == 0
    # Written close times are when each session ran out, as lookups reported them.
    assert (await d.sessions.get_session(idle.id)).closed_at == START + timedelta(minutes=5)
    numbers = await d.pools.list_numbers()
    assert sum(n.active_participants for n in numbers.items) == 2


async def test_the_sweeper_works_through_many_batches(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    ids = [
        (await d.sessions.create_session(pair(f"+1555030{i:04d}", f"+1555040{i:04d}", ttl=DAY))).id
        for i in range(5)
    ]
    d.clock.advance(2 * 86400)
    assert await Sweeper(session_factory(engine), d.clock, 60, batch_size=2).sweep() == 5
    assert {await stored_status(engine, i) for i in ids} == {("CLOSED", "IDLE_TTL")}


async def test_the_running_sweeper_closes_in_the_background(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=1)))
    d.clock.advance(MINUTE)
    sweeper = Sweeper(session_factory(engine), d.clock, interval=0.05)
    await sweeper.start()
    try:

        async def swept() -> bool:
            return await stored_status(engine, session.id) == ("CLOSED", "IDLE_TTL")

        await eventually(swept)
    finally:
        await sweeper.stop()


async def test_update_ttl_and_expire_time(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    d.clock.advance(MINUTE)
    updated = await d.sessions.update_session(
        f"sessions/{session.id}",
        ["ttl", "expire_time"],
        ttl=timedelta(hours=1),
        expire_time=START + timedelta(days=1),
    )
    assert updated.ttl_seconds == 3600
    assert updated.expire_time == START + timedelta(days=1)
    assert updated.updated_at == START + timedelta(minutes=1)
    d.clock.advance(30 * MINUTE)
    assert (await d.sessions.get_session(session.id)).status == "OPEN"

    cleared = await d.sessions.update_session(session.id, ["ttl", "expire_time"])
    assert (cleared.ttl_seconds, cleared.expire_time) == (0, None)
    d.clock.advance(10 * 86400)
    assert (await d.sessions.get_session(session.id)).status == "OPEN"


async def test_a_shorter_ttl_than_the_idle_time_closes_the_session(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    d.clock.advance(10 * MINUTE)
    updated = await d.sessions.update_session(session.id, ["ttl"], ttl=timedelta(minutes=5))
    assert (updated.status, updated.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert updated.closed_at == START + timedelta(minutes=5)


async def test_close_through_update(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    d.clock.advance(MINUTE)
    closed = await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    assert (closed.status, closed.closed_reason) == ("CLOSED", "API")
    assert closed.closed_at == START + timedelta(minutes=1)
    assert await stored_status(engine, session.id) == ("CLOSED", "API")

    d.clock.advance(MINUTE)
    again = await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    assert again.closed_at == closed.closed_at
    with pytest.raises(FailedPrecondition) as precondition:
        await d.sessions.update_session(session.id, ["ttl"], ttl=timedelta(hours=1))
    assert precondition.value.reason == "SESSION_CLOSED"


@pytest.mark.parametrize(
    ("paths", "kwargs", "reason"),
    [
        ([], {}, "INVALID_UPDATE_MASK"),
        (["metadata"], {}, "INVALID_UPDATE_MASK"),
        (["ttl", "participants"], {"ttl": timedelta(hours=1)}, "INVALID_UPDATE_MASK"),
        (["status"], {"status": "OPEN"}, "INVALID_STATUS"),
        (["status"], {}, "INVALID_STATUS"),
        (["ttl"], {"ttl": timedelta(seconds=-1)}, "INVALID_TTL"),
        (["expire_time"], {"expire_time": START - timedelta(seconds=1)}, "INVALID_EXPIRE_TIME"),
    ],
)
async def test_invalid_updates_change_nothing(
    engine: AsyncEngine, paths: list[str], kwargs: dict[str, object], reason: str
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    with pytest.raises(InvalidArgument) as invalid:
        await d.sessions.update_session(session.id, paths, **kwargs)  # type: ignore[arg-type]
    assert invalid.value.reason == reason
    assert await d.sessions.get_session(session.id) == session


async def test_unknown_and_malformed_session_names(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    missing = "sessions/00000000-0000-4000-8000-000000000000"
    for call in (
        d.sessions.get_session(missing),
        d.sessions.update_session(missing, ["status"], status="CLOSED"),
        d.sessions.delete_session(missing),
        d.sessions.list_interactions(missing),
    ):
        with pytest.raises(NotFound) as not_found:
            await call
        assert not_found.value.reason == "SESSION_NOT_FOUND"
    with pytest.raises(InvalidArgument) as malformed:
        await d.sessions.get_session("sessions/42")
    assert malformed.value.reason == "INVALID_NAME"


async def _count(engine: AsyncEngine, model: type[object], session_id: str) -> int:
    column = getattr(model, "session_id", None) or getattr(model, "id")  # noqa: B009
    async with session_factory(engine)() as db:
        query = select(func.count()).select_from(model).where(column == session_id)
        return int(await db.scalar(query) or 0)


async def test_delete_erases_the_session_and_its_interactions(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    doomed = await d.sessions.create_session(pair(ALICE, BOB))
    kept = await d.sessions.create_session(pair(ALICE, CAROL))
    inbound, _ = make_router(engine, d.clock)
    await inbound.receive(sms(ALICE, proxy_of(doomed, ALICE), "secret"))
    await inbound.receive(sms(ALICE, proxy_of(kept, ALICE), "hello"))
    assert await _count(engine, Interaction, doomed.id) == 2  # inbound + forwarded outbound

    await d.sessions.delete_session(f"sessions/{doomed.id}")

    for model in (Session, Participant, Interaction):
        assert await _count(engine, model, doomed.id) == 0
    assert await _count(engine, Interaction, kept.id) == 2
    with pytest.raises(NotFound):
        await d.sessions.get_session(doomed.id)
    with pytest.raises(NotFound):
        await d.sessions.delete_session(doomed.id)
    # Its numbers are free again for Alice.
    assert {n.active_participants for n in (await d.pools.list_numbers()).items} == {1}
