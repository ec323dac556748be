"""Shared by the sender's integration tests: handles on the simulator and a running sender."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import httpx

from numproxy.simulator.core import Simulator

if TYPE_CHECKING:
    from numproxy.internal.v1.sender_pb2_grpc import SenderServiceAsyncStub

SIGNATURE_SECRET = "sig-secret-0123456789abcdef012345"


@dataclass
class Sim:
    url: str
    sim: Simulator
    http: httpx.AsyncClient

    async def configure(self, **changes: Any) -> None:
        reply = await self.http.post("/_sim/config", json=changes)
        assert reply.status_code == 200, reply.text

    async def outbox(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.http.get("/_sim/outbox")).json()
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.http.get("/_sim/stats")).json()
        return result


@dataclass
class RunningSender:
    stub: SenderServiceAsyncStub
    channel: grpc.aio.Channel


SenderFactory = Callable[..., AbstractAsyncContextManager[RunningSender]]
