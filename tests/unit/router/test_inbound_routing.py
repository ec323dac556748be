"""Inbound routing (docs/concepts.md, the inbound pipeline) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.message import Outcome
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import InboundMessage, Interaction
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    factory,
    get_session,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, CAROL, STRANGER = "+15550100001", "+15550100002", "+15550100003", "+15550100009"
V1, V2, V3 = "+15557000001", "+15557000002", "+15557000003"


async def test_forwards_from_the_other_participants_own_proxy_number(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    clock = FakeClock()
    router, notes = make_router(engine, clock)

    result = await router.receive(sms(ALICE, V1, "hi Bob"))

    assert result.outcome is Outcome.FORWARDED
    assert result.session_id == session_id
    inbound = await interactions(engine, "INBOUND")
    outbound = await interactions(engine, "OUTBOUND")
    assert [(i.session_id, i.sender_number, i.proxy_number, i.text, i.status) for i in inbound] == [
        (session_id, ALICE, V1, "hi Bob", "RECEIVED")
    ]
    assert [
        (o.session_id, o.proxy_number, o.recipient_number, o.text, o.status, o.cause_id)
        for o in outbound
    ] == [(session_id, V2, BOB, "hi Bob", "QUEUED", inbound[0].id)]
    assert notes.count == 1
    session = await get_session(engine, session_id)
    assert session.status == "IN_PROGRESS"
    assert session.last_interaction_at is not None


async def test_reply_goes_back_from_the_first_participants_proxy(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(BOB, V2, "hi Alice"))

    assert result.outcome is Outcome.FORWARDED
    [out] = await interactions(engine, "OUTBOUND")
    assert (out.proxy_number, out.recipient_number) == (V1, ALICE)


async def test_group_session_queues_one_outbound_per_other_participant(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2, V3])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2), (CAROL, V3)])
    router, notes = make_router(engine, FakeClock())

    await router.receive(sms(BOB, V2, "hello all"))

    outbound = await interactions(engine, "OUTBOUND")
    assert sorted((o.proxy_number, o.recipient_number) for o in outbound) == [
        (V1, ALICE),
        (V3, CAROL),
    ]
    # No one receives a message from a real number.
    assert all(o.proxy_number in (V1, V2, V3) for o in outbound)
    assert notes.count == 1


async def test_stranger_is_dropped_and_nothing_is_queued(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, notes = make_router(engine, FakeClock())

    result = await router.receive(sms(STRANGER, V1, "who is this?"))

    assert result.outcome is Outcome.DROPPED
    assert result.session_id is None
    assert await interactions(engine) == []
    assert notes.count == 0


async def test_participant_texting_another_proxy_number_is_not_routed(
    engine: AsyncEngine,
) -> None:
    # Alice's session is on V1; V2 is Bob's proxy number in it, not hers.
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(ALICE, V2, "hello?"))

    assert result.outcome is Outcome.DROPPED
    assert await interactions(engine) == []


async def test_number_that_is_not_ours_is_dropped(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], policy="REPLY", reply="no session")
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(ALICE, "+15559999999", "hi"))

    assert result.outcome is Outcome.DROPPED
    assert await interactions(engine) == []


async def test_reply_policy_replies_once_per_interval(engine: AsyncEngine) -> None:
    await add_pool(
        engine, [V1], policy="REPLY", reply="This conversation has ended.", reply_interval=600
    )
    clock = FakeClock()
    router, notes = make_router(engine, clock)

    first = await router.receive(sms(STRANGER, V1, "hi"))
    clock.advance(300)
    second = await router.receive(sms(STRANGER, V1, "hello?"))
    clock.advance(301)
    third = await router.receive(sms(STRANGER, V1, "anyone?"))

    assert [first.outcome, second.outcome, third.outcome] == [
        Outcome.REPLIED,
        Outcome.DROPPED,
        Outcome.REPLIED,
    ]
    outbound = await interactions(engine, "OUTBOUND")
    assert [(o.session_id, o.proxy_number, o.recipient_number, o.text) for o in outbound] == [
        (None, V1, STRANGER, "This conversation has ended."),
    ] * 2
    assert notes.count == 2


async def test_reply_rate_limit_is_per_sender_and_number(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1, V2], policy="REPLY", reply="ended")
    router, _ = make_router(engine, FakeClock())

    outcomes = [
        (await router.receive(sms(sender, proxy))).outcome
        for sender, proxy in [(STRANGER, V1), (STRANGER, V2), (ALICE, V1), (STRANGER, V1)]
    ]

    assert outcomes == [Outcome.REPLIED, Outcome.REPLIED, Outcome.REPLIED, Outcome.DROPPED]


async def test_duplicate_message_id_changes_nothing(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, notes = make_router(engine, FakeClock())

    first = await router.receive(sms(ALICE, V1, "once", message_id="0B00000042AC53BD"))
    again = await router.receive(sms(ALICE, V1, "once", message_id="0B00000042AC53BD"))

    assert (first.outcome, again.outcome) == (Outcome.FORWARDED, Outcome.DUPLICATE)
    assert len(await interactions(engine, "INBOUND")) == 1
    assert len(await interactions(engine, "OUTBOUND")) == 1
    assert notes.count == 1


async def test_same_message_id_on_another_account_is_not_a_duplicate(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock())
    message = sms(ALICE, V1, "hi", message_id="m-1")

    await router.receive(message)
    other = await router.receive(dataclasses.replace(message, api_key="key2"))

    assert other.outcome is Outcome.FORWARDED


async def test_concurrent_duplicates_are_forwarded_once(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock())

    results = await asyncio.gather(
        *(router.receive(sms(ALICE, V1, "race", message_id="dup-1")) for _ in range(8))
    )

    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes == ["DUPLICATE"] * 7 + ["FORWARDED"]
    assert len(await interactions(engine, "OUTBOUND")) == 1
    async with factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(InboundMessage)) == 1


async def test_expired_session_is_closed_and_not_forwarded(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    clock = FakeClock()
    session_id = await add_session(
        engine, pool, [(ALICE, V1), (BOB, V2)], ttl_seconds=60, now=clock.now()
    )
    router, _ = make_router(engine, clock)
    clock.advance(61)

    result = await router.receive(sms(ALICE, V1, "too late"))

    assert result.outcome is Outcome.DROPPED
    assert await interactions(engine, "OUTBOUND") == []
    session = await get_session(engine, session_id)
    assert (session.status, session.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert all(not p.active for p in session.participants)


async def test_activity_extends_the_idle_ttl(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    clock = FakeClock()
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)], ttl_seconds=60, now=clock.now())
    router, _ = make_router(engine, clock)

    clock.advance(50)
    first = await router.receive(sms(ALICE, V1, "still here"))
    clock.advance(50)
    second = await router.receive(sms(BOB, V2, "me too"))

    assert (first.outcome, second.outcome) == (Outcome.FORWARDED, Outcome.FORWARDED)


async def test_binary_message_is_recorded_not_forwarded(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, notes = make_router(engine, FakeClock())

    in_session = await router.receive(sms(ALICE, V1, "", binary=True))
    outside = await router.receive(sms(STRANGER, V1, "", binary=True))

    assert (in_session.outcome, in_session.session_id) == (Outcome.RECORDED, session_id)
    assert outside.outcome is Outcome.DROPPED
    [row] = await interactions(engine)
    assert (row.direction, row.session_id, row.sender_number) == ("INBOUND", session_id, ALICE)
    assert "binary" in row.note
    assert notes.count == 0


async def test_dedupe_records_are_purged_after_the_retention(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    clock = FakeClock()
    router, _ = make_router(engine, clock, RouterSettings(dedupe_retention=3600))
    await router.receive(sms(ALICE, V1, "old", message_id="m-old"))
    clock.advance(1800)
    await router.receive(sms(ALICE, V1, "new", message_id="m-new"))
    clock.advance(1801)

    purged = await router.purge()

    assert purged == 1
    async with factory(engine)() as db:
        kept = (await db.scalars(select(InboundMessage.message_id))).all()
        assert kept == ["m-new"]
        assert await db.scalar(select(func.count()).select_from(Interaction)) == 4
