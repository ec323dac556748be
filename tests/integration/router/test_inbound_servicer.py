"""InboundService over a real grpc.aio server: proto <-> domain, errors, and the whole path
inbound SMS -> outbox -> SenderService -> delivery receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import ErrorMappingInterceptor, error_info
from numproxy.common.grpc_client import open_channel
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.router.api.errors import database_outage
from numproxy.router.api.inbound_servicer import InboundServicer
from numproxy.router.clock import SystemClock
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.outbox.dispatcher import Dispatcher
from numproxy.router.outbox.receipts import ReceiptRecorder
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import RetryPolicy
from numproxy.router.settings import RouterSettings
from tests.support.fake_sender import FakeSender, serve_fake_sender
from tests.support.router_inbound import (
    add_pool,
    add_session,
    eventually,
    interactions,
)

ALICE, BOB = "+15550100001", "+15550100002"
V1, V2 = "+15557000001", "+15557000002"
SETTINGS = RouterSettings(dispatch_interval=0.05, housekeeping_interval=60)


@pytest.fixture
async def fake() -> FakeSender:
    return FakeSender()


@pytest.fixture
async def inbound(
    engine: AsyncEngine, fake: FakeSender
) -> AsyncIterator[inbound_pb2_grpc.InboundServiceAsyncStub]:
    async with serve_fake_sender(fake) as sender_stub:
        clock = SystemClock()
        policy = RetryPolicy(SETTINGS)
        dispatcher = Dispatcher(
            engine, sender_stub, ResultRecorder(engine, clock, policy), policy, SETTINGS, clock
        )
        pipeline = InboundPipeline(engine, SETTINGS, clock, dispatcher, concurrency=1)
        servicer = InboundServicer(pipeline, ReceiptRecorder(engine, clock))
        server = grpc.aio.server(interceptors=[ErrorMappingInterceptor(database_outage)])
        inbound_pb2_grpc.add_InboundServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await dispatcher.start()
        channel = open_channel(f"127.0.0.1:{port}")
        try:
            yield inbound_pb2_grpc.InboundServiceStub(channel)
        finally:
            await channel.close(None)
            await server.stop(None)
            await dispatcher.stop()


def _sms(**fields: object) -> inbound_pb2.ReceiveSmsRequest:
    base: dict[str, object] = {
        "message_id": "0B00000042AC53BD",
        "api_key": "abcd1234",
        "from_number": ALICE,
        "to_number": V1,
        "text": "Are you still selling the bike?",
        "type": inbound_pb2.MESSAGE_TYPE_TEXT,
    }
    return inbound_pb2.ReceiveSmsRequest(**{**base, **fields})  # type: ignore[arg-type]


async def test_message_is_forwarded_sent_and_delivered(
    engine: AsyncEngine, inbound: inbound_pb2_grpc.InboundServiceAsyncStub, fake: FakeSender
) -> None:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    reply = await inbound.ReceiveSms(_sms())
    again = await inbound.ReceiveSms(_sms())

    assert reply.outcome == inbound_pb2.INBOUND_OUTCOME_FORWARDED
    assert reply.session == f"sessions/{session_id}"
    assert again.outcome == inbound_pb2.INBOUND_OUTCOME_DUPLICATE

    async def sent() -> bool:
        return [o.status for o in await interactions(engine, "OUTBOUND")] == ["SENT"]

    await eventually(sent)
    [call] = fake.calls
    # Bob gets Alice's words from his own proxy number; Alice's number appears nowhere in it.
    assert (call.from_number, call.to_number, call.text) == (V2, BOB, _sms().text)
    assert ALICE not in str(call)
    [out] = await interactions(engine, "OUTBOUND")

    for message_id in out.provider_message_ids:
        receipt = await inbound.ReceiveDeliveryReceipt(
            inbound_pb2.ReceiveDeliveryReceiptRequest(
                message_id=message_id, status="delivered", client_ref=out.id, sender_id=V2
            )
        )
        assert receipt.matched
    [delivered] = await interactions(engine, "OUTBOUND")
    assert delivered.status == "DELIVERED"


async def test_out_of_session_and_multipart_outcomes(
    engine: AsyncEngine, inbound: inbound_pb2_grpc.InboundServiceAsyncStub
) -> None:
    await add_pool(engine, [V1, V2])

    dropped = await inbound.ReceiveSms(_sms(message_id="m1"))
    part = await inbound.ReceiveSms(
        _sms(message_id="m2", concat_ref="7f", concat_total=2, concat_part=1)
    )
    keyword = await inbound.ReceiveSms(_sms(message_id="m3", text="HELP"))

    assert (dropped.outcome, dropped.session) == (inbound_pb2.INBOUND_OUTCOME_DROPPED, "")
    assert part.outcome == inbound_pb2.INBOUND_OUTCOME_PART_STORED
    assert keyword.outcome == inbound_pb2.INBOUND_OUTCOME_KEYWORD


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"message_id": ""}, "MISSING_MESSAGE_ID"),
        ({"from_number": ""}, "INVALID_NUMBER"),
        ({"to_number": "not-a-number"}, "INVALID_NUMBER"),
        ({"message_id": "x" * 65}, "FIELD_TOO_LONG"),
        # Bounded multipart: the router never builds anything from these numbers.
        ({"concat_ref": "ab", "concat_total": 2147483647, "concat_part": 1}, "INVALID_CONCAT"),
        ({"concat_ref": "ab", "concat_total": 256, "concat_part": 1}, "INVALID_CONCAT"),
        ({"concat_ref": "ab", "concat_total": 3, "concat_part": 4}, "INVALID_CONCAT"),
        ({"concat_ref": "ab", "concat_total": -1, "concat_part": 1}, "INVALID_CONCAT"),
        # What PostgreSQL cannot store, or no message may hold: refused before any statement.
        ({"text": "nul \x00 inside"}, "INVALID_TEXT"),
        ({"text": "escape \x1b[31m"}, "INVALID_TEXT"),
        ({"text": "x" * 3201}, "INVALID_TEXT"),
        ({"api_key": "key\x00"}, "INVALID_CHARACTERS"),
        ({"concat_ref": "a\x00b", "concat_total": 2, "concat_part": 1}, "INVALID_CHARACTERS"),
        ({"message_id": "m\n1"}, "INVALID_CHARACTERS"),
    ],
)
async def test_invalid_sms_is_rejected_with_a_reason(
    inbound: inbound_pb2_grpc.InboundServiceAsyncStub, fields: dict[str, object], reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inbound.ReceiveSms(_sms(**fields))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None
    assert info.reason == reason
    # The router is still there for the next message.
    assert (await inbound.ReceiveSms(_sms(message_id="next"))).outcome


async def test_the_largest_multipart_sms_is_reassembled(
    engine: AsyncEngine, inbound: inbound_pb2_grpc.InboundServiceAsyncStub
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    outcomes = [
        (
            await inbound.ReceiveSms(
                _sms(
                    message_id=f"m{part}",
                    text=f"{part % 10}",
                    concat_ref="big",
                    concat_total=255,
                    concat_part=part,
                )
            )
        ).outcome
        for part in range(255, 0, -1)
    ]

    assert outcomes[-1] == inbound_pb2.INBOUND_OUTCOME_FORWARDED
    assert set(outcomes[:-1]) == {inbound_pb2.INBOUND_OUTCOME_PART_STORED}
    [out] = await interactions(engine, "OUTBOUND")
    assert out.text == "".join(f"{part % 10}" for part in range(1, 256))


async def test_a_reassembled_text_past_the_limit_is_recorded_not_forwarded(
    engine: AsyncEngine, inbound: inbound_pb2_grpc.InboundServiceAsyncStub
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    part_text = "y" * 3000  # each part within the bound, the whole not

    outcomes = [
        (
            await inbound.ReceiveSms(
                _sms(
                    message_id=f"long{part}",
                    text=part_text,
                    concat_ref="long",
                    concat_total=2,
                    concat_part=part,
                )
            )
        ).outcome
        for part in (1, 2)
    ]

    assert outcomes == [
        inbound_pb2.INBOUND_OUTCOME_PART_STORED,
        inbound_pb2.INBOUND_OUTCOME_RECORDED,
    ]
    assert await interactions(engine, "OUTBOUND") == []
    [recorded] = await interactions(engine, "INBOUND")
    assert recorded.text == part_text * 2
    assert recorded.note == "too long: 6000 characters (at most 3200), not forwarded"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"message_id": "0C00\x00"}, "INVALID_CHARACTERS"),
        ({"client_ref": "\x00" * 4}, "INVALID_CHARACTERS"),
        ({"client_ref": "c" * 101}, "FIELD_TOO_LONG"),
        ({"status": "delivered" * 3}, "FIELD_TOO_LONG"),
        ({"status": "deliv\x00ered"}, "INVALID_CHARACTERS"),
    ],
)
async def test_invalid_receipt_is_rejected_with_a_reason(
    inbound: inbound_pb2_grpc.InboundServiceAsyncStub, fields: dict[str, str], reason: str
) -> None:
    request = inbound_pb2.ReceiveDeliveryReceiptRequest(
        **{"message_id": "0C000000217B7F02", "status": "delivered", **fields}
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inbound.ReceiveDeliveryReceipt(request)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None
    assert info.reason == reason


async def test_unknown_receipt_is_acknowledged_unmatched(
    inbound: inbound_pb2_grpc.InboundServiceAsyncStub,
) -> None:
    reply = await inbound.ReceiveDeliveryReceipt(
        inbound_pb2.ReceiveDeliveryReceiptRequest(message_id="0C000000217B7F02", status="delivered")
    )

    assert not reply.matched


async def test_receipt_without_any_id_is_invalid(
    inbound: inbound_pb2_grpc.InboundServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inbound.ReceiveDeliveryReceipt(
            inbound_pb2.ReceiveDeliveryReceiptRequest(status="delivered")
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_batch_answers_each_sms_as_receive_sms_would(
    engine: AsyncEngine, inbound: inbound_pb2_grpc.InboundServiceAsyncStub
) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    reply = await inbound.ReceiveSmsBatch(
        inbound_pb2.ReceiveSmsBatchRequest(
            messages=[
                _sms(message_id="b1", text="one"),
                _sms(message_id="b2", from_number="not-a-number"),
                _sms(message_id="b1", text="one"),
                _sms(message_id="b3", text="three"),
            ]
        )
    )

    first, bad, again, third = reply.results
    assert first.received.outcome == inbound_pb2.INBOUND_OUTCOME_FORWARDED
    assert (bad.error.code, bad.error.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        "INVALID_NUMBER",
    )
    assert again.received.outcome == inbound_pb2.INBOUND_OUTCOME_DUPLICATE
    assert third.received.outcome == inbound_pb2.INBOUND_OUTCOME_FORWARDED
    assert [o.text for o in await interactions(engine, "OUTBOUND")] == ["one", "three"]


async def test_a_batch_over_the_bound_is_refused(
    inbound: inbound_pb2_grpc.InboundServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inbound.ReceiveSmsBatch(inbound_pb2.ReceiveSmsBatchRequest(messages=[_sms()] * 501))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None and info.reason == "BATCH_TOO_LARGE"
