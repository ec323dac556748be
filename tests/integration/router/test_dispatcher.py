"""The outbox dispatcher against a real grpc.aio SenderService (a fake the test controls)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    ProviderUnavailable,
)
from numproxy.internal.v1 import sender_pb2_grpc
from numproxy.router.clock import Clock, SystemClock, as_utc
from numproxy.router.inbound.housekeeping import InboundHousekeeping
from numproxy.router.inbound.message import Outcome
from numproxy.router.inbound.pipeline import Handoff, InboundPipeline
from numproxy.router.outbox.dispatcher import Dispatcher
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import RetryPolicy
from numproxy.router.settings import RouterSettings
from numproxy.router.store import rows
from numproxy.router.store.dialect import create_engine
from numproxy.router.store.models import Interaction, OptOut, Pool, PoolSendCount
from numproxy.router.store.queries import Claimed
from tests.conftest import fresh_postgres_database
from tests.support.events import written
from tests.support.fake_sender import FakeSender, serve_fake_sender
from tests.support.postgres import PostgresServer
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    eventually,
    factory,
    interactions,
    make_router,
    sms,
)

V1, V2 = "+15557000001", "+15557000002"
ALICE = "+15550100001"
RECIPIENT = "+15550100002"
FAST: dict[str, Any] = {
    "dispatch_interval": 0.05,
    "retry_initial_backoff": 0.01,
    "retry_max_backoff": 0.02,
    "housekeeping_interval": 60.0,
}


@pytest.fixture
async def fake() -> FakeSender:
    return FakeSender()


@pytest.fixture
async def stub(fake: FakeSender) -> AsyncIterator[sender_pb2_grpc.SenderServiceStub]:
    async with serve_fake_sender(fake) as stub:
        yield stub


def make_dispatcher(
    engine: AsyncEngine,
    stub: sender_pb2_grpc.SenderServiceStub,
    settings: RouterSettings,
    clock: Clock,
) -> Dispatcher:
    """A dispatcher wired as the router's composition root wires it."""
    policy = RetryPolicy(settings)
    return Dispatcher(engine, stub, ResultRecorder(engine, clock, policy), policy, settings, clock)


class Dispatchers:
    """Builds dispatchers and stops whatever a test left running."""

    def __init__(self, engine: AsyncEngine, stub: sender_pb2_grpc.SenderServiceStub) -> None:
        self.engine = engine
        self.stub = stub
        self.running: list[Dispatcher] = []

    def make(self, clock: Clock | None = None, **settings: Any) -> Dispatcher:
        return make_dispatcher(
            self.engine,
            self.stub,
            RouterSettings(**{**FAST, **settings}),
            clock or SystemClock(),
        )

    async def start(self, clock: Clock | None = None, **settings: Any) -> Dispatcher:
        dispatcher = self.make(clock, **settings)
        await dispatcher.start()
        self.running.append(dispatcher)
        return dispatcher


@pytest.fixture
async def dispatchers(
    engine: AsyncEngine, stub: sender_pb2_grpc.SenderServiceStub
) -> AsyncIterator[Dispatchers]:
    made = Dispatchers(engine, stub)
    yield made
    for dispatcher in made.running:
        await dispatcher.stop()


async def queue(engine: AsyncEngine, count: int = 1, now: datetime | None = None) -> list[str]:
    async with factory(engine)() as db, db.begin():
        queued = [
            rows.outbound(
                now=now or datetime.now(UTC),
                proxy_number=V1,
                recipient_number=RECIPIENT,
                text=f"message {n}",
            )
            for n in range(count)
        ]
        db.add_all([Interaction(**row) for row in queued])
        return [str(row["id"]) for row in queued]


async def row(engine: AsyncEngine, row_id: str) -> Interaction:
    async with factory(engine)() as db:
        found = await db.get(Interaction, row_id)
        assert found is not None
        return found


async def until_status(engine: AsyncEngine, row_ids: list[str], status: str) -> None:
    async def settled() -> bool:
        async with factory(engine)() as db:
            statuses = (
                await db.scalars(select(Interaction.status).where(Interaction.id.in_(row_ids)))
            ).all()
        return len(statuses) == len(row_ids) and set(statuses) == {status}

    await eventually(settled)


async def test_notify_sends_at_once_with_the_row_id_as_idempotency_key(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    # A poll interval far longer than the test: only notify() can trigger the send.
    dispatcher = await dispatchers.start(dispatch_interval=3600)
    [row_id] = await queue(engine)
    dispatcher.notify()

    await until_status(engine, [row_id], "SENT")

    [call] = fake.calls
    assert (call.from_number, call.to_number, call.text, call.idempotency_key) == (
        V1,
        RECIPIENT,
        "message 0",
        row_id,
    )
    sent = await row(engine, row_id)
    assert sent.provider_message_ids == [f"{row_id[:8]}-1", f"{row_id[:8]}-2"]
    assert (sent.attempts, sent.next_attempt_at, sent.failure_reason) == (1, None, "")


async def test_unavailable_is_retried_and_the_row_sent_once(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = ProviderUnavailable("provider unreachable")
    fake.fail_first = 2
    [row_id] = await queue(engine)

    await dispatchers.start()
    await until_status(engine, [row_id], "SENT")

    assert fake.calls_for(row_id) == 3
    assert fake.successes == Counter({row_id: 1})
    assert (await row(engine, row_id)).attempts == 3


async def test_permanent_error_fails_at_once_with_the_reason(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = InvalidArgument(
        f"provider rejected the message: status 3 (Invalid to {RECIPIENT})",
        reason="PROVIDER_STATUS_3",
    )
    fake.fail_first = 100
    [row_id] = await queue(engine)

    await dispatchers.start()
    await until_status(engine, [row_id], "FAILED")

    failed = await row(engine, row_id)
    assert failed.failure_reason.startswith("PROVIDER_STATUS_3: provider rejected the message")
    assert RECIPIENT not in failed.failure_reason
    assert RECIPIENT.lstrip("+") not in failed.failure_reason
    assert (failed.attempts, failed.next_attempt_at) == (1, None)
    assert fake.calls_for(row_id) == 1


async def test_transient_provider_status_is_retried_whatever_the_code(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = FailedPrecondition("partner quota exceeded", reason="PROVIDER_STATUS_9")
    fake.fail_first = 1
    [row_id] = await queue(engine)

    await dispatchers.start()
    await until_status(engine, [row_id], "SENT")

    assert (await row(engine, row_id)).attempts == 2


async def test_gives_up_after_the_maximum_attempts(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = ProviderUnavailable("provider unreachable", reason="PROVIDER_UNREACHABLE")
    fake.fail_first = 100
    [row_id] = await queue(engine)

    await dispatchers.start(max_send_attempts=3)
    await until_status(engine, [row_id], "FAILED")

    failed = await row(engine, row_id)
    assert failed.failure_reason.startswith("PROVIDER_UNREACHABLE")
    assert failed.failure_reason.endswith("(gave up after 3 attempts)")
    assert failed.attempts == 3
    assert fake.calls_for(row_id) == 3


async def test_gives_up_once_the_message_is_too_old(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = ProviderUnavailable("provider unreachable")
    fake.fail_first = 100
    [row_id] = await queue(engine, now=datetime.now(UTC) - timedelta(hours=2))

    await dispatchers.start(max_send_age=3600)
    await until_status(engine, [row_id], "FAILED")

    assert fake.calls_for(row_id) == 1


async def test_rows_queued_before_a_crash_are_sent_after_start(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    row_ids = await queue(engine, 5)  # no dispatcher running: as if it had crashed

    await dispatchers.start(dispatch_interval=3600)
    await until_status(engine, row_ids, "SENT")

    assert fake.successes == Counter(dict.fromkeys(row_ids, 1))


async def test_row_claimed_by_a_crashed_process_is_retried_after_its_lease(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    clock = FakeClock()
    [row_id] = await queue(engine, now=clock.now())
    # What a claim leaves behind when its process dies before recording the result.
    async with factory(engine)() as db, db.begin():
        await db.execute(
            update(Interaction)
            .where(Interaction.id == row_id)
            .values(attempts=1, next_attempt_at=clock.now() + timedelta(seconds=60))
        )
    dispatcher = dispatchers.make(clock, dispatch_lease=60)

    assert await dispatcher.dispatch_once() == 0
    clock.advance(61)
    assert await dispatcher.dispatch_once() == 1
    await until_status(engine, [row_id], "SENT")

    assert fake.calls_for(row_id) == 1
    assert (await row(engine, row_id)).attempts == 2


async def test_sends_are_bounded_by_the_concurrency_setting(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.gate = asyncio.Event()
    row_ids = await queue(engine, 7)

    await dispatchers.start(dispatch_concurrency=3)
    await eventually(lambda: _true_when(fake.in_flight == 3))
    fake.gate.set()
    await until_status(engine, row_ids, "SENT")

    assert fake.max_in_flight == 3
    assert len(fake.calls) == 7


async def test_stop_lets_in_flight_sends_finish(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.gate = asyncio.Event()
    [row_id] = await queue(engine)
    dispatcher = dispatchers.make(shutdown_grace=30)
    await dispatcher.start()
    await eventually(lambda: _true_when(fake.in_flight == 1))

    stopping = asyncio.create_task(dispatcher.stop())
    fake.gate.set()
    await stopping

    assert (await row(engine, row_id)).status == "SENT"


async def test_stop_hands_back_sends_that_outlive_the_grace(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.gate = asyncio.Event()
    [row_id] = await queue(engine)
    dispatcher = dispatchers.make(shutdown_grace=0.1, dispatch_lease=600)
    await dispatcher.start()
    await eventually(lambda: _true_when(fake.in_flight == 1))

    await dispatcher.stop()

    handed_back = await row(engine, row_id)
    assert handed_back.status == "QUEUED"
    assert handed_back.next_attempt_at is not None
    assert as_utc(handed_back.next_attempt_at) <= datetime.now(UTC)
    # Another process picks it up at once rather than after the 10-minute lease.
    fake.gate.set()
    await dispatchers.start()
    await until_status(engine, [row_id], "SENT")


async def test_two_dispatchers_on_one_postgres_never_send_a_row_twice(
    postgres_server: PostgresServer,
) -> None:
    url = fresh_postgres_database(postgres_server)
    engines = [create_engine(url), create_engine(url)]
    fakes = [FakeSender(), FakeSender()]
    for fake in fakes:
        fake.latency = 0.002
    try:
        row_ids = await queue(engines[0], 300)
        async with serve_fake_sender(fakes[0]) as stub_a, serve_fake_sender(fakes[1]) as stub_b:
            replicas = [
                make_dispatcher(
                    engine,
                    stub,
                    RouterSettings(**FAST, dispatch_concurrency=4),
                    SystemClock(),
                )
                for engine, stub in zip(engines, (stub_a, stub_b), strict=True)
            ]
            for replica in replicas:
                await replica.start()
            try:
                await until_status(engines[0], row_ids, "SENT")
            finally:
                for replica in replicas:
                    await replica.stop()
    finally:
        for engine in engines:
            await engine.dispose()

    calls = Counter(call.idempotency_key for fake in fakes for call in fake.calls)
    assert calls == Counter(dict.fromkeys(row_ids, 1))
    # The work was shared.
    assert all(fake.calls for fake in fakes)


def sent_once(fake: FakeSender, row_ids: list[str]) -> bool:
    """Each row was sent exactly once, and nothing else was."""
    return Counter(call.idempotency_key for call in fake.calls) == Counter(
        dict.fromkeys(row_ids, 1)
    )


async def _true_when(condition: bool) -> bool:
    return condition


async def test_housekeeping_routes_timed_out_multipart_and_sends_it(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)])
    router, _ = make_router(engine, FakeClock(datetime.now(UTC)))
    stored = await router.receive(
        sms(ALICE, V1, "first half ", concat_ref="c1", concat_total=2, concat_part=1)
    )
    assert stored.outcome is Outcome.PART_STORED

    settings = RouterSettings(**{**FAST, "multipart_timeout": 0.2, "housekeeping_interval": 0.05})
    dispatcher = await dispatchers.start(**settings.model_dump(include={"multipart_timeout"}))
    pipeline = InboundPipeline(engine, settings, SystemClock(), dispatcher, concurrency=1)
    housekeeping = InboundHousekeeping(engine, pipeline, settings, SystemClock())
    await housekeeping.start()

    async def delivered_to_sender() -> bool:
        return [(c.from_number, c.to_number, c.text) for c in fake.calls] == [
            (V2, RECIPIENT, "first half ")
        ]

    await eventually(delivered_to_sender)
    await housekeeping.stop()
    [inbound] = await interactions(engine, "INBOUND")
    assert inbound.note == "incomplete: parts 1 of 2"


async def test_partial_failure_is_final_even_with_a_transient_status(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    # Part 1 went out, part 2 was throttled: a retry would send part 1 a second time.
    fake.failure = FailedPrecondition(
        "partial failure (1 of 2 parts sent): provider rejected the message: status 1",
        reason="PROVIDER_STATUS_1",
        metadata={"partial": "true", "parts_accepted": "1", "parts_total": "2"},
    )
    fake.fail_first = 100
    [row_id] = await queue(engine)

    await dispatchers.start()
    await until_status(engine, [row_id], "FAILED")

    failed = await row(engine, row_id)
    assert failed.failure_reason.startswith("PROVIDER_STATUS_1: partial failure (1 of 2 parts")
    assert fake.calls_for(row_id) == 1


# The fast path: rows written leased by the inbound pipeline and handed over in memory.


class Counting:
    """The dispatcher as the pipeline's hand-off, counting notify() (rows written due)."""

    def __init__(self, inner: Handoff) -> None:
        self.inner = inner
        self.notified = 0

    def reserve(self, count: int) -> int:
        return self.inner.reserve(count)

    def release(self, count: int) -> None:
        self.inner.release(count)

    async def submit(self, rows: Iterable[Claimed]) -> None:
        await self.inner.submit(rows)

    def notify(self) -> None:
        self.notified += 1
        self.inner.notify()


def batcher_for(engine: AsyncEngine, clock: Clock, handoff: Handoff) -> InboundPipeline:
    return InboundPipeline(engine, RouterSettings(**FAST), clock, handoff, concurrency=1)


async def test_rows_handed_over_in_memory_are_sent_once_without_a_claim(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)])
    # No poll within the test and no notify(): only the handover can send.
    dispatcher = await dispatchers.start(dispatch_interval=3600)
    handoff = Counting(dispatcher)
    batcher = batcher_for(engine, SystemClock(), handoff)

    results = await asyncio.gather(*(batcher.receive(sms(ALICE, V1, f"m{n}")) for n in range(20)))

    assert {r.outcome for r in results} == {Outcome.FORWARDED}
    row_ids = [i.id for i in await interactions(engine, "OUTBOUND")]
    assert len(row_ids) == 20
    await until_status(engine, row_ids, "SENT")
    assert Counter(call.idempotency_key for call in fake.calls) == Counter(
        dict.fromkeys(row_ids, 1)
    )
    assert {(await row(engine, row_id)).attempts for row_id in row_ids} == {1}
    assert handoff.notified == 0


class _CrashAfterCommit:
    """Takes the rows' room, then 'dies' before sending them."""

    def reserve(self, count: int) -> int:
        return count

    def release(self, count: int) -> None:
        pass

    async def submit(self, rows: Iterable[Claimed]) -> None:
        pass

    def notify(self) -> None:
        raise AssertionError("every row was leased")


async def test_rows_of_a_router_that_died_after_its_commit_are_sent_after_the_lease(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    clock = FakeClock()
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)], now=clock.now())
    batcher = batcher_for(engine, clock, _CrashAfterCommit())
    await asyncio.gather(*(batcher.receive(sms(ALICE, V1, f"m{n}")) for n in range(3)))
    row_ids = [i.id for i in await interactions(engine, "OUTBOUND")]
    assert len(row_ids) == 3  # leased to the dead router: nothing for the loops to claim yet
    other = dispatchers.make(clock, dispatch_lease=60)

    assert await other.dispatch_once() == 0
    clock.advance(61)
    assert await other.dispatch_once() == 3
    await until_status(engine, row_ids, "SENT")

    assert Counter(call.idempotency_key for call in fake.calls) == Counter(
        dict.fromkeys(row_ids, 1)
    )
    assert {(await row(engine, row_id)).attempts for row_id in row_ids} == {2}


async def test_room_for_handed_over_rows_is_bounded(
    dispatchers: Dispatchers,
) -> None:
    dispatcher = dispatchers.make(dispatch_concurrency=2, dispatch_queue_max=1)

    assert dispatcher.reserve(5) == 3
    assert dispatcher.reserve(1) == 0
    dispatcher.release(2)
    assert dispatcher.reserve(4) == 2


async def test_rows_beyond_the_room_are_written_due_and_claimed_by_the_loop(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.gate = asyncio.Event()
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)])
    dispatcher = await dispatchers.start(
        dispatch_concurrency=2, dispatch_queue_max=0, dispatch_interval=3600
    )
    handoff = Counting(dispatcher)
    batcher = batcher_for(engine, SystemClock(), handoff)

    await asyncio.gather(*(batcher.receive(sms(ALICE, V1, f"m{n}")) for n in range(6)))

    outbound = await interactions(engine, "OUTBOUND")
    leased = [i for i in outbound if i.attempts == 1]
    due = [i for i in outbound if i.attempts == 0]
    assert len(leased) == 2 and len(due) == 4
    assert handoff.notified >= 1
    now = datetime.now(UTC)
    assert all(i.next_attempt_at is not None and as_utc(i.next_attempt_at) <= now for i in due)
    # The dispatcher's loop claims the due rows once it is told and has free slots.
    dispatcher.notify()
    fake.gate.set()
    row_ids = [i.id for i in outbound]
    await until_status(engine, row_ids, "SENT")
    assert Counter(call.idempotency_key for call in fake.calls) == Counter(
        dict.fromkeys(row_ids, 1)
    )


async def test_rows_handed_over_while_stopping_are_handed_back(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    [row_id] = await queue(engine)
    dispatcher = dispatchers.make(dispatch_lease=600)
    async with factory(engine)() as db, db.begin():
        await db.execute(
            update(Interaction)
            .where(Interaction.id == row_id)
            .values(attempts=1, next_attempt_at=datetime.now(UTC) + timedelta(seconds=600))
        )
    assert dispatcher.reserve(1) == 1
    await dispatcher.stop()

    await dispatcher.submit([Claimed(row_id, V1, RECIPIENT, "message 0")])

    assert not fake.calls
    handed_back = await row(engine, row_id)
    assert handed_back.next_attempt_at is not None
    assert as_utc(handed_back.next_attempt_at) <= datetime.now(UTC)


async def test_receipts_that_raced_ahead_of_the_send_result_settle_the_row(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    delivered, failed = await queue(engine, 2)
    # Receipts recorded while the sends were in flight (before their results).
    async with factory(engine)() as db, db.begin():
        for row_id, status in ((delivered, "delivered"), (failed, "failed")):
            parts = {f"{row_id[:8]}-{n}": {"status": status, "error_code": "0"} for n in (1, 2)}
            await db.execute(
                update(Interaction).where(Interaction.id == row_id).values(part_statuses=parts)
            )
    dispatcher = await dispatchers.start()
    dispatcher.notify()

    await until_status(engine, [delivered], "DELIVERED")
    await until_status(engine, [failed], "FAILED")

    sent = await row(engine, delivered)
    assert sent.provider_message_ids == [f"{delivered[:8]}-1", f"{delivered[:8]}-2"]
    assert sent.next_attempt_at is None
    assert (await row(engine, failed)).failure_reason.startswith("DELIVERY_FAILED")


async def test_rows_of_one_inbound_batch_cross_to_the_sender_in_one_call(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)])
    dispatcher = await dispatchers.start(dispatch_interval=3600)
    batcher = batcher_for(engine, SystemClock(), dispatcher)

    await asyncio.gather(*(batcher.receive(sms(ALICE, V1, f"m{n}")) for n in range(20)))
    row_ids = [i.id for i in await interactions(engine, "OUTBOUND")]
    await until_status(engine, row_ids, "SENT")

    assert sum(fake.batches) == 20
    assert len(fake.batches) < 20  # calls carried several messages
    assert sent_once(fake, row_ids)


async def test_one_failed_message_of_a_batch_fails_alone(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    fake.failure = InvalidArgument("to_number is not a valid number", reason="INVALID_NUMBER")
    fake.fail_texts = {"message 1"}
    row_ids = await queue(engine, 3)

    await dispatchers.start()
    await until_status(engine, [row_ids[0], row_ids[2]], "SENT")
    await until_status(engine, [row_ids[1]], "FAILED")

    assert fake.batches == [3]
    assert (await row(engine, row_ids[1])).failure_reason.startswith("INVALID_NUMBER")


# --- what the claim refuses: rows to an opted-out pair (OPTED_OUT, queued before the STOP
# included) and rows over their pool's daily send budget (POOL_DAILY_BUDGET), each with its
# OUTBOUND_FAILED event.


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


async def test_inbound_copies_for_an_opted_out_or_budgeted_pair_go_through_the_claim(
    engine: AsyncEngine, dispatchers: Dispatchers, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1, V2])
    budgeted = await add_pool(engine, ["+15557000011", "+15557000012"], name="paid")
    async with factory(engine)() as db, db.begin():
        paid = await db.get(Pool, budgeted)
        assert paid is not None
        paid.daily_send_budget = 1
    # A session from before opted-out pairs stopped being allocated: RECIPIENT stopped V2.
    await add_session(engine, pool, [(ALICE, V1), (RECIPIENT, V2)])
    await add_session(engine, budgeted, [(ALICE, "+15557000011"), (RECIPIENT, "+15557000012")])
    await opt_out(engine, RECIPIENT, V2, datetime.now(UTC) - timedelta(days=1))
    dispatcher = await dispatchers.start(dispatch_interval=3600)
    handoff = Counting(dispatcher)
    batcher = batcher_for(engine, SystemClock(), handoff)

    await batcher.receive(sms(ALICE, V1, "to a stopped number"))
    await batcher.receive(sms(ALICE, "+15557000011", "paid one"))
    await batcher.receive(sms(ALICE, "+15557000011", "paid two"))

    # Each copy was written due for the loop's claim (told by notify), none handed over.
    assert handoff.notified == 3
    outbound = {i.text: i for i in await interactions(engine, "OUTBOUND")}
    await until_status(engine, [outbound["paid one"].id], "SENT")
    await until_status(
        engine, [outbound["to a stopped number"].id, outbound["paid two"].id], "FAILED"
    )
    reasons = {i.text: i.failure_reason for i in await interactions(engine, "OUTBOUND")}
    assert reasons["to a stopped number"] == "OPTED_OUT"
    assert reasons["paid two"] == "POOL_DAILY_BUDGET"
    assert [call.text for call in fake.calls] == ["paid one"]
