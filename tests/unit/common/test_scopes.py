"""The one table of scopes per RPC: complete for every service numproxy serves, and what is
not in it is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc

from numproxy.common.authorization import AuthorizationInterceptor, CallerPolicy
from numproxy.common.caller import Caller, bound_caller
from numproxy.common.errors import error_info
from numproxy.common.grpc_server import GrpcService
from numproxy.common.scopes import RULES, Scope
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc
from numproxy.router.__main__ import SERVICES as ROUTER_SERVICES
from numproxy.sender.servicer import SERVICE_NAME as SENDER_SERVICE
from numproxy.v1 import audit_pb2  # noqa: F401  (registers AuditService's descriptor)

SERVED = (*ROUTER_SERVICES, SENDER_SERVICE)


def methods(service: str) -> list[str]:
    found = descriptor_pool.Default().FindServiceByName(service)
    return [f"/{service}/{method.name}" for method in found.methods]


@pytest.mark.parametrize("service", SERVED)
def test_every_method_of_every_served_service_needs_a_scope(service: str) -> None:
    for method in methods(service):
        assert method in RULES, f"{method} is missing from numproxy/common/scopes.py"
        rule = RULES[method]
        assert rule.scopes and not rule.public


def test_the_table_names_only_methods_that_exist() -> None:
    listed = {m for service in SERVED for m in methods(service)}
    numproxy_rules = {m for m in RULES if m.startswith("/numproxy.")}
    assert numproxy_rules == listed


def test_changes_and_message_text_are_audited_plain_reads_and_the_message_flow_not() -> None:
    audited = {m.rsplit("/", 1)[1] for m, rule in RULES.items() if rule.audited}
    assert audited == {
        "CreateSession",
        "UpdateSession",
        "DeleteSession",
        "SendMessage",
        "AddParticipant",
        "RemoveParticipant",
        "ListInteractions",
        "CreatePool",
        "UpdatePool",
        "AddNumbers",
        "RemoveNumber",
    }


class Sender(sender_pb2_grpc.SenderServiceServicer):
    async def SendSms(self, request: Any, context: Any) -> sender_pb2.SendSmsResponse:
        return sender_pb2.SendSmsResponse(message_count=1)

    async def SendSmsBatch(self, request: Any, context: Any) -> sender_pb2.SendSmsBatchResponse:
        return sender_pb2.SendSmsBatchResponse()


class AsRouter(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """A fake authentication layer: every call is the router's."""

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def bound(request: Any, context: Any) -> Any:
            with bound_caller(Caller("router")):
                return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            bound,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    """The sender's service with a table that lacks SendSmsBatch."""
    rules = {m: r for m, r in RULES.items() if not m.endswith("/SendSmsBatch")}
    authorization = AuthorizationInterceptor(
        {"router": CallerPolicy(scopes=frozenset(Scope))}, rules=rules
    )
    service = GrpcService(
        bind="127.0.0.1:0",
        services=[SENDER_SERVICE],
        register=lambda s: sender_pb2_grpc.add_SenderServiceServicer_to_server(Sender(), s),
        grace=0.1,
        interceptors=[AsRouter(), authorization],
    )
    port = await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    await channel.close()
    await service.stop()


async def test_a_method_missing_from_the_table_is_refused_to_everyone(
    channel: grpc.aio.Channel,
) -> None:
    stub = sender_pb2_grpc.SenderServiceStub(channel)
    assert (await stub.SendSms(sender_pb2.SendSmsRequest())).message_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SendSmsBatch(sender_pb2.SendSmsBatchRequest())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(refused.value)
    assert info is not None and info.reason == "MISSING_SCOPE"
    assert dict(info.metadata) == {"method": "/numproxy.internal.v1.SenderService/SendSmsBatch"}
    # Health stays open: it is in the table as public.
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
