"""A recording fake gateway and polling helpers for the simulator's integration tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SIGNATURE_SECRET = "sim-signature-secret-0123456789abcdef"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]  # query, form or JSON fields
    query: str  # raw query string
    body: bytes


@dataclass
class FakeGateway:
    """Records every request; answers from ``answers`` first, then 204."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            body = await request.body()
            params = dict(request.query_params)
            ctype = request.headers.get("content-type", "")
            if ctype.startswith("application/json"):
                params.update({k: v for k, v in json.loads(body).items() if isinstance(v, str)})
            elif body:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
            self.received.append(
                Received(
                    request.method,
                    request.url.path,
                    dict(request.headers),
                    params,
                    request.url.query,
                    body,
                )
            )
            return Response(status_code=self.answers.popleft() if self.answers else 204)

        return Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST"])])

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@dataclass
class SimStack:
    http: httpx.AsyncClient
    gateway: FakeGateway

    async def post(self, path: str, payload: Any) -> Any:
        reply = await self.http.post(path, json=payload)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def get(self, path: str) -> Any:
        reply = await self.http.get(path)
        assert reply.status_code == 200, reply.text
        return reply.json()


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
