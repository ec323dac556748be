"""Gateway test harness: a fake router (a real grpc.aio server hosting a recording
InboundService) and the real gateway app served over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from numproxy.common.call_errors import call_error
from numproxy.common.errors import DomainError, ErrorMappingInterceptor
from numproxy.common.grpc_client import open_channel
from numproxy.common.http_server import running_http
from numproxy.gateway.app import create_app
from numproxy.gateway.router_client import RouterClient
from numproxy.gateway.settings import GatewaySettings
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc

INBOUND_SERVICE = "numproxy.internal.v1.InboundService"
# Long enough for PyJWT not to warn about short HMAC keys.
SECRET = "gateway-test-signature-secret-0123456789"

GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class FakeInbound(inbound_pb2_grpc.InboundServiceServicer):
    """Records every call; ``fail_with`` makes the next calls fail, ``hang`` never answers."""

    sms: list[inbound_pb2.ReceiveSmsRequest] = field(default_factory=list)
    receipts: list[inbound_pb2.ReceiveDeliveryReceiptRequest] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    # SMS per ReceiveSmsBatch call.
    batches: list[int] = field(default_factory=list)
    fail_with: DomainError | None = None
    hang: bool = False
    outcome: inbound_pb2.InboundOutcome.ValueType = inbound_pb2.INBOUND_OUTCOME_FORWARDED

    @property
    def calls(self) -> int:
        return len(self.sms) + len(self.receipts)

    async def _answer(self, context: grpc.aio.ServicerContext[object, object]) -> None:
        metadata = dict(context.invocation_metadata() or ())
        self.request_ids.append(str(metadata.get("x-request-id", "")))
        if self.hang:
            await asyncio.Event().wait()  # until the caller's deadline cancels the call
        if self.fail_with is not None:
            raise self.fail_with

    async def ReceiveSms(
        self,
        request: inbound_pb2.ReceiveSmsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> inbound_pb2.ReceiveSmsResponse:
        await self._answer(context)
        self.sms.append(request)
        return inbound_pb2.ReceiveSmsResponse(outcome=self.outcome, session="sessions/s1")

    async def ReceiveSmsBatch(
        self,
        request: inbound_pb2.ReceiveSmsBatchRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> inbound_pb2.ReceiveSmsBatchResponse:
        """Each SMS as ReceiveSms (``fail_with`` fails each one; ``hang`` the whole call)."""
        self.batches.append(len(request.messages))
        results = []
        for message in request.messages:
            self.request_ids.append(message.request_id)
            if self.hang:
                await asyncio.Event().wait()  # until the caller's deadline cancels the call
            if self.fail_with is not None:
                results.append(inbound_pb2.ReceiveSmsResult(error=call_error(self.fail_with)))
                continue
            self.sms.append(message)
            answer = inbound_pb2.ReceiveSmsResponse(outcome=self.outcome, session="sessions/s1")
            results.append(inbound_pb2.ReceiveSmsResult(received=answer))
        return inbound_pb2.ReceiveSmsBatchResponse(results=results)

    async def ReceiveDeliveryReceipt(
        self,
        request: inbound_pb2.ReceiveDeliveryReceiptRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> inbound_pb2.ReceiveDeliveryReceiptResponse:
        await self._answer(context)
        self.receipts.append(request)
        return inbound_pb2.ReceiveDeliveryReceiptResponse(matched=True)


@dataclass
class FakeRouter:
    inbound: FakeInbound
    health: health.aio.HealthServicer  # type: ignore[name-defined]
    server: grpc.aio.Server
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set(INBOUND_SERVICE, status)


@contextlib.asynccontextmanager
async def running_fake_router() -> AsyncIterator[FakeRouter]:
    inbound = FakeInbound()
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    inbound_pb2_grpc.add_InboundServiceServicer_to_server(inbound, server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    router = FakeRouter(inbound, health_servicer, server, port)
    await router.set_serving(True)
    try:
        yield router
    finally:
        await server.stop(None)


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running_gateway(router_address: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app on a real port, with its own channel to ``router_address``.

    Without a ``signature_secret`` it explicitly accepts unsigned webhooks (the tests of
    parsing and routing); the signing tests pass one."""
    settings.setdefault("allow_unsigned", "signature_secret" not in settings)
    config = GatewaySettings(router_address=router_address, **settings)
    channel = open_channel(config.router_address, None)
    app = create_app(config, RouterClient(channel, config.router_timeout))
    try:
        async with (
            running_http(app) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            yield client
    finally:
        await channel.close(None)
