"""The sweeper: closes sessions whose idle TTL or absolute expiry has passed.

Lookups already treat such sessions as closed; sweeping writes it down and frees their proxy
numbers for other sessions of the same real numbers. On PostgreSQL, replicas share the work
(``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from numproxy.common.periodic import Periodic
from numproxy.router.clock import Clock
from numproxy.router.store import closing
from numproxy.router.store.dialect import is_retryable
from numproxy.router.store.expiry import ran_out_ids_sql
from numproxy.router.store.models import Session
from numproxy.router.store.transactions import SessionFactory, writing
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        factory: SessionFactory,
        clock: Clock,
        interval: float,
        batch_size: int = 500,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events
        self._clock = clock
        self._interval = interval
        self._batch_size = batch_size
        self._periodic = Periodic("session-sweeper", interval, self.sweep, self._failed)

    async def sweep(self) -> int:
        """Close every session that has run out by now; returns how many this call closed."""
        total = 0
        while True:
            closed, full_batch = await self._sweep_batch(self._clock.now())
            total += closed
            if not full_batch:
                return total

    async def _sweep_batch(self, now: datetime) -> tuple[int, bool]:
        due = ran_out_ids_sql(now).subquery()
        query = (
            select(*closing.RAN_OUT_COLUMNS)
            .where(Session.id.in_(select(due.c.id).limit(self._batch_size)))
            .with_for_update(skip_locked=True)
        )
        async with writing(self._factory) as db:
            conn = await db.connection()
            found = (await conn.execute(query)).all()
            writes = Writes()
            closed = len(await closing.close_ran_out(conn, found, now, writes))
            await writes.flush(conn)
        if closed:
            self._on_events()
            log.info("sweeper closed %d expired sessions", closed)
        return closed, closed == self._batch_size

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DBAPIError):
            level = logging.INFO if is_retryable(exc) else logging.WARNING
            log.log(level, "sweep failed, next one in %.1fs: %s", self._interval, exc.orig)
        else:
            log.error("sweep failed", exc_info=exc)
