"""A scripted app HookService on a free port (grpc.aio, in the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import grpc

from numproxy.common.tls import ServerTls
from numproxy.v1 import hook_pb2, hook_pb2_grpc

Resolve = Callable[[hook_pb2.ResolveOutOfSessionRequest], hook_pb2.ResolveOutOfSessionResponse]
Intercept = Callable[[hook_pb2.InterceptMessageRequest], hook_pb2.InterceptMessageResponse]


class ScriptedHooks(hook_pb2_grpc.HookServiceServicer):
    """Answers with ``resolve`` / ``intercept`` (settable), after ``delays[text]`` seconds
    ("hang": ``delay``); every request is kept, in arrival order."""

    def __init__(self, *, delay: float = 5.0) -> None:
        self.delays = {"hang": delay}
        self.resolve: Resolve = lambda _: hook_pb2.ResolveOutOfSessionResponse(
            drop=hook_pb2.DropAction()
        )
        self.intercept: Intercept = lambda _: hook_pb2.InterceptMessageResponse(
            allow=hook_pb2.AllowAction()
        )
        self.resolve_calls: list[hook_pb2.ResolveOutOfSessionRequest] = []
        self.intercept_calls: list[hook_pb2.InterceptMessageRequest] = []

    async def ResolveOutOfSession(
        self, request: hook_pb2.ResolveOutOfSessionRequest, context: object
    ) -> hook_pb2.ResolveOutOfSessionResponse:
        self.resolve_calls.append(request)
        await self._maybe_hang(request.text)
        return self.resolve(request)

    async def InterceptMessage(
        self, request: hook_pb2.InterceptMessageRequest, context: object
    ) -> hook_pb2.InterceptMessageResponse:
        self.intercept_calls.append(request)
        await self._maybe_hang(request.text)
        return self.intercept(request)

    def calls(self, text: str) -> int:
        """How often a hook was called about ``text``."""
        return sum(r.text == text for r in (*self.resolve_calls, *self.intercept_calls))

    async def _maybe_hang(self, text: str) -> None:
        if text in self.delays:
            await asyncio.sleep(self.delays[text])


@asynccontextmanager
async def hook_server(
    hooks: hook_pb2_grpc.HookServiceServicer,
    host: str = "127.0.0.1",
    *,
    tls: ServerTls | None = None,
) -> AsyncIterator[str]:
    """Serve ``hooks`` (over mTLS with ``tls``, else plaintext); yields its "host:port"."""
    server = grpc.aio.server()
    hook_pb2_grpc.add_HookServiceServicer_to_server(hooks, server)
    bind = f"{host}:0"
    port = (
        server.add_secure_port(bind, tls.credentials())
        if tls is not None
        else server.add_insecure_port(bind)
    )
    await server.start()
    try:
        yield f"{host}:{port}"
    finally:
        await server.stop(grace=None)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.05)
