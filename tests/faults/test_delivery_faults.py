"""Delivery guarantees under faults, with real processes and a real PostgreSQL.

A driver playing Vonage pushes 1,200 unique inbound SMS through the gateway (re-delivering
about 5% with the same messageId, retrying every non-2xx and timeout) while one fault is
injected. Whatever happens, every message acknowledged with a 2xx must reach the other
participant exactly once, from the proxy number that participant knows; nothing else may be
sent. Each scenario prints a summary line (also repeated at the end of the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest

from numproxy.cli.dev import Supervisor
from numproxy.cli.stack import ServiceProcess, StackConfig, wait_ready
from numproxy.client import NumproxyClient
from numproxy.router.store.migrations import upgrade
from tests.conftest import fresh_postgres_database
from tests.faults.harness import (
    FAULT_ENV,
    Database,
    Verdict,
    drive,
    driver,
    judge,
    open_sessions,
    settle,
    stream,
)
from tests.support.postgres import PostgresServer, free_port, running_postgres
from tests.support.stack import PROXY_NUMBERS, free_stack_config, local_stack, webhook_signer
from tests.support.vonage_driver import VonageDriver

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(180)]

Fault = Callable[[VonageDriver], Awaitable[None]]
MID_STREAM = 400  # acknowledged messages before the fault hits (of 1,200)


async def run_scenario(
    scenario: str,
    gateways: Sequence[StackConfig],
    client: NumproxyClient,
    sim: httpx.AsyncClient,
    database: Database,
    fault: Fault,
) -> Verdict:
    legs = await open_sessions(client)
    messages = stream(scenario, legs)
    pusher = driver([g.gateway_url for g in gateways], webhook_signer(gateways[0]))
    started = time.monotonic()
    report = await drive(pusher, messages, lambda: fault(pusher))
    acknowledged = {messages[i].sms.text for i in report.acknowledged}
    sent, statuses = await settle(sim, database, acknowledged)
    verdict = judge(scenario, messages, report, sent, statuses, started)
    verdict.assert_exactly_once()
    return verdict


@contextlib.asynccontextmanager
async def supervised_stack(config: StackConfig) -> AsyncIterator[Supervisor]:
    """``numproxy dev``'s Supervisor in this process: it restarts a service that dies."""
    await asyncio.to_thread(upgrade, config.database_url)
    supervisor = Supervisor(config, PROXY_NUMBERS)
    running = asyncio.create_task(supervisor.run())
    try:
        async with NumproxyClient(config.router_address, tls=config.client_tls) as client:
            deadline = time.monotonic() + 60
            while len([n async for n in _numbers(client)]) < len(PROXY_NUMBERS):
                assert not running.done(), "the supervisor stopped during start-up"
                assert time.monotonic() < deadline, "the supervisor did not seed the pool"
                await asyncio.sleep(0.2)
        yield supervisor
    finally:
        supervisor.stopping.set()
        assert await running == 0


async def _numbers(client: NumproxyClient) -> AsyncIterator[str]:
    with contextlib.suppress(Exception):  # the pool does not exist yet
        async for number in client.iter_numbers("default"):
            yield number.number


async def test_router_killed_mid_stream_is_restarted_by_the_supervisor(
    postgres_server: PostgresServer,
) -> None:
    url = fresh_postgres_database(postgres_server)
    config = free_stack_config(url, **FAULT_ENV)
    async with (
        supervised_stack(config) as supervisor,
        NumproxyClient(config.router_address, tls=config.client_tls) as client,
        httpx.AsyncClient(base_url=config.simulator_url, timeout=10) as sim,
    ):
        router = supervisor.processes["router"]

        async def kill_router(pusher: VonageDriver) -> None:
            await pusher.wait_acknowledged(MID_STREAM)
            assert router.process is not None
            killed = router.process.pid
            router.signal(signal.SIGKILL)
            # The supervisor notices and starts a new router process; wait until it serves.
            deadline = time.monotonic() + 30
            while router.process.pid == killed or not router.running:
                assert time.monotonic() < deadline, "the supervisor did not restart the router"
                await asyncio.sleep(0.1)
            await wait_ready("router", config, router)

        verdict = await run_scenario(
            "router-sigkill",
            [config],
            client,
            sim,
            Database(postgres_server, url),
            kill_router,
        )
    # The kill was felt: some webhooks were refused (503) or cut off and then retried.
    report = verdict.report
    assert report.not_acknowledged_answers + report.connection_errors + report.timeouts > 0


async def test_sender_down_for_ten_seconds(postgres_server: PostgresServer) -> None:
    url = fresh_postgres_database(postgres_server)
    config = free_stack_config(url, **FAULT_ENV)
    async with local_stack(config) as stack:
        during: dict[str, int] = {}

        async def sender_down(pusher: VonageDriver) -> None:
            await pusher.wait_acknowledged(MID_STREAM)
            await stack.stop_service("sender")  # SIGTERM: in-flight sends finish first
            during["stopped"] = len(pusher.report.acknowledged)
            await asyncio.sleep(10)  # the fault's duration, not a synchronization
            during["restarting"] = len(pusher.report.acknowledged)
            await stack.start_service("sender")

        await run_scenario(
            "sender-down-10s",
            [config],
            stack.client,
            stack.sim,
            Database(postgres_server, url),
            sender_down,
        )
    # Inbound kept being acknowledged (queued in the outbox) while the sender was down.
    assert during["restarting"] > during["stopped"]


async def test_provider_errors_and_throttling(postgres_server: PostgresServer) -> None:
    url = fresh_postgres_database(postgres_server)
    config = free_stack_config(url, **FAULT_ENV)
    async with local_stack(config) as stack:
        # 20% of /sms/json calls answered HTTP 500 (nothing accepted); above 45 requests/s
        # the simulator answers status 1 (throttled) while the driver pushes 60 messages/s.
        faults = await stack.sim.post("/_sim/config", json={"error_rate": 0.2, "rate_limit": 45})
        faults.raise_for_status()

        async def nothing_more(pusher: VonageDriver) -> None:
            return None

        await run_scenario(
            "provider-500-and-throttling",
            [config],
            stack.client,
            stack.sim,
            Database(postgres_server, url),
            nothing_more,
        )
        stats = (await stack.sim.get("/_sim/stats")).json()
    print(f"[faults] simulator: {stats['http_500']} HTTP 500, {stats['throttled']} throttled")
    assert stats["http_500"] > 100
    assert stats["throttled"] > 0


async def test_postgres_restarted_mid_stream() -> None:
    # A cluster of its own: the shared one stays up for the other tests.
    with running_postgres() as server:
        server.psql("CREATE DATABASE faults")
        # The test cluster runs with synchronous_commit=off for speed; an acknowledged
        # commit must survive the crash-like stop below, so this database commits durably.
        server.psql("ALTER DATABASE faults SET synchronous_commit = on")
        url = server.url("faults")
        config = free_stack_config(url, **FAULT_ENV)
        async with local_stack(config) as stack:

            async def restart_postgres(pusher: VonageDriver) -> None:
                await pusher.wait_acknowledged(MID_STREAM)
                await asyncio.to_thread(server.stop, "immediate")  # like a crash
                await asyncio.sleep(2)  # the outage's duration, not a synchronization
                await asyncio.to_thread(server.start)

            verdict = await run_scenario(
                "postgres-restart",
                [config],
                stack.client,
                stack.sim,
                Database(server, url),
                restart_postgres,
            )
    # While the database was down the gateway answered 503 (never a 500): Vonage retried.
    answers = verdict.report.answers
    assert answers[503] > 0
    assert not [status for status in answers if status >= 500 and status != 503]


async def test_two_router_replicas_share_one_postgres(postgres_server: PostgresServer) -> None:
    url = fresh_postgres_database(postgres_server)
    first = free_stack_config(url, **FAULT_ENV)
    # A second gateway + router pair on the same database and sender.
    second = dataclasses.replace(first, gateway_port=free_port(), router_port=free_port())
    async with local_stack(first) as stack:
        extra = [ServiceProcess("router", second), ServiceProcess("gateway", second)]
        try:
            for process in extra:
                await process.start()
                await wait_ready(process.service, second, process)

            async def nothing_more(pusher: VonageDriver) -> None:
                return None

            verdict = await run_scenario(
                "two-router-replicas",
                [first, second],
                stack.client,
                stack.sim,
                Database(postgres_server, url),
                nothing_more,
            )
        finally:
            for process in reversed(extra):  # the gateway first, as STOP_ORDER does
                await process.stop()
    # Both replicas took webhooks (and dispatched what they committed).
    by_gateway = verdict.report.acknowledged_by
    assert by_gateway[first.gateway_url] > 300 and by_gateway[second.gateway_url] > 300
