"""The outbox dispatcher: sends due QUEUED outbound rows through the sender.

Claiming is one statement that pushes the rows' ``next_attempt_at`` forward by a lease (and
counts the attempt); on PostgreSQL its row selection uses ``FOR UPDATE SKIP LOCKED`` so
replicas share the work without sending a row twice. A process that dies mid-send leaves the
row to be retried when the lease runs out; the row id is the sender's idempotency key, so the
provider is not called twice for it. ``notify()`` wakes the loop right after a commit that
queued rows; a poll every ``dispatch_interval`` covers retries and crash recovery.

Fast path (no claim): a writer that knows it will hand rows to this dispatcher first
``reserve()``s room, writes those rows already leased (``outbound.leased_values``: the lease and
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
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import grpc
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.common.errors import error_info
from numproxy.common.numbers import mask, mask_numbers_in
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc
from numproxy.router import receipts
from numproxy.router.clock import Clock, as_utc
from numproxy.router.db.concurrency import take_write_lock
from numproxy.router.db.models import Interaction
from numproxy.router.inbound import InboundRouter
from numproxy.router.outbound import FAILED, QUEUED, SENT, OutboundSend
from numproxy.router.settings import RouterSettings
from numproxy.router.transactions import database_unavailable

log = logging.getLogger(__name__)

PERMANENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
_MAX_REASON = 500
# Send results recorded in one transaction at most.
_RECORD_BATCH = 100


_Claimed = OutboundSend


@dataclass(frozen=True, slots=True)
class _Sent:
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Failed:
    reason: str
    retryable: bool


class Dispatcher:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        sender_stub: sender_pb2_grpc.SenderServiceStub,
        settings: RouterSettings,
        clock: Clock,
    ) -> None:
        self._session_factory = session_factory
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
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # Fast path: rows submitted in memory waiting for a send slot, and room promised to
        # writers whose transaction has not committed yet.
        self._waiting: deque[_Claimed] = deque()
        self._reserved = 0
        # Send results waiting to be recorded, and the task recording them.
        self._results: list[tuple[_Claimed, _Sent | _Failed, asyncio.Future[None]]] = []
        self._recording: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._housekeeping_task: asyncio.Task[None] | None = None
        # Multipart timeouts and dedupe purging run beside the dispatch loop.
        self._inbound = InboundRouter(session_factory, settings, clock, on_queued=self.notify)

    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="dispatcher")
        self._housekeeping_task = asyncio.create_task(
            self._housekeeping_loop(), name="inbound-housekeeping"
        )

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
            - len(self._inflight)
            - len(self._waiting)
            - self._reserved
        )
        granted = max(0, min(count, room))
        self._reserved += granted
        return granted

    def release(self, count: int) -> None:
        """Give back room reserved for rows that were not committed."""
        self._reserved = max(0, self._reserved - count)

    async def submit(self, rows: Iterable[_Claimed]) -> None:
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
        while self._waiting and len(self._inflight) < self._settings.dispatch_concurrency:
            self._start(self._waiting.popleft())

    def _start(self, row: _Claimed) -> None:
        task = asyncio.create_task(self._send(row), name=f"send-{row.id}")
        self._inflight[row.id] = task
        task.add_done_callback(functools.partial(self._finished, row.id))

    def _free(self) -> int:
        """Send slots the loop may claim rows for (rows handed over wait for slots too: they
        share the freed slots with the loop, see _finished)."""
        return self._settings.dispatch_concurrency - len(self._inflight)

    async def stop(self) -> None:
        """Stop claiming; let in-flight sends finish within the grace, hand back the rest."""
        self._stopping = True
        self._wake.set()
        waiting = [row.id for row in self._waiting]
        self._waiting.clear()
        if waiting:
            await self._hand_back(waiting)
        if self._housekeeping_task is not None:
            self._housekeeping_task.cancel()
        for task in (self._loop_task, self._housekeeping_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._housekeeping_task = None
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
        for row in claimed:
            self._start(row)
        return len(claimed)

    def _finished(self, row_id: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(row_id, None)
        # A freed slot goes to a row handed over in memory or, when rows are due in the
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

    async def _housekeeping_loop(self) -> None:
        while True:
            try:
                await self._inbound.flush_incomplete()
                await self._inbound.purge()
            except Exception as exc:
                if database_unavailable(exc):
                    log.warning("inbound housekeeping failed: database unavailable")
                else:
                    log.exception("inbound housekeeping failed")
            await asyncio.sleep(self._settings.housekeeping_interval)

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = self._clock.now()
        due = (
            select(Interaction.id)
            .where(Interaction.status == QUEUED, Interaction.next_attempt_at <= now)
            .order_by(Interaction.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialized, so the locking LIMIT runs once (as "id IN (subquery)" PostgreSQL
            # may re-run it and, skipping its own locks, claim more rows than the limit).
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        claim = (
            update(Interaction)
            .where(Interaction.id == due.c.id)
            .values(
                next_attempt_at=now + timedelta(seconds=self._settings.dispatch_lease),
                attempts=Interaction.attempts + 1,
                updated_at=now,
            )
            .returning(
                Interaction.id,
                Interaction.proxy_number,
                Interaction.recipient_number,
                Interaction.text,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._session_factory() as db, db.begin():
            rows = (await db.execute(claim)).all()
        return [_Claimed(*row) for row in rows]

    async def _send(self, row: _Claimed) -> None:
        request = sender_pb2.SendSmsRequest(
            from_number=row.proxy_number,
            to_number=row.recipient_number,
            text=row.text,
            idempotency_key=row.id,
        )
        result: _Sent | _Failed
        try:
            reply = await self._stub.SendSms(request, timeout=self._settings.send_timeout)
            result = _Sent(tuple(reply.message_ids))
        except grpc.aio.AioRpcError as exc:
            result = self._classify(exc)
        except Exception as exc:  # e.g. the channel was closed: try again later
            result = _Failed(f"SEND_ERROR: {type(exc).__name__}", retryable=True)
        try:
            await self._record(row, result)
        except Exception:
            # The lease runs out and the row is sent again under the same idempotency key.
            log.exception("recording the send result of outbound %s failed", row.id)

    async def _record(self, row: _Claimed, result: _Sent | _Failed) -> None:
        """Record one send result; results arriving together share one transaction (group
        commit: while a batch is written the next ones queue). Returns once committed."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((row, result, waiter))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record_queued(), name="record-sends")
        await asyncio.shield(waiter)

    async def _record_queued(self) -> None:
        while self._results:
            batch = self._results[:_RECORD_BATCH]
            del self._results[:_RECORD_BATCH]
            try:
                await self._record_many([(row, result) for row, result, _ in batch])
            except Exception as exc:
                for _, _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
            else:
                for _, _, waiter in batch:
                    if not waiter.done():
                        waiter.set_result(None)

    def _classify(self, exc: grpc.aio.AioRpcError) -> _Failed:
        code = exc.code()
        info = error_info(exc)
        reason = info.reason if info is not None and info.reason else code.name
        details = mask_numbers_in(exc.details() or "")
        text = f"{reason}: {details}"[:_MAX_REASON] if details else reason
        if info is not None and info.metadata.get("partial") == "true":
            # Some parts were accepted: sending again would deliver them twice, whatever the
            # status of the rejected parts (a throttled part included).
            return _Failed(text, retryable=False)
        return _Failed(text, retryable=self._is_retryable(code, reason))

    def _is_retryable(self, code: grpc.StatusCode, reason: str) -> bool:
        prefix = "PROVIDER_STATUS_"
        if reason.startswith(prefix) and reason[len(prefix) :].isdigit():
            status = int(reason[len(prefix) :])
            if status in self._settings.retryable_provider_statuses:
                return True
        return code not in PERMANENT_CODES

    async def _record_many(self, batch: list[tuple[_Claimed, _Sent | _Failed]]) -> None:
        now = self._clock.now()
        async with self._session_factory() as db, db.begin():
            await take_write_lock(db)
            found = await db.scalars(
                select(Interaction)
                .where(Interaction.id.in_([row.id for row, _ in batch]))
                .order_by(Interaction.id)
                .with_for_update()
            )
            items = {item.id: item for item in found}
            for row, result in batch:
                item = items.get(row.id)
                if item is None or item.status != QUEUED:
                    continue  # settled meanwhile (its lease ran out and another attempt finished)
                self._apply(item, result, now)

    def _apply(self, item: Interaction, result: _Sent | _Failed, now: datetime) -> None:
        """One send result on its (locked, still QUEUED) row."""
        item.updated_at = now
        if isinstance(result, _Sent):
            item.status = SENT
            item.provider_message_ids = list(result.message_ids)
            item.next_attempt_at = None
            item.failure_reason = ""
            receipts.settle(item)  # receipts may have raced ahead of this update
            log.info("outbound %s to %s sent", item.id, mask(item.recipient_number))
        elif result.retryable and not self._exhausted(item, now):
            item.next_attempt_at = now + timedelta(seconds=self._backoff(item.attempts))
            log.warning(
                "outbound %s to %s: attempt %d failed (%s); retrying at %s",
                item.id,
                mask(item.recipient_number),
                item.attempts,
                result.reason,
                item.next_attempt_at.isoformat(),
            )
        else:
            item.status = FAILED
            item.next_attempt_at = None
            item.failure_reason = (
                f"{result.reason} (gave up after {item.attempts} attempts)"
                if result.retryable
                else result.reason
            )
            log.warning(
                "outbound %s to %s failed after %d attempt(s): %s",
                item.id,
                mask(item.recipient_number),
                item.attempts,
                result.reason,
            )

    def _exhausted(self, item: Interaction, now: datetime) -> bool:
        age = now - as_utc(item.created_at)
        return (
            item.attempts >= self._settings.max_send_attempts
            or age.total_seconds() >= self._settings.max_send_age
        )

    def _backoff(self, attempts: int) -> float:
        """Exponential in the attempts made, jittered within its upper half."""
        growth: float = 2.0 ** min(max(attempts - 1, 0), 62)
        base = min(self._settings.retry_max_backoff, self._settings.retry_initial_backoff * growth)
        return base / 2 + random.random() * base / 2

    async def _hand_back(self, row_ids: list[str]) -> None:
        """Release the lease of rows whose send was interrupted, for another replica."""
        now = self._clock.now()
        try:
            async with self._session_factory() as db, db.begin():
                await db.execute(
                    update(Interaction)
                    .where(Interaction.id.in_(row_ids), Interaction.status == QUEUED)
                    .values(next_attempt_at=now, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.exception("handing back %d outbound message(s) failed", len(row_ids))
