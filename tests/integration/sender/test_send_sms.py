"""SendSms end to end: the real sender gRPC service against the real simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from pydantic import SecretStr

from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc
from tests.integration.sender.helpers import SIGNATURE_SECRET, SenderFactory, Sim

FROM, TO = "+447700900001", "+447700900002"


def request(text: str = "hello", key: str = "", to: str = TO) -> sender_pb2.SendSmsRequest:
    return sender_pb2.SendSmsRequest(from_number=FROM, to_number=to, text=text, idempotency_key=key)


async def failure(
    stub: sender_pb2_grpc.SenderServiceAsyncStub, req: sender_pb2.SendSmsRequest, **kw: Any
) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.SendSms(req, **kw)
    info = error_info(raised.value)
    assert info is not None
    return raised.value.code(), info.reason, dict(info.metadata)


async def test_success_with_ids_parts_and_price(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender() as sender:
        reply = await sender.stub.SendSms(request("a" * 200, key="out-1"), timeout=5)
    assert reply.message_count == 2
    assert len(reply.message_ids) == 2
    assert reply.encoding == sender_pb2.ENCODING_GSM7
    assert reply.message_price == "0.06660000"
    assert reply.remaining_balance == "999999.93340000"
    [sent] = await simulator.outbox()
    assert sent["from"] == FROM[1:]
    assert sent["to"] == TO[1:]
    assert sent["client_ref"] == "out-1"
    assert sent["type"] == "text"
    assert sent["parts"] == 2
    assert sent["message_ids"] == list(reply.message_ids)


async def test_unicode_text_is_sent_as_unicode(start_sender: SenderFactory, simulator: Sim) -> None:
    async with start_sender() as sender:
        reply = await sender.stub.SendSms(request("Привет 😀"), timeout=5)
    assert reply.encoding == sender_pb2.ENCODING_UCS2
    assert (await simulator.outbox())[0]["type"] == "unicode"


@pytest.mark.parametrize(
    ("overrides", "text", "code", "status", "error_text"),
    [
        ({}, "", grpc.StatusCode.INVALID_ARGUMENT, 2, "Missing text param"),
        ({"ttl_ms": 100}, "hi", grpc.StatusCode.INVALID_ARGUMENT, 3, "Invalid ttl param"),
        (
            {"api_secret": SecretStr("wrong")},
            "hi",
            grpc.StatusCode.PERMISSION_DENIED,
            4,
            "Bad Credentials",
        ),
        ({}, "a" * 3201, grpc.StatusCode.INVALID_ARGUMENT, 12, "Message too long"),
        (
            {
                "auth_method": "signature",
                "signature_secret": SecretStr("not-the-secret"),
                "signature_method": "sha256",
            },
            "hi",
            grpc.StatusCode.PERMISSION_DENIED,
            14,
            "Invalid Signature",
        ),
    ],
)
async def test_provider_rejections(
    start_sender: SenderFactory,
    simulator: Sim,
    overrides: dict[str, Any],
    text: str,
    code: grpc.StatusCode,
    status: int,
    error_text: str,
) -> None:
    async with start_sender(**overrides) as sender:
        got = await failure(sender.stub, request(text), timeout=5)
    assert got == (
        code,
        f"PROVIDER_STATUS_{status}",
        {"status": str(status), "error_text": error_text},
    )
    assert await simulator.outbox() == []


async def test_signature_auth_is_accepted(start_sender: SenderFactory, simulator: Sim) -> None:
    signing = {
        "auth_method": "signature",
        "signature_secret": SecretStr(SIGNATURE_SECRET),
        "signature_method": "sha256",
        "api_secret": SecretStr(""),
    }
    async with start_sender(**signing) as sender:
        reply = await sender.stub.SendSms(request(), timeout=5)
    assert len(reply.message_ids) == 1
    assert len(await simulator.outbox()) == 1


async def test_status_32_is_permission_denied(start_sender: SenderFactory, simulator: Sim) -> None:
    await simulator.configure(status_queue=[32])
    async with start_sender() as sender:
        code, reason, meta = await failure(sender.stub, request(), timeout=5)
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PROVIDER_STATUS_32")
    assert meta["error_text"] == "Signature and api secret disallowed"


async def test_http_500_is_unavailable_and_nothing_sent(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    await simulator.configure(error_rate=1.0)
    async with start_sender() as sender:
        code, reason, _ = await failure(sender.stub, request(), timeout=5)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "PROVIDER_HTTP_500")
    assert await simulator.outbox() == []
    assert (await simulator.stats())["http_500"] == 1


async def test_unreachable_provider_is_unavailable(start_sender: SenderFactory) -> None:
    async with start_sender(base_url="http://127.0.0.1:9") as sender:
        code, reason, _ = await failure(sender.stub, request(), timeout=5)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNREACHABLE")


async def test_throttled_requests_are_retried_until_accepted(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    await simulator.configure(rate_limit=3)
    async with start_sender(rate_limit=0) as sender:
        replies = await asyncio.gather(
            *(sender.stub.SendSms(request(f"m{i}", key=f"k{i}"), timeout=10) for i in range(8))
        )
    assert all(len(r.message_ids) == 1 for r in replies)
    stats = await simulator.stats()
    assert stats["throttled"] > 0
    assert stats["messages_accepted"] == 8
    assert len(await simulator.outbox()) == 8


async def test_transient_statuses_are_retried(start_sender: SenderFactory, simulator: Sim) -> None:
    await simulator.configure(status_queue=[10, 13, 5])
    async with start_sender(retry_initial_backoff=0.01) as sender:
        reply = await sender.stub.SendSms(request(), timeout=5)
    assert len(reply.message_ids) == 1
    assert (await simulator.stats())["statuses"] == {"0": 1, "5": 1, "10": 1, "13": 1}


async def test_transient_status_until_the_deadline_is_unavailable(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    await simulator.configure(status_queue=[13] * 1000)
    async with start_sender(retry_initial_backoff=0.05, retry_max_backoff=0.1) as sender:
        code, reason, meta = await failure(sender.stub, request(), timeout=0.6)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "PROVIDER_STATUS_13")
    assert meta["error_text"] == "Communication Failed"


async def test_latency_beyond_the_deadline_is_deadline_exceeded(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    await simulator.configure(latency_ms=1500)
    async with start_sender() as sender:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await sender.stub.SendSms(request(), timeout=0.5)
    # The sender answers just before the deadline (reason PROVIDER_TIMEOUT) unless the
    # client's own deadline fires first; either way the caller sees DEADLINE_EXCEEDED.
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_http_timeout_without_deadline_is_deadline_exceeded(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    await simulator.configure(latency_ms=1000)
    async with start_sender(http_timeout=0.2) as sender:
        code, reason, _ = await failure(sender.stub, request())
    assert (code, reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "PROVIDER_TIMEOUT")


async def test_partial_failure_is_reported(start_sender: SenderFactory, simulator: Sim) -> None:
    await simulator.configure(status_queue=[[0, 7]])
    async with start_sender() as sender:
        code, reason, meta = await failure(sender.stub, request("b" * 200), timeout=5)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PROVIDER_STATUS_7")
    assert meta["partial"] == "true"
    assert (meta["parts_accepted"], meta["parts_total"]) == ("1", "2")


async def test_repeated_key_does_not_send_twice(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender() as sender:
        first = await sender.stub.SendSms(request(key="same"), timeout=5)
        second = await sender.stub.SendSms(request(key="same"), timeout=5)
        concurrent = await asyncio.gather(
            *(sender.stub.SendSms(request(key="other"), timeout=5) for _ in range(5))
        )
    assert list(first.message_ids) == list(second.message_ids)
    assert len({tuple(r.message_ids) for r in concurrent}) == 1
    assert [m["client_ref"] for m in await simulator.outbox()] == ["same", "other"]


async def test_invalid_number_is_rejected_before_the_provider(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender() as sender:
        code, reason, _ = await failure(sender.stub, request(to="12"), timeout=5)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NUMBER")
    assert (await simulator.stats())["requests"] == 0


async def test_client_rate_limit_keeps_the_provider_from_throttling(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    # Both at 30/s: a burst of 75 takes ~2.5 s and the simulator never answers status 1.
    async with start_sender(rate_limit=30) as sender:
        replies = await asyncio.gather(
            *(sender.stub.SendSms(request(f"burst {i}"), timeout=10) for i in range(75))
        )
    assert len(replies) == 75
    stats = await simulator.stats()
    assert stats["throttled"] == 0
    assert stats["messages_accepted"] == 75


async def test_health_reflects_credentials(start_sender: SenderFactory) -> None:
    async with start_sender() as sender:
        assert await is_serving(sender.channel, "numproxy.internal.v1.SenderService")
    async with start_sender(api_key="") as sender:
        assert not await is_serving(sender.channel, "numproxy.internal.v1.SenderService")


async def test_a_batch_answers_each_message_as_sendsms_would(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender() as sender:
        reply = await sender.stub.SendSmsBatch(
            sender_pb2.SendSmsBatchRequest(
                messages=[
                    request("first", key="b-1"),
                    request("bad", key="b-2", to="not-a-number"),
                    request("third", key="b-3"),
                ]
            ),
            timeout=5,
        )
        again = await sender.stub.SendSms(request("first", key="b-1"), timeout=5)

    first, bad, third = reply.results
    assert first.WhichOneof("outcome") == "sent" and third.WhichOneof("outcome") == "sent"
    assert bad.WhichOneof("outcome") == "error"
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bad.error.reason == "INVALID_NUMBER"
    # What the provider received: the two good messages, once each (the key replays).
    assert sorted(m["client_ref"] for m in await simulator.outbox()) == ["b-1", "b-3"]
    assert list(again.message_ids) == list(first.sent.message_ids)


async def test_a_batch_over_the_bound_is_refused(start_sender: SenderFactory) -> None:
    async with start_sender() as sender:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await sender.stub.SendSmsBatch(
                sender_pb2.SendSmsBatchRequest(messages=[request()] * 501), timeout=5
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None and info.reason == "BATCH_TOO_LARGE"
