"""The four real services as processes on free ports, for end-to-end tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from numproxy.cli.stack import SERVICES, STOP_ORDER, ServiceProcess, StackConfig, wait_ready
from numproxy.client import NumproxyClient
from numproxy.simulator.webhooks import Signer
from tests.support.postgres import free_port
from tests.support.tls import shared_ca_dir

PROXY_NUMBERS = ("+12025550101", "+12025550102", "+12025550103")


def free_stack_config(database_url: str, **extra_env: str) -> StackConfig:
    """A stack on free ports whose simulator signs webhooks with a random secret (sha256)
    and whose gRPC services speak mTLS with the test CA's certificates, as ``numproxy dev``
    does."""
    return StackConfig(
        database_url=database_url,
        gateway_port=free_port(),
        router_port=free_port(),
        sender_port=free_port(),
        simulator_port=free_port(),
        signature_secret=secrets.token_urlsafe(24),
        extra_env={"NUMPROXY_ROUTER_DISPATCH_INTERVAL": "0.2", **extra_env},
        tls_dir=shared_ca_dir(),
    )


def webhook_signer(config: StackConfig) -> Signer:
    """Signs webhooks as the stack's simulator does (``sign_params(params, now)``: a fresh
    timestamp and nonce each time, as Vonage signs each delivery)."""
    return Signer(config.signature_secret, config.signature_method, config.api_key, "")


@dataclass
class LocalStack:
    config: StackConfig
    processes: dict[str, ServiceProcess]
    client: NumproxyClient
    sim: httpx.AsyncClient

    async def stop_service(self, name: str) -> None:
        await self.processes[name].stop()

    async def start_service(self, name: str) -> None:
        await self.processes[name].start()
        await wait_ready(name, self.config, self.processes[name])

    async def text(self, sender: str, to: str, text: str, **options: Any) -> dict[str, Any]:
        """A phone texts a number: the simulator delivers the webhook like Vonage."""
        reply = await self.sim.post(
            "/_sim/inbound", json={"from": sender, "to": to, "text": text, **options}
        )
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    async def outbox(self) -> list[dict[str, Any]]:
        reply = await self.sim.get("/_sim/outbox")
        reply.raise_for_status()
        result: list[dict[str, Any]] = reply.json()
        return result

    async def wait_outbox(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """Poll the simulator's outbox until an SMS matching ``predicate`` was sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for sms in await self.outbox():
                if predicate(sms):
                    return sms
            if loop.time() > deadline:
                raise AssertionError(f"no matching SMS within {timeout}s: {await self.outbox()}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def local_stack(config: StackConfig) -> AsyncIterator[LocalStack]:
    """Migrate, start the four services, seed the default pool; stop everything afterwards."""
    from numproxy.router.store.migrations import upgrade

    await asyncio.to_thread(upgrade, config.database_url)
    processes = {name: ServiceProcess(name, config) for name in SERVICES}
    try:
        for name in SERVICES:
            await processes[name].start()
            await wait_ready(name, config, processes[name])
        async with (
            NumproxyClient(config.router_address, tls=config.client_tls) as client,
            httpx.AsyncClient(base_url=config.simulator_url, timeout=10) as sim,
        ):
            await client.create_pool("default")
            await client.add_numbers("default", PROXY_NUMBERS)
            yield LocalStack(config, processes, client, sim)
    finally:
        for name in STOP_ORDER:
            await processes[name].stop()


def digits(number: str) -> str:
    return number.lstrip("+")
