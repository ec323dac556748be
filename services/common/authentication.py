"""Who is calling: every RPC but the standard health service needs an identity, and the
handler runs with it bound as the current :class:`~numproxy.common.caller.Caller`.

The identity is the client certificate's first DNS SAN (else its first URI SAN, else its
CN), or the name an ``authorization: Bearer <token>`` header maps to. Tokens are kept as
SHA-256 hashes, compared in constant time and never logged. Reflection is authenticated like
any other service: it tells the whole API surface to whoever asks. On a server that speaks
plaintext (chosen explicitly) a call with neither runs with no caller bound: what it may do is
authorization's decision (its setting for calls without an identity).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from numproxy.common.caller import Caller, bound_caller
from numproxy.common.errors import Context, Unauthenticated, abort_with
from numproxy.common.handlers import rebuild

UNAUTHENTICATED_METHODS = ("/grpc.health.v1.Health/",)
MAX_TOKEN_LENGTH = 512
_BEARER = "bearer "


def token_hash(token: str) -> str:
    """The SHA-256 hex a token is configured as (``auth_tokens``)."""
    return hashlib.sha256(token.encode()).hexdigest()


def certificate_identity(auth_context: Mapping[str, Any]) -> str | None:
    """The verified client certificate's name: first DNS SAN, else first URI SAN, else CN."""
    for key in ("peer_dns", "peer_uri", "x509_common_name"):
        values = auth_context.get(key) or ()
        for value in values:
            name = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            if name:
                return name
    return None


class TokenTable:
    """Caller name -> SHA-256 hex of its bearer token."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._hashes = [(name, digest.encode()) for name, digest in hashes.items()]

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def name_of(self, token: str) -> str | None:
        digest = token_hash(token).encode()
        found = None
        for name, expected in self._hashes:  # every entry compared: no early exit to time
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            return value
    return None


class AuthenticationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Establishes the caller of each RPC (health excepted) and binds it around the handler;
    a call without an identity ends UNAUTHENTICATED with the reason in its ErrorInfo."""

    def __init__(self, tokens: Mapping[str, str], *, plaintext: bool = False) -> None:
        self._tokens = TokenTable(tokens)
        self._plaintext = plaintext

    def identify(self, context: Context) -> Caller | None:
        """The caller of the current RPC (None: a plaintext server's call without a token);
        raises Unauthenticated saying why there is none."""
        name = certificate_identity(context.auth_context())
        if name is not None:
            return Caller(name)
        header = _bearer(context.invocation_metadata())
        if header is None:
            if self._plaintext:
                return None
            raise Unauthenticated(
                "no client certificate and no bearer token", reason="NO_CREDENTIALS"
            )
        if not header[: len(_BEARER)].lower() == _BEARER:
            raise Unauthenticated(
                "the authorization header is not 'Bearer <token>'", reason="BAD_AUTHORIZATION"
            )
        token = header[len(_BEARER) :].strip()
        name = self._tokens.name_of(token) if 0 < len(token) <= MAX_TOKEN_LENGTH else None
        if name is None:
            raise Unauthenticated("the bearer token is not known", reason="UNKNOWN_TOKEN")
        return Caller(name)

    async def _caller(self, context: Context) -> Caller | None:
        try:
            return self.identify(context)
        except Unauthenticated as exc:
            await abort_with(context, exc)
            raise  # abort_with raises; this line keeps the type checker informed

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(UNAUTHENTICATED_METHODS):
            return handler
        return rebuild(handler, lambda _kind, behaviour: self._wrap(behaviour))

    def _wrap(self, inner: Callable[[Any, Context], Any]) -> Callable[[Any, Context], Any]:
        """``inner`` run with its caller bound (a streaming reply as an async generator or as
        a coroutine writing to the context, whichever ``inner`` is)."""
        if inspect.isasyncgenfunction(inner):

            async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
                caller = await self._caller(context)
                with bound_caller(caller):
                    async for response in inner(request, context):
                        yield response

            return streaming

        async def unary(request: Any, context: Context) -> Any:
            caller = await self._caller(context)
            with bound_caller(caller):
                return await inner(request, context)

        return unary
