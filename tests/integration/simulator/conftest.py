"""The real simulator app next to a small real HTTP server acting as the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from numproxy.common.http_server import running_http
from numproxy.simulator.app import create_app
from numproxy.simulator.settings import SimulatorSettings
from tests.integration.simulator.helpers import SIGNATURE_SECRET, FakeGateway, SimStack


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    async with running_http(fake.app()) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake


@pytest.fixture
async def sim(gateway: FakeGateway) -> AsyncIterator[SimStack]:
    settings = SimulatorSettings(
        gateway_url=gateway.url,
        signature_secret=SecretStr(SIGNATURE_SECRET),
        signature_method="sha512",
        retry_initial=0.05,
        retry_max=0.2,
        retry_total=5,
        rate_limit=0,
    )
    app = create_app(settings)
    async with (
        running_http(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        yield SimStack(http, gateway)
