"""GrpcService shutdown: background work stops beside the server, within one grace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc

from numproxy.common.grpc_server import GrpcService
from numproxy.common.tls import PLAINTEXT_SERVER
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc


class Blocking(sender_pb2_grpc.SenderServiceServicer):
    """Answers once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def SendSms(self, request: Any, context: Any) -> sender_pb2.SendSmsResponse:
        self.entered.set()
        await self.release.wait()
        return sender_pb2.SendSmsResponse(message_ids=["done"])


async def test_stoppers_run_beside_the_server_stop_and_before_the_cleanups() -> None:
    servicer = Blocking()
    grace = 2.0
    service = GrpcService(
        bind="127.0.0.1:0",
        services=["numproxy.internal.v1.SenderService"],
        register=lambda s: sender_pb2_grpc.add_SenderServiceServicer_to_server(servicer, s),
        auth=PLAINTEXT_SERVER,
        grace=grace,
    )
    events: list[str] = []

    async def background_stop() -> None:
        # Runs while server.stop(grace) waits for the in-flight call: finishing "its work"
        # lets that call complete long before the grace runs out.
        events.append("stopper started")
        await asyncio.sleep(0.2)
        servicer.release.set()
        events.append("stopper done")

    async def cleanup() -> None:
        events.append("cleanup")

    service.on_stop(background_stop)
    service.on_shutdown(cleanup)
    port = await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        call = asyncio.ensure_future(
            sender_pb2_grpc.SenderServiceStub(channel).SendSms(sender_pb2.SendSmsRequest())
        )
        await servicer.entered.wait()
        started = time.monotonic()
        await service.stop()
        took = time.monotonic() - started
        reply = await call
    finally:
        await channel.close()

    assert reply.message_ids == ["done"]  # the in-flight call finished, not cut at the grace
    assert took < grace
    assert events == ["stopper started", "stopper done", "cleanup"]
