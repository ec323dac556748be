"""Group commit: concurrent callers share one transaction.

While a batch is being written, newly arrived items queue; when it commits, the next batch
takes everything queued (up to ``batch_max``). An idle process therefore writes a lone item at
once (no timer, no added latency) and a busy one writes many per transaction. Each caller is
answered only after the transaction holding its item committed. If a batch fails, each of its
items is written again in a batch of its own, so one bad item cannot fail the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        batch_max: int,
        concurrency: int,
        name: str,
        linger: float = 0.0,
    ) -> None:
        """``write`` runs one transaction for a batch and returns one result per item, in
        order, once committed. With ``linger``, a batch waits that long for company before it
        is written (for writes no caller is waiting on with a deadline, such as send results)."""
        self._write = write
        self._linger = linger
        self._batch_max = max(1, batch_max)
        self._concurrency = max(1, concurrency)
        self._name = name
        self._queue: list[_Waiting[T, R]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is queued; its result once committed."""
        waiting = _Waiting[T, R](item, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._start_batches()
        return await waiting.future

    def _start_batches(self) -> None:
        while self._queue and len(self._running) < self._concurrency:
            if self._linger > 0 and len(self._queue) < self._batch_max:
                task = asyncio.create_task(self._linger_then_run(), name=self._name)
            else:
                task = asyncio.create_task(self._run(self._take()), name=self._name)
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _take(self) -> list[_Waiting[T, R]]:
        batch = self._queue[: self._batch_max]
        del self._queue[: self._batch_max]
        return batch

    async def _linger_then_run(self) -> None:
        await asyncio.sleep(self._linger)
        await self._run(self._take())

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_batches()

    async def _run(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            results = await self._write([w.item for w in batch])
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            log.warning(
                "%s: a batch of %d failed (%s); writing each alone",
                self._name,
                len(batch),
                type(exc).__name__,
            )
            for waiting in batch:
                await self._run([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.future.done():  # the caller went away (deadline, cancellation)
                waiting.future.set_result(result)


def _fail(waiting: _Waiting[T, R], exc: Exception) -> None:
    if not waiting.future.done():
        waiting.future.set_exception(exc)
