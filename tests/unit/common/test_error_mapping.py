"""Domain errors raised by a servicer reach the client as status code + ErrorInfo."""

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from numproxy.common.errors import NotFound, error_info
from numproxy.common.grpc_server import GrpcService
from numproxy.common.tls import PLAINTEXT_SERVER
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc


class Failing(sender_pb2_grpc.SenderServiceServicer):
    def __init__(self) -> None:
        self.error: Exception = NotFound("no such thing", reason="THING_NOT_FOUND")

    async def SendSms(self, request: Any, context: Any) -> sender_pb2.SendSmsResponse:
        raise self.error


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, Failing]]:
    servicer = Failing()
    service = GrpcService(
        bind="127.0.0.1:0",
        services=["numproxy.internal.v1.SenderService"],
        register=lambda s: sender_pb2_grpc.add_SenderServiceServicer_to_server(servicer, s),
        auth=PLAINTEXT_SERVER,
        grace=0.1,
    )
    port = await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel, servicer
    await channel.close()
    await service.stop()


async def test_domain_error_becomes_status_with_error_info(
    served: tuple[grpc.aio.Channel, Failing],
) -> None:
    channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sender_pb2_grpc.SenderServiceStub(channel).SendSms(sender_pb2.SendSmsRequest())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no such thing"
    info = error_info(caught.value)
    assert info is not None and info.reason == "THING_NOT_FOUND"
    assert info.domain == "numproxy.dev"


async def test_unexpected_error_is_internal_without_details(
    served: tuple[grpc.aio.Channel, Failing],
) -> None:
    channel, servicer = served
    servicer.error = RuntimeError("secret internals +15550100123")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sender_pb2_grpc.SenderServiceStub(channel).SendSms(sender_pb2.SendSmsRequest())
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


async def test_health_serves_per_service(
    served: tuple[grpc.aio.Channel, Failing],
) -> None:
    channel, _ = served
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "numproxy.internal.v1.SenderService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_is_not_serving_while_a_dependency_check_fails() -> None:
    ready = False

    async def readiness() -> bool:
        return ready

    service = GrpcService(
        bind="127.0.0.1:0",
        services=["numproxy.internal.v1.SenderService"],
        register=lambda s: sender_pb2_grpc.add_SenderServiceServicer_to_server(Failing(), s),
        readiness=readiness,
        auth=PLAINTEXT_SERVER,
        grace=0.1,
    )
    port = await service.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="numproxy.internal.v1.SenderService")
        assert (await stub.Check(request)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        ready = True
        await service._refresh_health()
        assert (await stub.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
    await service.stop()
