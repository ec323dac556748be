"""Domain errors and their one mapping to gRPC status codes with a google.rpc.ErrorInfo.

Services raise these; :class:`ErrorMappingInterceptor` turns them into gRPC statuses, and
:func:`error_info` reads the ErrorInfo back on the client side.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from numproxy.common.handlers import rebuild

DOMAIN = "numproxy.dev"
_DETAILS_KEY = "grpc-status-details-bin"

log = logging.getLogger(__name__)


class DomainError(Exception):
    """An error with a gRPC status code and a machine-readable reason."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_reason: ClassVar[str] = "INTERNAL"

    def __init__(
        self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class PoolExhausted(ResourceExhausted):
    default_reason = "POOL_EXHAUSTED"


class Aborted(DomainError):
    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class ProviderUnavailable(Unavailable):
    default_reason = "PROVIDER_UNAVAILABLE"


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


def to_status_details(error: DomainError) -> bytes:
    """Serialize a google.rpc.Status carrying the error's ErrorInfo."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=_code_number(error.code), message=error.message, details=[detail]
    )
    serialized: bytes = status.SerializeToString()
    return serialized


def _code_number(code: grpc.StatusCode) -> int:
    value: int = code.value[0]
    return value


def error_info(error: grpc.aio.AioRpcError | grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo a numproxy service attached to a failed call, if any."""
    trailing: Any = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Context], Awaitable[Any]]
# A server-streaming handler written as an async generator (the only kind numproxy has).
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


Translate = Callable[[Exception], DomainError | None]


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Maps DomainError (and anything unexpected) raised by unary handlers, and by
    server-streaming handlers written as async generators, to gRPC statuses.

    ``translate`` lets a service name other exceptions as domain errors (the router: a
    database outage is UNAVAILABLE); whatever it returns None for is an internal error.
    """

    def __init__(self, translate: Translate | None = None) -> None:
        self._translate = translate

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        return rebuild(handler, functools.partial(self._guard, method))

    def _guard(self, method: str, kind: str, behaviour: Any) -> Any:
        """``behaviour`` with what it raises mapped: unary responses, and server streams
        written as async generators (no numproxy RPC streams requests; those are served as
        they are)."""
        if kind == "unary_unary":
            inner: Handler = behaviour  # always a coroutine function on grpc.aio

            async def wrapped(request: Any, context: Context) -> Any:
                try:
                    return await inner(request, context)
                except Exception as exc:
                    await self._abort(context, exc, method)

            return wrapped
        if kind == "unary_stream":
            stream: StreamHandler = behaviour

            async def wrapped_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    async for response in stream(request, context):
                        yield response
                except Exception as exc:
                    await self._abort(context, exc, method)

            return wrapped_stream
        return behaviour

    async def _abort(self, context: Context, exc: Exception, method: str) -> None:
        """End the call with the status ``exc`` maps to (aborting raises)."""
        if isinstance(exc, grpc.aio.AbortError):  # the handler ended the call itself
            raise exc
        mapped = as_domain_error(exc, self._translate)
        if mapped is not None:
            await abort_with(context, mapped)
        log.exception("unhandled error in %s", method, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def as_domain_error(exc: Exception, translate: Translate | None = None) -> DomainError | None:
    """The domain error ``exc`` is, or the one ``translate`` names it; None: internal."""
    if isinstance(exc, DomainError):
        return exc
    return translate(exc) if translate is not None else None


async def abort_with(context: Context, exc: DomainError) -> None:
    """Abort the call with the error's status code, message and ErrorInfo."""
    if exc.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        log.warning("%s: %s (%s)", exc.code.name, exc.message, exc.reason)
    await context.abort(
        exc.code, exc.message, trailing_metadata=((_DETAILS_KEY, to_status_details(exc)),)
    )


__all__ = [
    "DOMAIN",
    "Aborted",
    "AlreadyExists",
    "Context",
    "DeadlineExceeded",
    "DomainError",
    "ErrorMappingInterceptor",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "PoolExhausted",
    "ProviderUnavailable",
    "ResourceExhausted",
    "Translate",
    "Unauthenticated",
    "Unavailable",
    "abort_with",
    "as_domain_error",
    "error_info",
]
