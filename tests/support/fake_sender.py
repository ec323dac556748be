"""A SenderService the test controls, served by a real grpc.aio server on port 0."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from numproxy.common.call_errors import each_item
from numproxy.common.errors import DomainError, ErrorMappingInterceptor
from numproxy.common.grpc_client import open_channel
from numproxy.internal.v1 import call_error_pb2, sender_pb2, sender_pb2_grpc


class FakeSender(sender_pb2_grpc.SenderServiceServicer):
    """Records every call; fails the first ``fail_first`` calls per key with ``failure``."""

    def __init__(self) -> None:
        self.calls: list[sender_pb2.SendSmsRequest] = []
        # Messages per SendSmsBatch call.
        self.batches: list[int] = []
        self.successes: Counter[str] = Counter()
        self.failure: DomainError | None = None
        self.fail_first = 0
        # Messages with one of these texts always fail with ``failure``.
        self.fail_texts: set[str] = set()
        # When set, calls wait for it (to hold sends in flight).
        self.gate: asyncio.Event | None = None
        self.latency = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    def calls_for(self, key: str) -> int:
        return sum(1 for call in self.calls if call.idempotency_key == key)

    async def SendSmsBatch(
        self,
        request: sender_pb2.SendSmsBatchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> sender_pb2.SendSmsBatchResponse:
        """Each message as SendSms, concurrently; failures become per-message errors."""
        self.batches.append(len(request.messages))

        async def send(message: sender_pb2.SendSmsRequest) -> sender_pb2.SendSmsResponse:
            return await self.SendSms(message, context)

        results = [
            sender_pb2.SendSmsResult(error=outcome)
            if isinstance(outcome, call_error_pb2.CallError)
            else sender_pb2.SendSmsResult(sent=outcome)
            for outcome in await each_item(request.messages, send)
        ]
        return sender_pb2.SendSmsBatchResponse(results=results)

    async def SendSms(
        self, request: sender_pb2.SendSmsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> sender_pb2.SendSmsResponse:
        self.calls.append(request)
        attempt = self.calls_for(request.idempotency_key)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.latency:
                await asyncio.sleep(self.latency)  # simulated provider latency
            if self.failure is not None and (
                attempt <= self.fail_first or request.text in self.fail_texts
            ):
                raise self.failure
            self.successes[request.idempotency_key] += 1
            return sender_pb2.SendSmsResponse(
                message_ids=[
                    f"{request.idempotency_key[:8]}-1",
                    f"{request.idempotency_key[:8]}-2",
                ],
                message_count=2,
            )
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serve_fake_sender(
    fake: FakeSender,
) -> AsyncIterator[sender_pb2_grpc.SenderServiceStub]:
    """Serve ``fake`` on a free port; yields a stub on a grpc.aio channel to it."""
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    sender_pb2_grpc.add_SenderServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = open_channel(f"127.0.0.1:{port}", None)
    try:
        yield sender_pb2_grpc.SenderServiceStub(channel)
    finally:
        await channel.close(None)
        await server.stop(None)
