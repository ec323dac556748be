"""Replay of successful results for a repeated idempotency key.

A key seen within ``window`` seconds returns the first successful result without calling the
provider again; concurrent calls with one key share one provider call. Failures are not kept,
so a retried failure is attempted again. At most ``max_entries`` results are kept (oldest
dropped first).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from numproxy.common.errors import InvalidArgument

T = TypeVar("T")


@dataclass(slots=True)
class _Entry(Generic[T]):
    expires: float
    fingerprint: str
    value: T


class IdempotencyKeyReused(InvalidArgument):
    default_reason = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyCache(Generic[T]):
    def __init__(
        self, window: float, max_entries: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._max = max_entries
        self._clock = clock
        self._done: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._inflight: dict[str, tuple[str, asyncio.Task[T]]] = {}

    def __len__(self) -> int:
        return len(self._done)

    async def run(self, key: str, fingerprint: str, call: Callable[[], Awaitable[T]]) -> T:
        """The cached result for ``key``, the result of the call already running for it, or
        the result of ``call()``. ``fingerprint`` identifies the request's content: reusing a
        key for different content is an InvalidArgument."""
        if not key:
            return await call()
        self._evict()
        entry = self._done.get(key)
        if entry is not None:
            self._check(key, entry.fingerprint, fingerprint)
            return entry.value
        running = self._inflight.get(key)
        if running is not None:
            self._check(key, running[0], fingerprint)
            task = running[1]
        else:
            task = asyncio.ensure_future(call())
            self._inflight[key] = (fingerprint, task)
            task.add_done_callback(lambda t: self._finished(key, fingerprint, t))
        # shield: a caller giving up does not cancel the call the others (or a retry) wait for.
        return await asyncio.shield(task)

    @staticmethod
    def _check(key: str, stored: str, given: str) -> None:
        if stored != given:
            raise IdempotencyKeyReused(
                "idempotency_key was already used for a different message",
                metadata={"idempotency_key": key},
            )

    def _finished(self, key: str, fingerprint: str, task: asyncio.Task[T]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[key] = _Entry(self._clock() + self._window, fingerprint, task.result())
        self._done.move_to_end(key)
        self._evict()

    def _evict(self) -> None:
        now = self._clock()
        while self._done:
            key, entry = next(iter(self._done.items()))
            if entry.expires > now and len(self._done) <= self._max:
                break
            del self._done[key]
