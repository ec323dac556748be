"""Each stage of the inbound pipeline on its own, over a batch (SQLite and PostgreSQL).

A stage test builds the batch state the earlier stages would have left (or runs them, where
that state lives in the database) and checks what the stage decided and collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.batch import Batch, Item, LiveSession
from numproxy.router.inbound.dedupe import dedupe
from numproxy.router.inbound.fanout import fan_out
from numproxy.router.inbound.keywords import answer_keywords
from numproxy.router.inbound.lookup import find_pools, find_sessions
from numproxy.router.inbound.message import Inbound, Outcome, TimedOutGroup
from numproxy.router.inbound.multipart import complete_parts, reassemble
from numproxy.router.inbound.pipeline import Stage
from numproxy.router.inbound.policy import out_of_session
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries
from numproxy.router.store.models import OptOut
from numproxy.router.store.queries import PoolPolicy
from tests.support.router_inbound import (
    START,
    add_pool,
    add_session,
    factory,
    get_session,
    sms,
)

ALICE, BOB, CAROL, STRANGER = "+15550100001", "+15550100002", "+15550100003", "+15550100009"
V1, V2, V3, NOT_OURS = "+15557000001", "+15557000002", "+15557000003", "+15557000999"
SETTINGS = RouterSettings()
POOL_ID = 1  # the one pool these tests create
REPLY = PoolPolicy(POOL_ID, "REPLY", "Not in a conversation.", 3600)


async def run(
    engine: AsyncEngine,
    messages: Sequence[Inbound | Item],
    *stages: Stage,
    now: object = START,
) -> Batch:
    """Run ``stages`` over one batch in one committed transaction."""
    items = [m if isinstance(m, Item) else Item.of(m) for m in messages]
    async with engine.begin() as conn:
        batch = Batch(conn, SETTINGS, now, items)  # type: ignore[arg-type]
        for stage in stages:
            await stage(batch)
    return batch


def outcomes(batch: Batch) -> list[Outcome | None]:
    return [item.result.outcome if item.result else None for item in batch.items]


async def test_dedupe_decides_ids_seen_before_or_twice_in_the_batch(engine: AsyncEngine) -> None:
    await run(engine, [sms(ALICE, V1, message_id="seen")], dedupe)

    batch = await run(
        engine,
        [
            sms(ALICE, V1, message_id="seen"),
            sms(ALICE, V1, message_id="new"),
            sms(ALICE, V1, message_id="new"),
            TimedOutGroup(ALICE, V1, "ref", START),  # not from the provider: no id
        ],
        dedupe,
    )

    assert outcomes(batch) == [Outcome.DUPLICATE, None, Outcome.DUPLICATE, None]


async def test_lookup_finds_live_sessions_and_closes_expired_ones(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2, V3])
    live = await add_session(engine, pool, [(ALICE, V1), (BOB, V2), (CAROL, V3)])
    expired = await add_session(engine, pool, [(STRANGER, V1), (BOB, V1)], ttl_seconds=60)

    batch = await run(
        engine,
        [sms(ALICE, V1), sms(STRANGER, V1), sms(CAROL, V1)],
        find_sessions,
        now=START + timedelta(seconds=61),
    )

    first, second, third = batch.items
    assert first.live == LiveSession(live, POOL_ID, "OPEN", 0, ((BOB, V2), (CAROL, V3)))
    assert second.live is None and third.live is None
    closed = await get_session(engine, expired)
    assert (closed.status, closed.closed_reason) == ("CLOSED", "IDLE_TTL")
    assert closed.closed_at is not None
    assert closed.closed_at.replace(tzinfo=START.tzinfo) == START + timedelta(seconds=60)
    assert outcomes(batch) == [None, None, None]  # the lookup decides nothing itself


async def test_pools_are_read_only_for_messages_without_a_session(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], policy="REPLY", reply="hi", reply_interval=60)
    without = Item.of(sms(STRANGER, V1))
    not_ours = Item.of(sms(STRANGER, NOT_OURS))
    in_session = Item.of(sms(ALICE, V1))
    in_session.live = LiveSession("s", POOL_ID, "OPEN", 0, ())

    batch = await run(engine, [without, not_ours, in_session], find_pools)

    assert outcomes(batch) == [None, Outcome.DROPPED, None]
    assert without.pool == PoolPolicy(POOL_ID, "REPLY", "hi", 60)
    assert in_session.pool is None


async def test_parts_in_one_batch_are_joined_once(engine: AsyncEngine) -> None:
    def part(n: int, text: str) -> Inbound:
        return sms(ALICE, V1, text, concat_ref="r1", concat_total=3, concat_part=n)

    batch = await run(
        engine, [part(3, "c"), part(1, "a"), part(2, "b"), part(1, "a")], reassemble, complete_parts
    )

    assert outcomes(batch) == [None, Outcome.PART_STORED, Outcome.PART_STORED, Outcome.DUPLICATE]
    assert batch.items[0].text == "abc"


async def test_a_timed_out_group_takes_the_parts_that_arrived(engine: AsyncEngine) -> None:
    await run(
        engine,
        [sms(ALICE, V1, "a", concat_ref="r", concat_total=3, concat_part=1)],
        reassemble,
        complete_parts,
    )
    group = TimedOutGroup(ALICE, V1, "r", START)

    taken = await run(engine, [group], reassemble, complete_parts)
    again = await run(engine, [group], reassemble, complete_parts)
    late = await run(
        engine,
        [sms(ALICE, V1, "c", concat_ref="r", concat_total=3, concat_part=3)],
        reassemble,
        complete_parts,
    )

    assert (taken.items[0].text, taken.items[0].note) == ("a", "incomplete: parts 1 of 3")
    assert outcomes(taken) == [None]
    assert outcomes(again) == [Outcome.DUPLICATE]  # nothing left to route
    assert (late.items[0].text, late.items[0].note) == ("c", "late: part 3 of 3")


async def test_stop_closes_the_session_opts_out_and_confirms(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    stop = Item.of(sms(ALICE, V1, " stop "))
    stop.live = LiveSession(session_id, POOL_ID, "OPEN", 0, ((BOB, V2),))
    plain = Item.of(sms(ALICE, V1, "not a keyword"))

    batch = await run(engine, [stop, plain], answer_keywords)

    assert outcomes(batch) == [Outcome.KEYWORD, None]
    assert batch.closed_by == {session_id: 0}
    assert [(r["proxy_number"], r["recipient_number"]) for r in batch.writes.outbound] == [
        (V1, ALICE)
    ]
    assert [r["direction"] for r in batch.writes.interactions] == ["INBOUND", "OUTBOUND"]
    assert (await get_session(engine, session_id)).closed_reason == "OPT_OUT"
    async with factory(engine)() as db:
        assert (await db.scalars(select(OptOut.number))).all() == [ALICE]


async def test_out_of_session_replies_once_and_never_to_an_opted_out_sender(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await queries.opt_out(conn, {"number": CAROL, "proxy_number": V1, "created_at": START})
    items = [Item.of(sms(n, V1)) for n in (STRANGER, STRANGER, CAROL)]
    for item in items:
        item.pool = REPLY

    batch = await run(engine, items, out_of_session)
    again = Item.of(sms(STRANGER, V1))
    again.pool = REPLY
    later = await run(engine, [again], out_of_session)

    assert outcomes(batch) == [Outcome.REPLIED, Outcome.DROPPED, Outcome.DROPPED]
    assert [
        (r["proxy_number"], r["recipient_number"], r["text"]) for r in batch.writes.outbound
    ] == [(V1, STRANGER, REPLY.out_of_session_reply)]
    assert outcomes(later) == [Outcome.DROPPED]  # within the pool's reply interval


async def test_fan_out_sends_from_each_partners_own_number_and_records_binary(
    engine: AsyncEngine,
) -> None:
    live = LiveSession("s1", POOL_ID, "OPEN", 60, ((BOB, V2), (CAROL, V3)))
    text = Item.of(sms(ALICE, V1, "hello"))
    binary = Item.of(sms(ALICE, V1, "", binary=True))
    for item in (text, binary):
        item.live = live
    async with engine.begin() as conn:
        batch = Batch(conn, SETTINGS, START, [text, binary])
        await fan_out(batch)

    assert outcomes(batch) == [Outcome.FORWARDED, Outcome.RECORDED]
    assert batch.items[0].result is not None and batch.items[0].result.queued == 2
    sent = [(r["proxy_number"], r["recipient_number"], r["text"]) for r in batch.writes.outbound]
    assert sent == [(V2, BOB, "hello"), (V3, CAROL, "hello")]
    inbound = [r for r in batch.writes.interactions if r["direction"] == "INBOUND"]
    assert [r["note"] for r in inbound] == ["", "binary: not forwarded"]
    assert all(r["cause_id"] == inbound[0]["id"] for r in batch.writes.outbound)
    assert list(batch.activity) == ["s1"]
