"""Recording send results on their outbound rows. Results arriving together share one
transaction (group commit): two statements per batch, a locking read and one update. A result
waits ``send_result_linger`` for company, since no webhook waits for it.

A result applies only to a row still QUEUED: one settled meanwhile (its lease ran out and
another attempt finished) is left alone. A row that moved on brings its events (SENT, and
FAILED or DELIVERED: outbox/progress.py), written last in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.group_commit import GroupCommit
from numproxy.common.numbers import mask
from numproxy.router.clock import Clock
from numproxy.router.metrics import RouterMetrics
from numproxy.router.outbox.progress import progress_events
from numproxy.router.outbox.receipts import settle
from numproxy.router.outbox.retry import RetryPolicy, SendResult, Sent
from numproxy.router.store import events, queries
from numproxy.router.store.queries import OutboundState
from numproxy.router.store.rows import Row
from numproxy.router.store.states import MessageStatus

log = logging.getLogger(__name__)

# Send results recorded in one transaction at most.
RECORD_BATCH = 100


class ResultRecorder:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        policy: RetryPolicy,
        linger: float = 0.0,
        on_events: Callable[[], None] = lambda: None,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._policy = policy
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events
        # One batch at a time. Results come in spread out, one per send: waiting ``linger``
        # for company makes a few transactions of many results instead of many of one (no
        # webhook waits for them; a crash before the write leaves the lease to run out).
        self._batches: GroupCommit[tuple[str, SendResult], None] = GroupCommit(
            self._write,
            batch_max=RECORD_BATCH,
            concurrency=1,
            name="record-sends",
            linger=linger,
        )

    async def record(self, row_id: str, result: SendResult) -> None:
        """Record one send result; returns once committed."""
        await self._batches.submit((row_id, result))

    async def _write(self, results: Sequence[tuple[str, SendResult]]) -> list[None]:
        now = self._clock.now()
        async with self._engine.begin() as conn:
            states = await queries.load_outbound(conn, (row_id for row_id, _ in results))
            changed: list[OutboundState] = []
            progress: list[Row] = []
            for row_id, result in results:
                state = states.get(row_id)
                if state is None or state.status != MessageStatus.QUEUED:
                    continue
                self._apply(state, result, now)
                changed.append(state)
                progress += progress_events(MessageStatus.QUEUED, state, now)
            await queries.save_outbound(conn, changed, now)
            await events.append(conn, progress)
        if progress:
            self._on_events()
        return [None] * len(results)

    def _apply(self, row: OutboundState, result: SendResult, now: datetime) -> None:
        """One send result on its (locked, still QUEUED) row."""
        if isinstance(result, Sent):
            row.status = MessageStatus.SENT
            row.provider_message_ids = list(result.message_ids)
            row.next_attempt_at = None
            row.failure_reason = ""
            settle(row)
            log.info("outbound %s to %s sent", row.id, mask(row.recipient_number))
        elif result.retryable and not self._policy.exhausted(row.attempts, row.created_at, now):
            row.next_attempt_at = self._policy.next_attempt(row.attempts, now)
            if self._metrics is not None:
                self._metrics.retries.inc()
            log.warning(
                "outbound %s to %s: attempt %d failed (%s); retrying at %s",
                row.id,
                mask(row.recipient_number),
                row.attempts,
                result.reason,
                row.next_attempt_at.isoformat(),
            )
        else:
            row.status = MessageStatus.FAILED
            row.next_attempt_at = None
            row.failure_reason = (
                f"{result.reason} (gave up after {row.attempts} attempts)"
                if result.retryable
                else result.reason
            )
            log.warning(
                "outbound %s to %s failed after %d attempt(s): %s",
                row.id,
                mask(row.recipient_number),
                row.attempts,
                result.reason,
            )
