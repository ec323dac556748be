"""The real sender gRPC service (port 0) against the real simulator app (running_http)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from numproxy.common.http_client import build_http_client
from numproxy.common.http_server import running_http
from numproxy.internal.v1 import sender_pb2_grpc
from numproxy.sender.__main__ import build_sender, build_service, credentials
from numproxy.sender.settings import SenderSettings
from numproxy.sender.vonage import VonageClient
from numproxy.simulator.app import create_app
from numproxy.simulator.settings import SimulatorSettings
from tests.integration.sender.helpers import SIGNATURE_SECRET, RunningSender, SenderFactory, Sim
from tests.support.callers import TestAuthentication, caller_channel


@pytest.fixture
async def simulator() -> AsyncIterator[Sim]:
    settings = SimulatorSettings(
        signature_secret=SecretStr(SIGNATURE_SECRET),
        signature_method="sha256",
        dlr_enabled=False,
        gateway_url="http://127.0.0.1:9",
    )
    app = create_app(settings)
    async with running_http(app) as port:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url) as http:
            yield Sim(url, app.state.sim, http)


@pytest.fixture
def start_sender(simulator: Sim) -> SenderFactory:
    """``async with start_sender(**settings) as stub``: a sender pointed at the simulator,
    called as ``caller`` (by default the router)."""

    @asynccontextmanager
    async def start(
        caller: str | None = "router", **overrides: Any
    ) -> AsyncIterator[RunningSender]:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "base_url": simulator.url,
            "api_key": "simkey",
            "api_secret": SecretStr("simsecret"),
            "shutdown_grace": 0.5,
            **overrides,
        }
        settings = SenderSettings(**values)
        http = build_http_client(settings.http_transport, timeout=settings.http_timeout)
        client = VonageClient(http, settings.base_url, credentials(settings))
        service = build_service(
            settings, build_sender(settings, client), authentication=[TestAuthentication()]
        )
        service.on_shutdown(http.aclose)
        port = await service.start()
        channel = caller_channel(f"127.0.0.1:{port}", caller)
        try:
            yield RunningSender(sender_pb2_grpc.SenderServiceStub(channel), channel)
        finally:
            await channel.close(None)
            await service.stop()

    return start
