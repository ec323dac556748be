"""Waking event watchers: when events may have been committed, every waiting watcher reads.

Two sources, one signal: ``notify()``, called by this process right after each commit that
wrote events (the pipeline, send results, receipts, the session and pool API, the sweeper),
and a poll of the newest cursor for events committed by other router replicas. The poll runs
only while someone watches, once per process whatever the number of watchers.

A watcher takes ``generation`` before it reads and, having read everything, waits with
``wait(generation)``: a notify() that came in between returns at once, so no wake-up is lost.
When the router shuts down, ``stop()`` wakes every watcher for the last time and they end
their streams (the caller resumes from its last cursor, on this replica or another one),
rather than holding the server's shutdown for its whole grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

# Reads the newest cursor (0 when there are no events).
NewestCursor = Callable[[], Awaitable[int]]


class EventFeed:
    def __init__(self, newest: NewestCursor, poll_interval: float) -> None:
        self._newest = newest
        self._poll_interval = poll_interval
        self._generation = 0
        self._changed = asyncio.Event()
        self._watchers = 0
        self._poller: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def watchers(self) -> int:
        return self._watchers

    @property
    def stopped(self) -> bool:
        """The router is shutting down: watchers end their streams."""
        return self._stopped

    async def stop(self) -> None:
        self._stopped = True
        self.notify()

    def notify(self) -> None:
        """Events were committed: wake every watcher."""
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, generation: int) -> None:
        """Return once a notify() came after ``generation`` was taken."""
        if self._generation == generation:
            await self._changed.wait()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """A watcher's lifetime: the poll runs while there is at least one."""
        self._watchers += 1
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="event-poll")
        try:
            yield
        finally:
            self._watchers -= 1
            if self._watchers == 0 and self._poller is not None:
                poller, self._poller = self._poller, None
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    async def _poll(self) -> None:
        seen: int | None = None
        while True:
            try:
                newest = await self._newest()
            except Exception as exc:  # the watchers' own reads report an outage
                log.debug("event poll failed: %s", exc)
            else:
                # The first read wakes the watchers too: a commit may have come between
                # their last read and this poll's start.
                if newest != seen:
                    self.notify()
                seen = newest
            await asyncio.sleep(self._poll_interval)
