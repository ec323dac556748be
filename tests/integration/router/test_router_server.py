"""The router's composition root: health, reflection, readiness, the process and SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from numproxy.common.call_errors import status_code
from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving, open_channel
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.router.__main__ import SERVICES, main
from numproxy.v1 import pool_pb2, pool_pb2_grpc, session_pb2, session_pb2_grpc
from tests.support.postgres import free_port
from tests.support.router_sessions import (
    ALICE,
    BOB,
    US1,
    router_channel,
    router_process,
)


async def test_serves_health_and_reflection_for_its_services(database_url: str) -> None:
    # Health and reflection answer callers without an identity (the kubelet's probe).
    async with router_channel(database_url, caller=None, reflection=True) as channel:
        for service in ("", *SERVICES):
            assert await is_serving(channel, service)
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [r async for r in reflection.ServerReflectionInfo(iter([request]))]
        listed = {s.name for s in replies[0].list_services_response.service}
        assert set(SERVICES) <= listed


async def test_reflection_is_off_by_default(tmp_path: Path) -> None:
    async with router_channel(f"sqlite+aiosqlite:///{tmp_path}/router.db") as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            _ = [r async for r in reflection.ServerReflectionInfo(iter([request]))]
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_not_serving_while_the_database_cannot_answer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/router.db"
    async with router_channel(url) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICES[0]))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_every_api_answers_unavailable_while_the_database_is_down() -> None:
    # Nothing listens on the port: each call's connect fails at once.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
    participants = [session_pb2.ParticipantSpec(number=n) for n in (ALICE, BOB)]
    async with router_channel(url) as channel:
        sessions = session_pb2_grpc.SessionServiceStub(channel)
        pools = pool_pb2_grpc.PoolServiceStub(channel)
        inbound = inbound_pb2_grpc.InboundServiceStub(channel)
        calls = {
            "CreateSession": sessions.CreateSession(
                session_pb2.CreateSessionRequest(participants=participants)
            ),
            "ListSessions": sessions.ListSessions(session_pb2.ListSessionsRequest()),
            "GetPool": pools.GetPool(pool_pb2.GetPoolRequest(name="pools/default")),
            "CreatePool": pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="other")),
            "ReceiveSms": inbound.ReceiveSms(
                inbound_pb2.ReceiveSmsRequest(
                    message_id="0B00000042AC53BD", from_number=ALICE, to_number=US1, text="hi"
                )
            ),
        }
        batch = await inbound.ReceiveSmsBatch(
            inbound_pb2.ReceiveSmsBatchRequest(
                messages=[
                    inbound_pb2.ReceiveSmsRequest(
                        message_id="0B00000042AC53BE", from_number=ALICE, to_number=US1
                    )
                ]
            )
        )
        answers = {
            "ReceiveSmsBatch": (
                status_code(batch.results[0].error),
                batch.results[0].error.reason,
            )
        }
        for name, call in calls.items():
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            info = error_info(raised.value)
            answers[name] = (raised.value.code(), info.reason if info else "")
    # Clients (and, through the gateway's 503, the provider) retry UNAVAILABLE.
    assert answers == dict.fromkeys(
        [*calls, "ReceiveSmsBatch"], (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
    )


def test_main_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as helped:
        main(["--help"])
    assert helped.value.code == 0
    assert "--sweep-interval" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["unexpected"])
    assert refused.value.code == 2


async def test_the_router_process_serves_and_stops_on_sigterm(database_url: str) -> None:
    with router_process(database_url) as router:
        await router.wait_serving()
        channel = open_channel(router.address)
        try:
            pools = pool_pb2_grpc.PoolServiceStub(channel)
            await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="default"))
            await pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="default", numbers=[US1]))
            created = await session_pb2_grpc.SessionServiceStub(channel).CreateSession(
                session_pb2.CreateSessionRequest(
                    participants=[
                        session_pb2.ParticipantSpec(number=ALICE),
                        session_pb2.ParticipantSpec(number=BOB),
                    ]
                )
            )
            assert created.session.status == session_pb2.SESSION_STATUS_OPEN
        finally:
            await channel.close(grace=None)
        assert await asyncio.to_thread(router.terminate) == 0
        output = router.output()
    assert "created in pool default" in output
    assert "+1***01" in output
    # Real numbers never reach the logs unmasked.
    assert ALICE not in output and BOB not in output
