"""Inbound housekeeping, beside the pipeline: multipart groups whose missing parts did not
arrive in time are routed through the pipeline with the parts that did, dedupe records and
routed parts older than the dedupe retention are purged, events older than the event
retention are pruned (a bounded batch per transaction, store/events.py), so are audit entries
older than the audit retention (audit/trail.py), and message text, sessionless replies and
reply records past their retention are redacted or deleted (store/retention.py, bounded
batches too)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from numproxy.common.periodic import Periodic
from numproxy.router.audit.trail import AuditTrail
from numproxy.router.clock import Clock
from numproxy.router.inbound.message import Outcome, TimedOutGroup
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.settings import RouterSettings
from numproxy.router.store import events, queries, retention
from numproxy.router.store.dialect import READ_ONLY, database_unavailable
from numproxy.router.store.transactions import in_batches

log = logging.getLogger(__name__)

# Events deleted per transaction.
PRUNE_BATCH = 1000


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
        total = await in_batches(
            self._engine, lambda conn: events.prune(conn, cutoff, PRUNE_BATCH), PRUNE_BATCH
        )
        if total:
            log.info("pruned %d events older than the retention", total)
        return total

    async def apply_retention(self) -> dict[str, int]:
        """Redact and delete what is past its retention, in bounded batches; how many rows
        (sessions, for redaction) each task did."""
        now = self._clock.now()
        limit = self._settings.retention_batch
        tasks: dict[str, Callable[[AsyncConnection], Awaitable[int]]] = {
            "sessions redacted": lambda conn: retention.redact_closed_sessions(conn, now, limit),
            "sessionless replies deleted": lambda conn: retention.prune_sessionless(
                conn, now - timedelta(seconds=self._settings.sessionless_retention), limit
            ),
            "reply records deleted": lambda conn: retention.prune_reply_log(
                conn, now - timedelta(seconds=self._settings.reply_log_retention), limit
            ),
        }
        done = {name: await in_batches(self._engine, task, limit) for name, task in tasks.items()}
        async with self._engine.begin() as conn:
            await retention.prune_send_counts(conn, now)
        if any(done.values()):
            log.info("retention: %s", ", ".join(f"{n} {name}" for name, n in done.items() if n))
        return done

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
        await self.apply_retention()


def _failed(exc: Exception) -> None:
    if database_unavailable(exc):
        log.warning("inbound housekeeping failed: database unavailable")
    else:
        log.error("inbound housekeeping failed", exc_info=exc)
