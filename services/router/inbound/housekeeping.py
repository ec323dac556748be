"""Inbound housekeeping, beside the pipeline: multipart groups whose missing parts did not
arrive in time are routed through the pipeline with the parts that did, and dedupe records
and routed parts older than the dedupe retention are purged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.clock import Clock
from numproxy.router.inbound.message import Outcome, TimedOutGroup
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries
from numproxy.router.store.dialect import READ_ONLY, database_unavailable

log = logging.getLogger(__name__)


class InboundHousekeeping:
    def __init__(
        self,
        engine: AsyncEngine,
        pipeline: InboundPipeline,
        settings: RouterSettings,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._pipeline = pipeline
        self._settings = settings
        self._clock = clock
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def flush_incomplete(self) -> int:
        """Route multipart groups whose missing parts did not arrive in time; how many."""
        cutoff = self._clock.now() - timedelta(seconds=self._settings.multipart_timeout)
        async with self._engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                groups = await queries.stale_groups(conn, cutoff)
        results = await asyncio.gather(
            *(
                self._pipeline.receive(TimedOutGroup(sender, proxy, ref, cutoff))
                for sender, proxy, ref in groups
            )
        )
        return sum(result.outcome is not Outcome.DUPLICATE for result in results)

    async def purge(self) -> int:
        """Delete dedupe records and routed parts older than the dedupe retention."""
        cutoff = self._clock.now() - timedelta(seconds=self._settings.dedupe_retention)
        async with self._engine.begin() as conn:
            return await queries.purge_dedupe(conn, cutoff)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="inbound-housekeeping")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.flush_incomplete()
                await self.purge()
            except Exception as exc:
                if database_unavailable(exc):
                    log.warning("inbound housekeeping failed: database unavailable")
                else:
                    log.exception("inbound housekeeping failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.housekeeping_interval)
