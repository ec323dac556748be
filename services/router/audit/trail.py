"""The audit trail: the authorization interceptor's sink, its reads and its retention.

Entries are written off the call's path: ``record`` hands the entry to a group commit (one
transaction for whatever queued meanwhile; an idle router writes each at once) and returns.
A write that fails is logged and dropped: the audit trail never fails or delays the call it
describes. Stopping waits for the entries still being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.authorization import AuditRecord
from numproxy.common.errors import InvalidArgument
from numproxy.common.group_commit import GroupCommit
from numproxy.router.clock import Clock
from numproxy.router.sessions import names
from numproxy.router.sessions.pagination import Page, decode_token, page_size, paginate
from numproxy.router.store import audit
from numproxy.router.store.audit import StoredEntry, Wanted
from numproxy.router.store.dialect import READ_ONLY
from numproxy.router.store.transactions import in_batches

log = logging.getLogger(__name__)

# Entries deleted per transaction.
PRUNE_BATCH = 1000
MAX_FILTER = 128


@dataclass(frozen=True)
class AuditQuery:
    """A ListAuditEntries request, before it is checked."""

    caller: str = ""
    method: str = ""
    session: str = ""
    pool: str = ""
    start: datetime | None = None
    end: datetime | None = None


class AuditTrail:
    def __init__(
        self, engine: AsyncEngine, clock: Clock, *, retention: float, batch_max: int
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._retention = timedelta(seconds=retention)
        self._commit = GroupCommit[AuditRecord, None](
            self._write, batch_max=batch_max, concurrency=1, name="audit-trail"
        )
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, entry: AuditRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._submit(entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _submit(self, entry: AuditRecord) -> None:
        try:
            await self._commit.submit(entry)
        except Exception as exc:
            log.error(
                "audit entry for %s by %s not written: %s",
                entry.method,
                entry.caller or "-",
                type(exc).__name__,
            )

    async def _write(self, entries: Sequence[AuditRecord]) -> list[None]:
        async with self._engine.begin() as conn:
            await audit.append(conn, entries)
        return [None] * len(entries)

    async def flush(self) -> None:
        """Wait until every entry recorded so far is written (or failed)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def stop(self) -> None:
        await self.flush()

    async def list_entries(
        self,
        query: AuditQuery,
        size: int = 0,
        token: str = "",
        within: Collection[str] | None = None,
    ) -> Page[StoredEntry]:
        """A page of entries matching ``query``, newest first; ``within``: only those pools."""
        wanted = _check(query, within)
        size = page_size(size)
        scope = [
            "audit",
            wanted.caller,
            wanted.method,
            wanted.session_id,
            wanted.pool,
            wanted.start,
            wanted.end,
            sorted(within) if within is not None else None,
        ]
        key = decode_token(token, scope)
        before = int(key[0]) if key else None
        async with self._engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                found = await audit.page(conn, wanted, before, size + 1)
        return paginate(found, size, lambda e: [e.id], scope)

    async def prune(self) -> int:
        """Delete entries older than the retention, in bounded batches; how many."""
        cutoff = self._clock.now() - self._retention
        total = await in_batches(
            self._engine, lambda conn: audit.prune(conn, cutoff, PRUNE_BATCH), PRUNE_BATCH
        )
        if total:
            log.info("pruned %d audit entries older than the retention", total)
        return total


def _check(query: AuditQuery, within: Collection[str] | None) -> Wanted:
    for field, value in (("caller", query.caller), ("method", query.method)):
        if len(value) > MAX_FILTER:
            raise InvalidArgument(
                f"{field} is longer than {MAX_FILTER} characters",
                reason="INVALID_ARGUMENT",
                metadata={"field": field},
            )
    start = query.start.astimezone(UTC) if query.start else None
    end = query.end.astimezone(UTC) if query.end else None
    if start is not None and end is not None and end <= start:
        raise InvalidArgument(
            "end_time must be after start_time",
            reason="INVALID_TIME_RANGE",
            metadata={"field": "end_time"},
        )
    return Wanted(
        caller=query.caller,
        method=query.method,
        session_id=names.session_id(query.session, field="session") if query.session else "",
        pool=names.pool_id(query.pool) if query.pool else "",
        start=start,
        end=end,
        within=within,
    )
