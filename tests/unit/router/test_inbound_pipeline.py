"""The inbound pipeline in batches (inbound/pipeline.py) on SQLite and PostgreSQL: concurrent
messages share a transaction with the outcomes, dedupe and outbox rows a lone message gets."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound import pipeline
from numproxy.router.inbound.batch import Batch
from numproxy.router.inbound.message import IncomingSms, Outcome
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import InboundMessage
from tests.support.router_inbound import (
    FakeClock,
    InboundUnderTest,
    Notifications,
    add_pool,
    add_session,
    factory,
    get_session,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, CAROL, DAN, STRANGER = (
    "+15550100001",
    "+15550100002",
    "+15550100003",
    "+15550100004",
    "+15550100009",
)
V1, V2, V3 = "+15557000001", "+15557000002", "+15557000003"


def make_batcher(
    engine: AsyncEngine, clock: FakeClock, *, concurrency: int = 1
) -> tuple[InboundUnderTest, Notifications]:
    # Bursts far beyond a conversation's pace: the session rate cap is not what is tested here.
    settings = RouterSettings(
        inbound_batch_max=50,
        inbound_batch_concurrency=concurrency,
        session_rate_max_messages=0,
    )
    return make_router(engine, clock, settings)


async def receive_all(batcher: InboundUnderTest, messages: list[IncomingSms]) -> list[Outcome]:
    results = await asyncio.gather(*(batcher.receive(m) for m in messages))
    return [r.outcome for r in results]


async def test_a_burst_is_forwarded_from_each_partners_own_proxy_number(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2, V3])
    first = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    group = await add_session(engine, pool, [(CAROL, V1), (DAN, V2), (STRANGER, V3)])
    batcher, notes = make_batcher(engine, FakeClock())

    outcomes = await receive_all(
        batcher,
        [sms(ALICE, V1, f"a{n}") for n in range(10)]
        + [sms(BOB, V2, f"b{n}") for n in range(10)]
        + [sms(DAN, V2, "to the group")],
    )

    assert outcomes == [Outcome.FORWARDED] * 21
    inbound = {i.id: i for i in await interactions(engine, "INBOUND")}
    outbound = await interactions(engine, "OUTBOUND")
    assert len(inbound) == 21
    sent = sorted(
        (o.session_id == first, o.proxy_number, o.recipient_number, o.text[0]) for o in outbound
    )
    assert sent == sorted(
        [(True, V2, BOB, "a")] * 10
        + [(True, V1, ALICE, "b")] * 10
        + [(False, V1, CAROL, "t"), (False, V3, STRANGER, "t")]
    )
    # Every outbound row is queued and points at the inbound that caused it.
    for out in outbound:
        assert out.status == "QUEUED" and out.attempts == 0
        cause = inbound[out.cause_id or ""]
        assert (cause.text, cause.session_id) == (out.text, out.session_id)
    assert (await get_session(engine, first)).status == "IN_PROGRESS"
    assert (await get_session(engine, group)).status == "IN_PROGRESS"
    assert notes.count >= 1


async def test_duplicates_in_and_across_batches_are_forwarded_once(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    batcher, _ = make_batcher(engine, FakeClock())

    outcomes = await receive_all(
        batcher,
        [sms(ALICE, V1, "race", message_id="dup-1") for _ in range(8)]
        + [sms(ALICE, V1, "other", message_id="dup-2") for _ in range(3)],
    )
    again = await receive_all(batcher, [sms(ALICE, V1, "race", message_id="dup-1")])

    assert sorted(o.value for o in outcomes) == ["DUPLICATE"] * 9 + ["FORWARDED"] * 2
    assert again == [Outcome.DUPLICATE]
    assert len(await interactions(engine, "OUTBOUND")) == 2
    async with factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(InboundMessage)) == 2


async def test_expired_and_unknown_senders_get_the_out_of_session_policy(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2], policy="REPLY", reply="no session here")
    clock = FakeClock()
    live = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)], now=clock.now())
    expired = await add_session(
        engine, pool, [(CAROL, V1), (DAN, V2)], ttl_seconds=60, now=clock.now()
    )
    clock.advance(61)
    batcher, _ = make_batcher(engine, clock)

    outcomes = await receive_all(
        batcher,
        [sms(ALICE, V1, "hi"), sms(CAROL, V1, "too late"), sms(STRANGER, V1, "who?")],
    )

    assert outcomes == [Outcome.FORWARDED, Outcome.REPLIED, Outcome.REPLIED]
    closed = await get_session(engine, expired)
    assert (closed.status, closed.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert (await get_session(engine, live)).status == "IN_PROGRESS"
    outbound = sorted((o.recipient_number, o.text) for o in await interactions(engine, "OUTBOUND"))
    assert outbound == [
        (BOB, "hi"),
        (CAROL, "no session here"),
        (STRANGER, "no session here"),
    ]


async def test_activity_extends_the_idle_ttl(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    clock = FakeClock()
    session_id = await add_session(
        engine, pool, [(ALICE, V1), (BOB, V2)], ttl_seconds=60, now=clock.now()
    )
    batcher, _ = make_batcher(engine, clock)

    clock.advance(50)
    assert await receive_all(batcher, [sms(ALICE, V1, "still here")]) == [Outcome.FORWARDED]
    clock.advance(50)
    assert await receive_all(batcher, [sms(BOB, V2, "me too")]) == [Outcome.FORWARDED]

    session = await get_session(engine, session_id)
    assert session.idle_expires_at is not None
    assert session.idle_expires_at.replace(tzinfo=clock.now().tzinfo) == clock.now() + timedelta(
        seconds=60
    )


async def test_keywords_parts_and_texts_share_one_batch(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    batcher, _ = make_batcher(engine, FakeClock())

    outcomes = await receive_all(
        batcher,
        [
            sms(ALICE, V1, "HELP"),
            sms(ALICE, V1, "part one ", concat_ref="7", concat_total=2, concat_part=1),
            sms(ALICE, V1, "plain"),
        ],
    )

    assert outcomes == [Outcome.KEYWORD, Outcome.PART_STORED, Outcome.FORWARDED]


async def test_a_failing_batch_is_retried_message_by_message(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    batcher, _ = make_batcher(engine, FakeClock())

    async def poisoned(batch: Batch) -> None:
        if any(item.text == "poison" for item in batch.items):
            raise RuntimeError("boom")

    # A stage that fails every transaction holding the poisoned message.
    monkeypatch.setattr(pipeline, "STAGES", (*pipeline.STAGES, poisoned))
    results = await asyncio.gather(
        *(batcher.receive(m) for m in [sms(ALICE, V1, f"m{n}") for n in range(5)]),
        batcher.receive(sms(ALICE, V1, "poison")),
        return_exceptions=True,
    )

    assert [getattr(r, "outcome", None) for r in results[:5]] == [Outcome.FORWARDED] * 5
    assert isinstance(results[5], RuntimeError)
    # The failed batch was rolled back: each good message is in the database once, the
    # poisoned one not at all (the provider retries it).
    assert [o.text for o in await interactions(engine, "OUTBOUND")] == [f"m{n}" for n in range(5)]
    async with factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(InboundMessage)) == 5


async def test_rows_list_each_inbound_before_its_copies_in_arrival_order(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2, V3])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2), (CAROL, V3)])
    batcher, _ = make_batcher(engine, FakeClock())

    await receive_all(batcher, [sms(ALICE, V1, "a"), sms(BOB, V2, "b"), sms(CAROL, V3, "c")])

    # One batch, one timestamp: the ids alone give the order, without sorting here.
    rows = [(i.direction, i.recipient_number, i.text) for i in await interactions(engine)]
    assert rows == [
        ("INBOUND", "", "a"),
        ("OUTBOUND", BOB, "a"),
        ("OUTBOUND", CAROL, "a"),
        ("INBOUND", "", "b"),
        ("OUTBOUND", ALICE, "b"),
        ("OUTBOUND", CAROL, "b"),
        ("INBOUND", "", "c"),
        ("OUTBOUND", ALICE, "c"),
        ("OUTBOUND", BOB, "c"),
    ]


async def test_concurrent_batches_share_sessions_without_losing_messages(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    await add_session(engine, pool, [(CAROL, V1), (DAN, V2)])
    batcher, _ = make_batcher(engine, FakeClock(), concurrency=4)

    messages = [
        sms(sender, proxy, f"{n}")
        for n in range(30)
        for sender, proxy in ((ALICE, V1), (DAN, V2), (BOB, V2), (CAROL, V1))
    ]
    outcomes = await receive_all(batcher, messages)

    assert outcomes == [Outcome.FORWARDED] * 120
    assert len(await interactions(engine, "OUTBOUND")) == 120
