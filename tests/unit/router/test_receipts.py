"""Delivery receipts: per-part aggregation into the outbound status (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.outbox.receipts import DeliveryReceipt, ReceiptRecorder
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import RetryPolicy, Sent
from numproxy.router.settings import RouterSettings
from numproxy.router.store import rows
from numproxy.router.store.models import Interaction
from tests.support.router_inbound import START, FakeClock, factory

BOB, V2 = "+15550100002", "+15557000002"


async def _outbound(engine: AsyncEngine, message_ids: list[str], status: str = "SENT") -> str:
    async with factory(engine)() as db, db.begin():
        row = Interaction(
            **rows.outbound(now=START, proxy_number=V2, recipient_number=BOB, text="hi")
        )
        row.status = status
        row.provider_message_ids = message_ids
        db.add(row)
        return row.id


async def _row(engine: AsyncEngine, row_id: str) -> Interaction:
    async with factory(engine)() as db:
        row = await db.get(Interaction, row_id)
        assert row is not None
        return row


def _recorder(engine: AsyncEngine, clock: FakeClock | None = None) -> ReceiptRecorder:
    return ReceiptRecorder(engine, clock or FakeClock())


async def test_delivered_when_every_part_is_delivered(engine: AsyncEngine) -> None:
    row_id = await _outbound(engine, ["p1", "p2"])
    recorder = _recorder(engine)

    assert await recorder.record(DeliveryReceipt("p1", "delivered", 0, row_id))
    assert (await _row(engine, row_id)).status == "SENT"
    assert await recorder.record(DeliveryReceipt("p2", "accepted", 0, row_id))
    assert (await _row(engine, row_id)).status == "SENT"
    assert await recorder.record(DeliveryReceipt("p2", "delivered", 0, row_id))

    row = await _row(engine, row_id)
    assert row.status == "DELIVERED"
    assert row.part_statuses == {
        "p1": {"status": "delivered", "error_code": 0},
        "p2": {"status": "delivered", "error_code": 0},
    }


async def test_any_failed_part_fails_the_message_with_the_error_code(engine: AsyncEngine) -> None:
    row_id = await _outbound(engine, ["p1", "p2"])
    recorder = _recorder(engine)

    await recorder.record(DeliveryReceipt("p1", "delivered", 0, row_id))
    await recorder.record(DeliveryReceipt("p2", "failed", 9, row_id))

    row = await _row(engine, row_id)
    assert row.status == "FAILED"
    assert row.failure_reason.startswith("DELIVERY_FAILED: err-code 9 (illegal number")


async def test_duplicate_and_late_intermediate_receipts_change_nothing(
    engine: AsyncEngine,
) -> None:
    row_id = await _outbound(engine, ["p1"])
    clock = FakeClock()
    recorder = _recorder(engine, clock)
    await recorder.record(DeliveryReceipt("p1", "delivered", 0, row_id))
    before = await _row(engine, row_id)
    clock.advance(60)

    assert await recorder.record(DeliveryReceipt("p1", "delivered", 0, row_id))
    assert await recorder.record(DeliveryReceipt("p1", "buffered", 0, row_id))

    after = await _row(engine, row_id)
    assert after.status == "DELIVERED"
    assert after.part_statuses == before.part_statuses
    assert after.updated_at == before.updated_at


async def test_matched_by_provider_message_id_without_client_ref(engine: AsyncEngine) -> None:
    row_id = await _outbound(engine, ["0C000000217B7F02"])
    await _outbound(engine, ["0C000000217B7F03"])

    matched = await _recorder(engine).record(DeliveryReceipt("0C000000217B7F02", "delivered"))

    assert matched
    assert (await _row(engine, row_id)).status == "DELIVERED"


async def test_foreign_client_ref_falls_back_to_the_message_id(engine: AsyncEngine) -> None:
    row_id = await _outbound(engine, ["abc_1"])

    matched = await _recorder(engine).record(DeliveryReceipt("abc_1", "expired", 3, "not-ours"))

    assert matched
    assert (await _row(engine, row_id)).status == "FAILED"


async def test_unknown_receipt_is_not_matched(engine: AsyncEngine) -> None:
    await _outbound(engine, ["p1"])

    matched = await _recorder(engine).record(DeliveryReceipt("zzz", "delivered", 0, "nope"))

    assert not matched


async def test_receipt_racing_ahead_of_the_send_result_is_kept(engine: AsyncEngine) -> None:
    row_id = await _outbound(engine, [], status="QUEUED")

    assert await _recorder(engine).record(DeliveryReceipt("p1", "delivered", 0, row_id))
    row = await _row(engine, row_id)
    assert row.status == "QUEUED"

    # The send result arrives: the receipt already there settles the row.
    results = ResultRecorder(engine, FakeClock(), RetryPolicy(RouterSettings()))
    await results.record(row_id, Sent(("p1",)))
    assert (await _row(engine, row_id)).status == "DELIVERED"


async def test_concurrent_receipts_for_different_parts_are_all_kept(engine: AsyncEngine) -> None:
    ids = [f"p{n}" for n in range(6)]
    row_id = await _outbound(engine, ids)
    recorder = _recorder(engine)

    await asyncio.gather(
        *(recorder.record(DeliveryReceipt(i, "delivered", 0, row_id)) for i in ids)
    )

    row = await _row(engine, row_id)
    assert sorted(row.part_statuses) == ids
    assert row.status == "DELIVERED"
