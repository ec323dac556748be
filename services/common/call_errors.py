"""One item's failure in a batch call, carried as the status the matching unary call would
have failed with (numproxy.internal.v1.CallError)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc

from numproxy.common.errors import DomainError
from numproxy.internal.v1 import call_error_pb2

log = logging.getLogger(__name__)

_CODES = {code.value[0]: code for code in grpc.StatusCode}


def call_error(
    exc: BaseException, translate: Callable[[Exception], DomainError | None] | None = None
) -> call_error_pb2.CallError:
    """``exc`` as a CallError: a domain error as itself, another exception as ``translate``
    names it, or else an internal error (logged, its text not passed on)."""
    error: DomainError | None = exc if isinstance(exc, DomainError) else None
    if error is None and translate is not None and isinstance(exc, Exception):
        error = translate(exc)
    if error is None:
        log.error("one item of a batch call failed", exc_info=exc)
        error = DomainError("internal error")
    return call_error_pb2.CallError(
        code=error.code.value[0],
        reason=error.reason,
        message=error.message,
        metadata=error.metadata,
    )


def status_code(error: call_error_pb2.CallError) -> grpc.StatusCode:
    return _CODES.get(error.code, grpc.StatusCode.UNKNOWN)
