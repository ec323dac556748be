"""The dispatcher refuses what must not be sent, in its claim: rows to an opted-out pair
(OPTED_OUT, queued before the STOP included) and rows over their pool's daily send budget
(POOL_DAILY_BUDGET), each with its OUTBOUND_FAILED event; a real grpc.aio sender (a fake the
test controls), SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store import rows
from numproxy.router.store.models import Interaction, OptOut, PoolSendCount
from tests.integration.router.test_dispatcher import (  # noqa: F401 (fixtures)
    RECIPIENT,
    V1,
    V2,
    Dispatchers,
    dispatchers,
    fake,
    stub,
    until_status,
)
from tests.support.events import written
from tests.support.fake_sender import FakeSender
from tests.support.router_inbound import add_pool, add_session, factory


async def queue_rows(
    engine: AsyncEngine, *specs: tuple[str, str, str | None, datetime]
) -> list[str]:
    """Outbound rows (proxy number, recipient, session id, queued at); their ids."""
    async with factory(engine)() as db, db.begin():
        made = [
            rows.outbound(
                now=at, proxy_number=proxy, recipient_number=to, text=f"m{n}", session_id=session
            )
            for n, (proxy, to, session, at) in enumerate(specs)
        ]
        db.add_all([Interaction(**row) for row in made])
        return [str(row["id"]) for row in made]


async def opt_out(engine: AsyncEngine, number: str, proxy: str, at: datetime) -> None:
    async with factory(engine)() as db, db.begin():
        db.add(OptOut(number=number, proxy_number=proxy, created_at=at))


async def test_rows_to_an_opted_out_pair_fail_opted_out_but_its_later_answers_go(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    await add_pool(engine, [V1, V2])
    stop = datetime.now(UTC) - timedelta(seconds=5)
    before, after, other = await queue_rows(
        engine,
        (V1, RECIPIENT, None, stop - timedelta(seconds=1)),  # queued before the STOP
        (V1, RECIPIENT, None, stop),  # the STOP's own confirmation
        (V2, RECIPIENT, None, stop - timedelta(seconds=1)),  # another proxy number
    )
    await opt_out(engine, RECIPIENT, V1, stop)

    await dispatchers.start()
    await until_status(engine, [after, other], "SENT")
    await until_status(engine, [before], "FAILED")

    async with factory(engine)() as db:
        refused = await db.get(Interaction, before)
    assert refused is not None
    assert (refused.failure_reason, refused.attempts) == ("OPTED_OUT", 0)
    assert sorted(call.idempotency_key for call in fake.calls) == sorted([after, other])
    failed = [e for e in await written(engine) if e.type == "OUTBOUND_FAILED"]
    assert [(e.interaction_id, e.reason, e.participant) for e in failed] == [
        (before, "OPTED_OUT", RECIPIENT)
    ]


async def test_session_traffic_to_an_opted_out_pair_is_never_sent(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1])
    stop = datetime.now(UTC) - timedelta(seconds=5)
    session = await add_session(engine, pool, [(RECIPIENT, V1), ("+15550100003", V1)])
    [row_id] = await queue_rows(engine, (V1, RECIPIENT, session, stop + timedelta(seconds=1)))
    await opt_out(engine, RECIPIENT, V1, stop)

    await dispatchers.start()
    await until_status(engine, [row_id], "FAILED")

    assert fake.calls == []


async def test_a_pools_daily_budget_fails_what_is_beyond_it_and_says_so_once(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    await add_pool(engine, [V1], daily_send_budget=3)
    await add_pool(engine, [V2], name="free")
    now = datetime.now(UTC)
    ids = await queue_rows(
        engine, *[(V1, RECIPIENT, None, now + timedelta(microseconds=n)) for n in range(5)]
    )
    [free] = await queue_rows(engine, (V2, RECIPIENT, None, now))

    await dispatchers.start(dispatch_concurrency=2)  # several claims charge the budget
    await until_status(engine, [free, *ids[:3]], "SENT")
    await until_status(engine, ids[3:], "FAILED")

    async with factory(engine)() as db:
        reasons = (
            await db.scalars(select(Interaction.failure_reason).where(Interaction.id.in_(ids[3:])))
        ).all()
        [count] = (await db.scalars(select(PoolSendCount))).all()
    assert reasons == ["POOL_DAILY_BUDGET"] * 2
    assert (count.day, count.sent) == (now.date().isoformat(), 5)
    assert len(fake.calls) == 4
    events = await written(engine)
    assert [e.reason for e in events if e.type == "OUTBOUND_FAILED"] == ["POOL_DAILY_BUDGET"] * 2
    [spent] = [e for e in events if e.type == "POOL_SEND_BUDGET_SPENT"]
    assert spent.reason.startswith("3 outbound SMS sent on ")
