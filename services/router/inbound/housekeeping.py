"""Inbound housekeeping, beside the pipeline: multipart groups whose missing parts did not
arrive in time are routed through the pipeline with the parts that did, dedupe records and
routed parts older than the dedupe retention are purged, events older than the event
retention are pruned (a bounded batch per transaction, store/events.py), and so are audit
entries older than the audit retention (audit/trail.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.periodic import Periodic
from numproxy.router.audit.trail import AuditTrail
from numproxy.router.clock import Clock
from numproxy.router.inbound.message import Outcome, TimedOutGroup
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.settings import RouterSettings
from numproxy.router.store import events, queries
from numproxy.router.store.dialect import READ_ONLY, database_unavailable

log = logging.getLogger(__name__)

# Events deleted per transaction, and transactions per round at most (a backlog is worked
# off over several rounds rather than holding up the round's other work).
PRUNE_BATCH = 1000
PRUNE_BATCHES_PER_ROUND = 50


class InboundHousekeeping:
    def __init__(
        self,
        engine: AsyncEngine,
        pipeline: InboundPipeline,
        settings: RouterSettings,
        clock: Clock,
        audit: AuditTrail | None = None,
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._pipeline = pipeline
        self._settings = settings
        self._clock = clock
        self._periodic = Periodic(
            "inbound-housekeeping", settings.housekeeping_interval, self._round, _failed
        )

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

    async def prune_events(self) -> int:
        """Delete events older than the event retention, in bounded batches; how many."""
        cutoff = self._clock.now() - timedelta(seconds=self._settings.event_retention)
        total = 0
        for _ in range(PRUNE_BATCHES_PER_ROUND):
            async with self._engine.begin() as conn:
                pruned = await events.prune(conn, cutoff, PRUNE_BATCH)
            total += pruned
            if pruned < PRUNE_BATCH:
                break
        if total:
            log.info("pruned %d events older than the retention", total)
        return total

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _round(self) -> None:
        await self.flush_incomplete()
        await self.purge()
        await self.prune_events()
        if self._audit is not None:
            await self._audit.prune()


def _failed(exc: Exception) -> None:
    if database_unavailable(exc):
        log.warning("inbound housekeeping failed: database unavailable")
    else:
        log.error("inbound housekeeping failed", exc_info=exc)
