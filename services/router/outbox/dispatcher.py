"""The outbox dispatcher: sends due QUEUED outbound rows through the sender.

Claiming is one statement that pushes the rows' ``next_attempt_at`` forward by a lease (and
counts the attempt); on PostgreSQL its row selection uses ``FOR UPDATE SKIP LOCKED`` so
replicas share the work without sending a row twice. A process that dies mid-send leaves the
row to be retried when the lease runs out; the row id is the sender's idempotency key, so the
provider is not called twice for it. ``notify()`` wakes the loop right after a commit that
queued rows; a poll every ``dispatch_interval`` covers retries and crash recovery.

Rows started together (a claim, or the rows one inbound batch handed over) go to the sender in
one ``SendSmsBatch`` call, up to ``send_batch_max`` each, with one result per row: a batch
crosses the hop, so the per-call cost of gRPC is paid once for many messages.

Fast path (no claim): a writer that knows it will hand rows to this dispatcher first
``reserve()``s room, writes those rows already leased (``store.rows.leased``: the lease and
the attempt a claim would have set), and after its commit ``submit()``s them; they are sent at
once, or as soon as a send slot is free. Room is bounded (``dispatch_concurrency`` sends plus
``dispatch_queue_max`` waiting); rows that find no room are written unleased and claimed by the
loop as before. If the process dies between the commit and the send, the lease runs out and any
replica's loop claims the rows; the sender's idempotency key covers a send that did happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

import grpc
from opentelemetry.trace import Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common import tracing
from numproxy.common.call_errors import status_code
from numproxy.common.numbers import mask
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc
from numproxy.router.clock import Clock
from numproxy.router.metrics import RouterMetrics
from numproxy.router.outbox import send_budget
from numproxy.router.outbox.results import ResultRecorder
from numproxy.router.outbox.retry import Failed, RetryPolicy, SendResult, Sent
from numproxy.router.settings import RouterSettings
from numproxy.router.store import events, queries, rows
from numproxy.router.store.dialect import database_unavailable
from numproxy.router.store.queries import Claimed
from numproxy.router.store.states import EventType, FailureReason, MessageStatus

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        sender_stub: sender_pb2_grpc.SenderServiceStub,
        recorder: ResultRecorder,
        policy: RetryPolicy,
        settings: RouterSettings,
        clock: Clock,
        on_events: Callable[[], None] = lambda: None,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self._engine = engine
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events
        self._metrics = metrics
        self._recorder = recorder
        self._policy = policy
        # Built on a grpc.aio channel, the stub's calls are awaitable.
        self._stub = cast("sender_pb2_grpc.SenderServiceAsyncStub", sender_stub)
        self._settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        # Rows may be due beyond what the loop last claimed (notify(), or a full claim): a
        # freed send slot wakes the loop only then, not after every send.
        self._more = False
        self._loop_turn = False
        self._stopping = False
        # Tasks sending a row and then recording its result; the rows among them whose send
        # is still under way hold the send slots (recording waits for company, slot-free).
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._sending: set[str] = set()
        # Fast path: rows submitted in memory waiting for a send slot, and room promised to
        # writers whose transaction has not committed yet.
        self._waiting: deque[Claimed] = deque()
        self._reserved = 0
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="dispatcher")

    def notify(self) -> None:
        """Rows were queued and committed: dispatch now rather than at the next poll."""
        self._more = True
        self._wake.set()

    def reserve(self, count: int) -> int:
        """Room for up to ``count`` pre-leased rows a writer is about to commit; how many it
        may lease (the others it writes unleased, for the loop). Each granted row is then
        ``submit()``ted after the commit or ``release()``d if the transaction failed."""
        if self._stopping or count <= 0:
            return 0
        room = (
            self._settings.dispatch_concurrency
            + self._settings.dispatch_queue_max
            - len(self._sending)
            - len(self._waiting)
            - self._reserved
        )
        granted = max(0, min(count, room))
        self._reserved += granted
        return granted

    def release(self, count: int) -> None:
        """Give back room reserved for rows that were not committed."""
        self._reserved = max(0, self._reserved - count)

    async def submit(self, rows: Iterable[Claimed]) -> None:
        """Send committed pre-leased rows (their room was reserved) without claiming them."""
        rows = list(rows)
        self.release(len(rows))
        if self._stopping:
            # Too late to start sends: clear their lease so another replica sends them now.
            await self._hand_back([row.id for row in rows])
            return
        self._waiting.extend(rows)
        self._start_waiting()

    def _start_waiting(self) -> None:
        free = self._free()
        if self._waiting and free > 0:
            count = min(free, len(self._waiting))
            self._start([self._waiting.popleft() for _ in range(count)])

    def _start(self, rows: list[Claimed]) -> None:
        """Send ``rows``, ``send_batch_max`` to a call (each row holds a send slot)."""
        size = self._settings.send_batch_max
        for first in range(0, len(rows), size):
            batch = rows[first : first + size]
            task = asyncio.create_task(self._send(batch), name=f"send-{batch[0].id}")
            for row in batch:
                self._inflight[row.id] = task
                self._sending.add(row.id)
            task.add_done_callback(functools.partial(self._finished, [row.id for row in batch]))

    def _free(self) -> int:
        """Send slots the loop may claim rows for (rows handed over wait for slots too: they
        share the freed slots with the loop, see _finished)."""
        return self._settings.dispatch_concurrency - len(self._sending)

    async def stop(self) -> None:
        """Stop claiming; let in-flight sends finish within the grace, hand back the rest."""
        self._stopping = True
        self._wake.set()
        waiting = [row.id for row in self._waiting]
        self._waiting.clear()
        if waiting:
            await self._hand_back(waiting)
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        pending = dict(self._inflight)
        if pending:
            await asyncio.wait(pending.values(), timeout=self._settings.shutdown_grace)
        unfinished = [row_id for row_id, task in pending.items() if not task.done()]
        for row_id in unfinished:
            self._inflight[row_id].cancel()
        for task in pending.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if unfinished:
            await self._hand_back(unfinished)

    async def dispatch_once(self) -> int:
        """Claim and send what is due now (up to the free concurrency); rows started."""
        free = self._free()
        if free <= 0:
            return 0
        claimed = await self._claim(free)
        if claimed:
            self._start(claimed)
        return len(claimed)

    def _finished(self, row_ids: list[str], _task: asyncio.Task[None]) -> None:
        for row_id in row_ids:
            self._inflight.pop(row_id, None)
        self._sent(row_ids)  # if the task ended before its send did (cancelled)

    def _sent(self, row_ids: list[str]) -> None:
        """The sends of ``row_ids`` are over: their slots are free."""
        if not self._sending.intersection(row_ids):
            return
        self._sending.difference_update(row_ids)
        # Freed slots goes to a row handed over in memory or, when rows are due in the
        # database (written unleased because the room was full, retries), to the loop; turn
        # about while both wait, so neither starves the other.
        self._loop_turn = not self._loop_turn
        if self._waiting and not self._stopping and not (self._more and self._loop_turn):
            self._start_waiting()
        elif self._more or self._stopping:
            self._wake.set()

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self._free()
            if free > 0:
                self._more = False  # set again by a notify() during the claim
            try:
                started = await self.dispatch_once()
            except Exception as exc:
                if database_unavailable(exc):  # polled again; readiness reports it too
                    if self._metrics is not None:
                        self._metrics.database_errors.labels("dispatcher").inc()
                    log.warning("claiming outbound messages failed: database unavailable")
                else:
                    log.exception("claiming outbound messages failed")
                started = 0
            if free > 0 and started == free:
                self._more = True
                if not self._stopping:
                    continue  # a full batch: more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.dispatch_interval)

    async def _claim(self, limit: int) -> list[Claimed]:
        """Lease due rows; in the same transaction, fail those the claim refused (opted out)
        and those over their pool's daily send budget, with their events."""
        now = self._clock.now()
        until = rows.lease_until(now, self._settings.dispatch_lease)
        async with self._engine.begin() as conn:
            claimed = await queries.claim_due(conn, now, limit, until)
            over, written = await send_budget.charge(conn, claimed, now)
            await queries.fail_outbound(conn, sorted(over), FailureReason.POOL_DAILY_BUDGET, now)
            sending: list[Claimed] = []
            for row in claimed:
                reason = FailureReason.POOL_DAILY_BUDGET if row.claimed.id in over else None
                if row.status == MessageStatus.FAILED:
                    reason = FailureReason(row.failure_reason)
                if reason is None:
                    sending.append(row.claimed)
                    continue
                log.info(
                    "outbound %s to %s not sent: %s",
                    row.claimed.id,
                    mask(row.claimed.recipient_number),
                    reason,
                )
                written.append(
                    rows.event(
                        type=EventType.OUTBOUND_FAILED,
                        now=now,
                        pool_id=row.pool_id,
                        session_id=row.session_id,
                        interaction_id=row.claimed.id,
                        participant=row.claimed.recipient_number,
                        proxy_number=row.claimed.proxy_number,
                        reason=reason,
                        direction=row.direction,
                    )
                )
            await events.append(conn, written)
        if written:
            self._on_events()
        return sending

    async def _send(self, rows: list[Claimed]) -> None:
        """One SendSmsBatch call for ``rows``, then their results recorded."""
        # Tracing on: a span per row in the trace it was queued in, carried per message.
        spans: list[Span | None] = (
            [
                tracing.start_span(
                    "numproxy.router/send", parent=row.trace_context, kind=SpanKind.CLIENT
                )
                for row in rows
            ]
            if tracing.enabled()
            else []
        )
        request = sender_pb2.SendSmsBatchRequest(
            messages=[
                sender_pb2.SendSmsRequest(
                    from_number=row.proxy_number,
                    to_number=row.recipient_number,
                    text=row.text,
                    idempotency_key=row.id,
                    trace_context=tracing.carrier_of(spans[index]) if spans else None,
                )
                for index, row in enumerate(rows)
            ]
        )
        results: list[SendResult]
        started = time.perf_counter()
        try:
            reply = await self._stub.SendSmsBatch(request, timeout=self._settings.send_timeout)
            results = [self._result(result) for result in reply.results]
            if len(results) != len(rows):
                results = [Failed("SEND_ERROR: result count mismatch", retryable=True)] * len(rows)
        except grpc.aio.AioRpcError as exc:
            results = [self._policy.classify(exc)] * len(rows)
        except Exception as exc:  # e.g. the channel was closed: try again later
            results = [Failed(f"SEND_ERROR: {type(exc).__name__}", retryable=True)] * len(rows)
        self._sent([row.id for row in rows])
        for span, result in zip(spans, results, strict=False):
            if span is not None:
                span.set_attribute(
                    "numproxy.send", "sent" if isinstance(result, Sent) else "failed"
                )
                span.end()
        if self._metrics is not None:
            self._count(results, time.perf_counter() - started)
        recorded = await asyncio.gather(
            # Shielded: a send cancelled at shutdown still has its result written.
            *(
                asyncio.shield(self._recorder.record(row.id, result))
                for row, result in zip(rows, results, strict=True)
            ),
            return_exceptions=True,
        )
        for row, outcome in zip(rows, recorded, strict=True):
            if isinstance(outcome, Exception):
                # The lease runs out and the row is sent again under the same idempotency key.
                log.error(
                    "recording the send result of outbound %s failed", row.id, exc_info=outcome
                )

    def _count(self, results: list[SendResult], seconds: float) -> None:
        metrics = self._metrics
        assert metrics is not None
        metrics.send_seconds.observe(seconds)
        for result in results:
            if isinstance(result, Sent):
                metrics.send_status("sent", "OK")
            else:
                metrics.send_status("retryable" if result.retryable else "permanent", result.reason)

    def _result(self, result: sender_pb2.SendSmsResult) -> SendResult:
        if result.HasField("sent"):
            return Sent(tuple(result.sent.message_ids))
        error = result.error
        return self._policy.classify_status(
            status_code(error), error.reason, error.message, dict(error.metadata)
        )

    async def _hand_back(self, row_ids: list[str]) -> None:
        """Release the lease of rows whose send was interrupted, for another replica."""
        try:
            async with self._engine.begin() as conn:
                await queries.hand_back(conn, row_ids, self._clock.now())
        except Exception:
            log.exception("handing back %d outbound message(s) failed", len(row_ids))
