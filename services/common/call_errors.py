"""Batch calls: each item handled as the matching unary call would handle it, an item's failure
carried as the status that call would have failed with (numproxy.internal.v1.CallError)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc

from numproxy.common.errors import DomainError, InvalidArgument, Translate
from numproxy.internal.v1 import call_error_pb2

log = logging.getLogger(__name__)

_CODES = {code.value[0]: code for code in grpc.StatusCode}

# Items one batch call may carry.
MAX_BATCH_ITEMS = 500

T = TypeVar("T")
R = TypeVar("R")


async def each_item(
    items: Sequence[T],
    handle: Callable[[T], Awaitable[R]],
    translate: Translate | None = None,
) -> list[R | call_error_pb2.CallError]:
    """``handle`` every item concurrently; per item its result, or its failure as a CallError.
    More than MAX_BATCH_ITEMS items is INVALID_ARGUMENT for the whole call."""
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidArgument(
            f"at most {MAX_BATCH_ITEMS} items per call",
            reason="BATCH_TOO_LARGE",
            metadata={"field": "messages"},
        )
    outcomes = await asyncio.gather(*(handle(item) for item in items), return_exceptions=True)
    return [
        call_error(outcome, translate) if isinstance(outcome, BaseException) else outcome
        for outcome in outcomes
    ]


def call_error(exc: BaseException, translate: Translate | None = None) -> call_error_pb2.CallError:
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
