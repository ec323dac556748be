"""Gateway integration fixtures: a fake router over real gRPC, the real app over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.gateway.harness import (
    FakeRouter,
    GatewayFactory,
    running_fake_router,
    running_gateway,
)


@pytest.fixture
async def router() -> AsyncIterator[FakeRouter]:
    async with running_fake_router() as fake:
        yield fake


@pytest.fixture
def make_gateway(router: FakeRouter) -> GatewayFactory:
    """``async with make_gateway(**settings) as client``: a gateway in front of ``router``."""

    def factory(**settings: Any) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        settings.setdefault("router_timeout", 2.0)
        return running_gateway(router.address, **settings)

    return factory


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway that requires no signatures."""
    async with make_gateway() as client:
        yield client
