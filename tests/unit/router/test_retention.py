"""Retention run by the router's housekeeping, SQLite and PostgreSQL: message text redacted a
pool's retention after its session closed (the rows kept for counts), sessionless replies and
reply records pruned, in bounded batches."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import Interaction, ReplyLog, Session
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    factory,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, STRANGER = "+15550100001", "+15550100002", "+15550100009"
V1, V2 = "+15557000001", "+15557000002"
HOUR = 3600


async def close(engine: AsyncEngine, session_id: str, clock: FakeClock) -> None:
    async with factory(engine)() as db, db.begin():
        session = await db.get(Session, session_id)
        assert session is not None
        session.status, session.closed_reason, session.closed_at = "CLOSED", "API", clock.now()


async def texts(engine: AsyncEngine, session_id: str | None) -> list[str]:
    return [i.text for i in await interactions(engine) if i.session_id == session_id]


async def test_text_is_redacted_after_the_pools_retention_and_counts_stay(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2], message_retention_seconds=2 * HOUR)
    closed = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    live = await add_session(engine, pool, [(STRANGER, V1), (BOB, V1)])
    clock = FakeClock()
    settings = RouterSettings(retention_batch=1)  # one session per transaction
    router, _ = make_router(engine, clock, settings)
    for n in range(3):
        await router.receive(sms(ALICE, V1, f"secret {n}"))
    await router.receive(sms(STRANGER, V1, "still talking"))
    await close(engine, closed, clock)

    clock.advance(2 * HOUR - 1)
    early = await router.housekeeping.apply_retention()
    assert early["sessions redacted"] == 0
    assert (await texts(engine, closed))[:1] == ["secret 0"]

    clock.advance(2)
    done = await router.housekeeping.apply_retention()

    assert done["sessions redacted"] == 1
    assert await texts(engine, closed) == [""] * 6  # three in, three out: all kept
    assert await texts(engine, live) == ["still talking", "still talking"]
    async with factory(engine)() as db:
        redacted = await db.scalar(
            select(func.count()).where(
                Interaction.session_id == closed, Interaction.redacted_at.is_not(None)
            )
        )
        marked = await db.get(Session, closed)
    assert redacted == 6
    assert marked is not None and marked.redacted_at is not None
    # Done once: a later pass has nothing left to do.
    assert (await router.housekeeping.apply_retention())["sessions redacted"] == 0


async def test_sessionless_replies_and_reply_records_are_pruned_in_batches(
    engine: AsyncEngine,
) -> None:
    await add_pool(engine, [V1, V2], policy="REPLY", reply="No chat here", reply_interval=60)
    clock = FakeClock()
    settings = RouterSettings(
        sessionless_retention=10 * HOUR, reply_log_retention=20 * HOUR, retention_batch=2
    )
    router, _ = make_router(engine, clock, settings)
    for sender in ("+15550100011", "+15550100012", "+15550100013"):
        await router.receive(sms(sender, V1, "anyone?"))
        await router.receive(sms(sender, V2, "HELP"))
    async with factory(engine)() as db, db.begin():
        for row in (await db.scalars(select(Interaction))).all():
            row.status = "SENT"  # settled (a queued reply is never pruned)

    clock.advance(10 * HOUR + 1)
    first = await router.housekeeping.apply_retention()
    clock.advance(10 * HOUR)
    second = await router.housekeeping.apply_retention()

    assert (first["sessionless replies deleted"], first["reply records deleted"]) == (6, 0)
    assert second["reply records deleted"] == 6
    assert await interactions(engine) == []
    async with factory(engine)() as db:
        assert (await db.scalars(select(ReplyLog))).all() == []


async def test_a_queued_sessionless_reply_is_kept(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1])
    clock = FakeClock()
    router, _ = make_router(engine, clock, RouterSettings(sessionless_retention=HOUR))
    await router.receive(sms(STRANGER, V1, "HELP"))

    clock.advance(2 * HOUR)
    await router.housekeeping.apply_retention()

    assert [i.status for i in await interactions(engine)] == ["QUEUED"]
