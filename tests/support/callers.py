"""Test-only caller identities for in-process gRPC servers.

``TestAuthentication`` stands in for the real authentication layer: it binds the caller
named in the call's ``x-test-caller`` metadata (no metadata: ``anonymous``, by default no
caller), exactly as the real layer binds the certificate's or token's name.
``caller_channel(address, name)`` is a channel whose every call carries that name. Tests
that need a caller take a name, so the same tests can later run with real credentials for
that name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from numproxy.common.authorization import all_scopes
from numproxy.common.caller import Caller, bound_caller
from numproxy.common.grpc_client import CHANNEL_OPTIONS
from numproxy.common.handlers import rebuild
from numproxy.common.scopes import Scope

CALLER_KEY = "x-test-caller"
# The policy in-process test routers run with: "admin" may do everything (the caller the
# existing API tests use), "gateway" only the inbound flow.
TEST_CALLERS: dict[str, Any] = {
    "admin": all_scopes().model_dump(mode="json"),
    "gateway": {"scopes": [Scope.INBOUND.value]},
}

Context = grpc.aio.ServicerContext[Any, Any]


def _caller_of(details: grpc.HandlerCallDetails, anonymous: str | None) -> Caller | None:
    for key, value in details.invocation_metadata or ():
        if key == CALLER_KEY and isinstance(value, str):
            return Caller(value)
    return Caller(anonymous) if anonymous is not None else None


class TestAuthentication(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    __test__ = False  # not a test class

    def __init__(self, anonymous: str | None = None) -> None:
        """``anonymous``: the caller of calls that name none (clients that cannot add
        metadata: the CLI); None: such calls have no caller."""
        self._anonymous = anonymous

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        caller = _caller_of(handler_call_details, self._anonymous)
        return rebuild(handler, lambda kind, behaviour: _bound(kind, behaviour, caller))


def _bound(kind: str, behaviour: Any, caller: Caller | None) -> Any:
    """``behaviour`` run with ``caller`` bound (a streamed reply written as an async
    generator, as numproxy's are)."""
    if kind.endswith("_stream"):

        async def bound_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            with bound_caller(caller):
                async for response in behaviour(request, context):
                    yield response

        return bound_stream

    async def bound_unary(request: Any, context: Context) -> Any:
        with bound_caller(caller):
            return await behaviour(request, context)

    return bound_unary


def _with_name(details: grpc.aio.ClientCallDetails, name: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata.add(CALLER_KEY, name)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


# grpc.aio files a client interceptor under one kind only: one class per kind.
class _NameUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self._name = name

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_name(details, self._name), request)


class _NameStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self._name = name

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_name(details, self._name), request)


def caller_channel(address: str, caller: str | None) -> grpc.aio.Channel:
    """A channel to ``address`` whose calls are made as ``caller`` (None: no identity)."""
    interceptors = [_NameUnary(caller), _NameStream(caller)] if caller is not None else []
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)
