"""Every state change writes its event in the change's own transaction, with the fields a
watcher needs (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import FailedPrecondition, PoolExhausted
from numproxy.router.outbox.receipts import DeliveryReceipt, ReceiptRecorder
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import Failed, RetryPolicy, Sent
from numproxy.router.sessions.sessions import ParticipantSpec, SessionSpec
from numproxy.router.sessions.sweeper import Sweeper
from numproxy.router.settings import RouterSettings
from numproxy.router.store import rows
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import Interaction, Pool
from tests.support.events import kinds, written
from tests.support.router_inbound import START, FakeClock, factory, make_router, sms
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
)


async def pool_key(engine: AsyncEngine, name: str = "default") -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(Pool.id).where(Pool.name == name))).scalar_one())


async def test_create_writes_session_created_then_the_greetings_queued(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    spec = SessionSpec(
        participants=[ParticipantSpec(ALICE, greeting="hi Alice"), ParticipantSpec(BOB)]
    )
    session = await d.sessions.create_session(spec)

    created, queued = await written(engine)
    key = await pool_key(engine)
    assert (created.type, created.pool_id, created.session_id) == (
        "SESSION_CREATED",
        key,
        session.id,
    )
    async with factory(engine)() as db:
        greeting = (await db.scalars(select(Interaction))).one()
    assert (queued.type, queued.pool_id, queued.session_id, queued.interaction_id) == (
        "OUTBOUND_QUEUED",
        key,
        session.id,
        greeting.id,
    )
    assert (queued.participant, queued.proxy_number, queued.direction) == (
        ALICE,
        proxy_of(session, ALICE),
        "OUTBOUND",
    )
    assert created.seq < queued.seq
    assert d.notified == [1]  # the greeting was handed to the dispatcher too


async def test_a_create_that_finds_the_pool_exhausted_writes_only_that(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    await d.sessions.create_session(pair(ALICE, BOB))

    with pytest.raises(PoolExhausted):
        await d.sessions.create_session(pair(ALICE, CAROL))

    events = await written(engine)
    assert [e.type for e in events] == ["SESSION_CREATED", "POOL_EXHAUSTED"]
    exhausted = events[-1]
    assert (exhausted.pool_id, exhausted.session_id, exhausted.participant) == (
        await pool_key(engine),
        None,
        ALICE,
    )
    assert "no proxy number free for participant 0" in exhausted.reason
    assert ALICE not in exhausted.reason  # masked in the text


async def test_update_writes_session_updated_with_the_fields_changed(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))

    await d.sessions.update_session(
        session.id,
        ["ttl", "expire_time"],
        ttl=timedelta(hours=1),
        expire_time=START + timedelta(days=1),
    )
    await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    await d.sessions.update_session(session.id, ["status"], status="CLOSED")  # already closed

    updated, closed = (await written(engine))[1:]
    assert (updated.type, updated.session_id, updated.reason) == (
        "SESSION_UPDATED",
        session.id,
        "expire_time,ttl",
    )
    assert (closed.type, closed.session_id, closed.reason) == ("SESSION_CLOSED", session.id, "API")


async def test_a_rolled_back_update_leaves_no_event(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    d.clock.advance(600)

    # The update finds the session ran out and closes it, then refuses to change a closed
    # session: the whole transaction rolls back, the close and its event with it.
    with pytest.raises(FailedPrecondition):
        await d.sessions.update_session(session.id, ["ttl"], ttl=timedelta(hours=1))

    assert await kinds(engine) == ["SESSION_CREATED"]


async def test_delete_writes_session_deleted_and_keeps_the_earlier_events(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))

    await d.sessions.delete_session(session.id)

    events = await written(engine)
    assert [(e.type, e.session_id) for e in events] == [
        ("SESSION_CREATED", session.id),
        ("SESSION_DELETED", session.id),
    ]
    assert events[-1].pool_id == await pool_key(engine)


async def test_draining_a_number_writes_number_drained_once(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])

    await d.pools.remove_number("default", US1)
    await d.pools.remove_number("default", US1)  # already draining: no change, no event

    [drained] = await written(engine)
    assert (drained.type, drained.pool_id, drained.proxy_number) == (
        "NUMBER_DRAINED",
        await pool_key(engine),
        US1,
    )


async def test_the_sweeper_writes_the_close_with_its_reason(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB, ttl=timedelta(minutes=5)))
    d.clock.advance(600)
    woken: list[int] = []
    sweeper = Sweeper(session_factory(engine), d.clock, 60, on_events=lambda: woken.append(1))

    assert await sweeper.sweep() == 1

    closed = (await written(engine))[-1]
    assert (closed.type, closed.session_id, closed.reason) == (
        "SESSION_CLOSED",
        session.id,
        "IDLE_TTL",
    )
    assert woken == [1]


async def test_stop_and_start_write_opt_events_only_when_the_state_changes(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    proxy = proxy_of(session, ALICE)
    inbound, _ = make_router(engine, d.clock)

    await inbound.receive(sms(ALICE, proxy, "STOP"))
    await inbound.receive(sms(ALICE, proxy, "STOP"))  # carriers resend: already opted out
    await inbound.receive(sms(ALICE, proxy, "START"))
    await inbound.receive(sms(ALICE, proxy, "START"))  # not opted out any more

    events = await written(engine)
    assert [e.type for e in events] == [
        "SESSION_CREATED",
        "MESSAGE_RECEIVED",  # the STOP, in its session
        "PARTICIPANT_OPTED_OUT",
        "SESSION_CLOSED",
        "OUTBOUND_QUEUED",  # the STOP confirmation
        "PARTICIPANT_OPTED_IN",  # the session is closed: no MESSAGE_RECEIVED
        "OUTBOUND_QUEUED",  # the START confirmation
        "OUTBOUND_QUEUED",  # the second START is confirmed again
    ]
    stop, opted_out, closed = events[1:4]
    opted_in = events[5]
    key = await pool_key(engine)
    assert (opted_out.pool_id, opted_out.session_id, opted_out.interaction_id) == (
        key,
        session.id,
        stop.interaction_id,
    )
    assert (opted_out.participant, opted_out.proxy_number) == (ALICE, proxy)
    assert (closed.session_id, closed.reason) == (session.id, "OPT_OUT")
    assert (opted_in.pool_id, opted_in.session_id, opted_in.participant) == (key, None, ALICE)


async def test_a_forwarded_message_writes_received_then_queued_with_the_pool(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    inbound, _ = make_router(engine, d.clock)

    await inbound.receive(sms(ALICE, proxy_of(session, ALICE), "hello Bob"))

    received, queued = (await written(engine))[1:]
    key = await pool_key(engine)
    assert (received.type, received.pool_id, received.participant, received.direction) == (
        "MESSAGE_RECEIVED",
        key,
        ALICE,
        "INBOUND",
    )
    assert (queued.type, queued.pool_id, queued.participant, queued.proxy_number) == (
        "OUTBOUND_QUEUED",
        key,
        BOB,
        proxy_of(session, BOB),
    )


# --- the outbox ------------------------------------------------------------------------------


async def queued_row(engine: AsyncEngine, message_ids: list[str] | None = None) -> str:
    """A QUEUED outbound row to Bob in a session of the default pool (or SENT as
    ``message_ids``)."""
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    async with factory(engine)() as db, db.begin():
        row = Interaction(
            **rows.outbound(
                now=START,
                proxy_number=proxy_of(session, BOB),
                recipient_number=BOB,
                text="hi",
                session_id=session.id,
            )
        )
        if message_ids is not None:
            row.status = "SENT"
            row.provider_message_ids = message_ids
        db.add(row)
        return row.id


def recorder(engine: AsyncEngine, woken: list[int]) -> ResultRecorder:
    return ResultRecorder(
        engine, FakeClock(), RetryPolicy(RouterSettings()), on_events=lambda: woken.append(1)
    )


async def test_a_send_result_writes_outbound_sent(engine: AsyncEngine) -> None:
    row_id = await queued_row(engine)
    woken: list[int] = []

    await recorder(engine, woken).record(row_id, Sent(("m1",)))

    created, sent = await written(engine)
    assert (sent.type, sent.interaction_id, sent.pool_id, sent.session_id) == (
        "OUTBOUND_SENT",
        row_id,
        await pool_key(engine),
        created.session_id,
    )
    async with factory(engine)() as db:
        row = await db.get(Interaction, row_id)
        assert row is not None
    assert (sent.participant, sent.proxy_number, sent.direction, sent.reason) == (
        BOB,
        row.proxy_number,
        "OUTBOUND",
        "",
    )
    assert woken == [1]


async def test_a_retry_writes_no_event_and_giving_up_writes_outbound_failed(
    engine: AsyncEngine,
) -> None:
    row_id = await queued_row(engine)
    woken: list[int] = []
    results = recorder(engine, woken)

    await results.record(row_id, Failed("UNAVAILABLE: sender down", retryable=True))
    assert (await kinds(engine))[-1] == "SESSION_CREATED"
    await results.record(row_id, Failed("PROVIDER_STATUS_3: invalid number", retryable=False))

    failed = (await written(engine))[-1]
    assert (failed.type, failed.interaction_id, failed.reason) == (
        "OUTBOUND_FAILED",
        row_id,
        "PROVIDER_STATUS_3: invalid number",
    )
    assert woken == [1]


async def test_receipts_write_delivered_or_failed_once(engine: AsyncEngine) -> None:
    delivered_id = await queued_row(engine, ["p1", "p2"])
    woken: list[int] = []
    receipts = ReceiptRecorder(engine, FakeClock(), on_events=lambda: woken.append(1))

    await receipts.record(DeliveryReceipt("p1", "delivered", 0, delivered_id))
    assert (await kinds(engine))[-1] == "SESSION_CREATED"  # one part of two: still SENT
    await receipts.record(DeliveryReceipt("p2", "delivered", 0, delivered_id))
    await receipts.record(DeliveryReceipt("p2", "delivered", 0, delivered_id))  # a duplicate

    delivered = await written(engine, "OUTBOUND_DELIVERED")
    assert [(e.interaction_id, e.participant) for e in delivered] == [(delivered_id, BOB)]
    assert woken == [1]


async def test_a_failed_receipt_writes_outbound_failed_with_the_delivery_reason(
    engine: AsyncEngine,
) -> None:
    row_id = await queued_row(engine, ["p1"])
    receipts = ReceiptRecorder(engine, FakeClock())

    await receipts.record(DeliveryReceipt("p1", "failed", 9, row_id))

    [failed] = await written(engine, "OUTBOUND_FAILED")
    assert failed.interaction_id == row_id
    assert failed.reason.startswith("DELIVERY_FAILED: err-code 9")


async def test_a_send_result_behind_its_receipts_writes_sent_then_delivered(
    engine: AsyncEngine,
) -> None:
    row_id = await queued_row(engine)
    receipts = ReceiptRecorder(engine, FakeClock())
    # The receipt came before the send result was recorded: the row is still QUEUED.
    await receipts.record(DeliveryReceipt("m1", "delivered", 0, row_id))

    await recorder(engine, []).record(row_id, Sent(("m1",)))

    assert (await kinds(engine))[-2:] == ["OUTBOUND_SENT", "OUTBOUND_DELIVERED"]
