"""Who may send: the router's identity, nobody else (the real sender on port 0)."""

from __future__ import annotations

import grpc

from numproxy.internal.v1 import sender_pb2
from tests.integration.sender.helpers import SenderFactory, Sim
from tests.integration.sender.test_send_sms import failure, request


async def test_the_router_sends(start_sender: SenderFactory, simulator: Sim) -> None:
    async with start_sender(caller="router") as sender:
        reply = await sender.stub.SendSms(request("hi"), timeout=5)
    assert reply.message_count == 1
    assert len(await simulator.outbox()) == 1


async def test_the_gateway_and_anonymous_callers_cannot_send(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender(caller="gateway") as sender:
        code, reason, metadata = await failure(sender.stub, request("hi"), timeout=5)
        batch = sender_pb2.SendSmsBatchRequest(messages=[request("hi")])
        try:
            await sender.stub.SendSmsBatch(batch, timeout=5)
            raise AssertionError("the batch was sent")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (code, reason, metadata) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
        {"scope": "sms:send"},
    )
    async with start_sender(caller=None) as sender:
        code, reason, _ = await failure(sender.stub, request("hi"), timeout=5)
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    assert await simulator.outbox() == []


async def test_an_anonymous_caller_setting_names_calls_without_identity(
    start_sender: SenderFactory, simulator: Sim
) -> None:
    async with start_sender(caller=None, anonymous_caller="router") as sender:
        reply = await sender.stub.SendSms(request("hi"), timeout=5)
    assert reply.message_count == 1
