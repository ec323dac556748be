"""Group commit of inbound SMS: concurrent ReceiveSms calls share one transaction.

Under load most of an inbound's cost is per statement and per commit (a dozen ORM round trips,
one WAL flush), not per row. So while a batch is being written, newly arrived messages queue;
when it commits, the next batch takes everything queued (up to ``batch_max``). An idle router
therefore writes a lone message at once (no timer, no added latency), and a busy one writes
many per transaction. Every guarantee of the one-message path holds:

- **ack after commit** — each caller is answered only after the transaction holding its
  message committed;
- **dedupe** — ``INSERT .. ON CONFLICT DO NOTHING RETURNING`` on the same primary key; a
  message id seen twice in one batch is accepted once;
- **outbox** — the interaction rows (the inbound and one outbound per other participant) are
  written in the same transaction as the dedupe row and the session update.

With a ``handoff`` (the router's Dispatcher), the outbound rows it has room for are written
already leased to this process and handed to it in memory after the commit, so they are sent
without a claim transaction; the others are written due now and claimed by its loop. A crash
between commit and send leaves leased rows that any replica sends once the lease ran out.

Only plain text messages take the batched statements: multipart parts, binary messages and
keywords go through :class:`InboundRouter` one at a time, as does any batched message whose
session is not found live (out-of-session policy, expiry), inside the batch's transaction
with the same code. If a batch fails, each of its messages is retried in its own transaction,
so one bad message cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Executable, Table, and_, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from numproxy.common.numbers import mask
from numproxy.router import keywords, lifecycle, multipart
from numproxy.router.clock import Clock, as_utc
from numproxy.router.db.models import InboundMessage, Interaction, Participant, ProxyNumber, Session
from numproxy.router.inbound import InboundResult, InboundRouter, IncomingSms, Outcome, route_text
from numproxy.router.outbound import QUEUED, RECEIVED, OutboundSend, leased_values
from numproxy.router.settings import RouterSettings

log = logging.getLogger(__name__)

_INBOUND: Table = InboundMessage.__table__  # type: ignore[assignment]
_INTERACTION: Table = Interaction.__table__  # type: ignore[assignment]
_SESSION: Table = Session.__table__  # type: ignore[assignment]
# Executed with one parameter set per message (executemany; SQLAlchemy sends one statement).
_DEDUPE_PG = (
    postgresql.insert(_INBOUND)
    .on_conflict_do_nothing()
    .returning(_INBOUND.c.api_key, _INBOUND.c.message_id)
)
_DEDUPE_SQLITE = (
    sqlite.insert(_INBOUND)
    .on_conflict_do_nothing()
    .returning(_INBOUND.c.api_key, _INBOUND.c.message_id)
)


@runtime_checkable
class Handoff(Protocol):
    """Takes committed pre-leased outbound rows in memory (Dispatcher's fast path)."""

    def reserve(self, count: int) -> int: ...

    def release(self, count: int) -> None: ...

    async def submit(self, rows: Iterable[OutboundSend]) -> None: ...


@dataclass(slots=True)
class _Waiting:
    sms: IncomingSms
    future: asyncio.Future[InboundResult]


@dataclass(frozen=True, slots=True)
class _Live:
    """A live session found for a batched message, with whom to forward it to."""

    session_id: str
    status: str
    ttl_seconds: int
    # (partner's real number, partner's proxy number) of every other active participant.
    partners: tuple[tuple[str, str], ...]


class InboundBatcher:
    def __init__(
        self,
        router: InboundRouter,
        session_factory: async_sessionmaker[AsyncSession],
        settings: RouterSettings,
        clock: Clock,
        on_queued: Callable[[], None],
        *,
        batch_max: int,
        concurrency: int,
        handoff: Handoff | None = None,
    ) -> None:
        self._router = router
        self._session_factory = session_factory
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued
        self._batch_max = batch_max
        self._concurrency = concurrency
        self._handoff = handoff
        self._queue: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    def batchable(self, sms: IncomingSms) -> bool:
        return (
            self._batch_max > 1
            and not sms.binary
            and not multipart.is_part(sms.concat_ref, sms.concat_total, sms.concat_part)
            and keywords.classify(sms.text, self._settings) is None
        )

    async def receive(self, sms: IncomingSms) -> InboundResult:
        """Route ``sms``; returns once its effects are committed."""
        if not self.batchable(sms):
            return await self._router.receive(sms)
        waiting = _Waiting(sms, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._start_batches()
        return await waiting.future

    def _start_batches(self) -> None:
        while self._queue and len(self._running) < self._concurrency:
            batch = self._queue[: self._batch_max]
            del self._queue[: self._batch_max]
            task = asyncio.create_task(self._run(batch), name="inbound-batch")
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_batches()

    async def _run(self, batch: list[_Waiting]) -> None:
        outcomes: list[InboundResult | BaseException]
        sends: list[OutboundSend] = []
        try:
            results, sends = await self._write(batch)
            outcomes = list(results)
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning(
                    "inbound batch of %d failed (%s); retrying one by one",
                    len(batch),
                    type(exc).__name__,
                )
                outcomes = await asyncio.gather(
                    *(self._router.receive(w.sms) for w in batch), return_exceptions=True
                )
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    _resolve(waiting, outcome)
                return
        queued = 0
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, InboundResult):
                queued += outcome.queued
                sms = waiting.sms
                log.info(
                    "inbound %s from %s to %s: %s",
                    sms.message_id,
                    mask(sms.sender_number),
                    mask(sms.proxy_number),
                    outcome.outcome.value,
                )
            _resolve(waiting, outcome)
        if queued > len(sends):
            self._on_queued()  # rows written unleased, for the dispatcher's loop
        if sends and self._handoff is not None:
            await self._handoff.submit(sends)

    async def _write(self, batch: list[_Waiting]) -> tuple[list[InboundResult], list[OutboundSend]]:
        """One transaction for ``batch``: each message's result, once committed, and the
        outbound rows written leased to the handoff (to submit to it)."""
        now = self._clock.now()
        results: list[InboundResult | None] = [None] * len(batch)
        sends: list[OutboundSend] = []
        reserved = 0
        try:
            async with self._session_factory() as db, db.begin():
                # The batched statements are Core: run on the session's connection (same
                # transaction), they skip the ORM session's execute path.
                conn = await db.connection()
                fresh = await self._dedupe(conn, batch, now, results)
                found = await _find_live(conn, [batch[i].sms for i in fresh], now)
                rows: list[dict[str, Any]] = []
                outbound: list[dict[str, Any]] = []
                touched: dict[str, _Live] = {}
                for i in fresh:
                    sms = batch[i].sms
                    live = found.get((sms.sender_number, sms.proxy_number))
                    if live is None:
                        # Not found, or found expired: the one-message code decides (it closes
                        # an expired session and applies the pool's out-of-session policy).
                        results[i] = await route_text(
                            db,
                            self._settings,
                            sms.sender_number,
                            sms.proxy_number,
                            sms.text,
                            "",
                            now,
                        )
                        continue
                    inbound_id = str(uuid.uuid4())
                    rows.append(_inbound_row(inbound_id, live.session_id, sms, now))
                    for partner, partner_proxy in live.partners:
                        outbound.append(
                            _outbound_row(
                                live.session_id, sms, partner, partner_proxy, inbound_id, now
                            )
                        )
                    touched[live.session_id] = live
                    results[i] = InboundResult(
                        Outcome.FORWARDED, live.session_id, len(live.partners)
                    )
                if outbound and self._handoff is not None:
                    reserved = self._handoff.reserve(len(outbound))
                    leased = leased_values(now, self._settings.dispatch_lease)
                    for row in outbound[:reserved]:
                        row.update(leased)
                        sends.append(_send_of(row))
                rows.extend(outbound)
                if db.new or db.dirty:
                    await db.flush()  # what route_text wrote, first (as autoflush would)
                if rows:
                    await conn.execute(_INTERACTION.insert(), rows)
                if touched:
                    await conn.execute(
                        update(_SESSION)
                        .where(_SESSION.c.id == bindparam("b_id"))
                        .values(
                            status=bindparam("b_status"),
                            last_interaction_at=bindparam("b_now"),
                            updated_at=bindparam("b_now"),
                            idle_expires_at=bindparam("b_idle"),
                        ),
                        [_activity(live, now) for live in touched.values()],
                    )
        except BaseException:
            if reserved and self._handoff is not None:
                self._handoff.release(reserved)
            raise
        done = [r if r is not None else InboundResult(Outcome.DUPLICATE) for r in results]
        return done, sends

    async def _dedupe(
        self,
        conn: AsyncConnection,
        batch: list[_Waiting],
        now: datetime,
        results: list[InboundResult | None],
    ) -> list[int]:
        """Insert the batch's message ids; the indexes of the messages seen for the first time
        (the others are answered DUPLICATE). First statement: on SQLite it holds the write lock
        from here; on PostgreSQL a concurrent duplicate waits for this transaction."""
        first: dict[tuple[str, str], int] = {}
        for i, waiting in enumerate(batch):
            first.setdefault((waiting.sms.api_key, waiting.sms.message_id), i)
        values = [
            {"api_key": key, "message_id": message_id, "received_at": now}
            for key, message_id in first
        ]
        statement = _DEDUPE_PG if conn.dialect.name == "postgresql" else _DEDUPE_SQLITE
        inserted = {(row[0], row[1]) for row in await conn.execute(statement, values)}
        fresh = sorted(i for key, i in first.items() if key in inserted)
        accepted = set(fresh)
        for i in range(len(batch)):
            if i not in accepted:
                results[i] = InboundResult(Outcome.DUPLICATE)
        return fresh


def _live_query() -> Executable:
    """The lookup behind _find_live, built once: its compiled form is then cached."""
    author = aliased(Participant)
    author_number = aliased(ProxyNumber)
    other = aliased(Participant)
    other_number = aliased(ProxyNumber)
    return (
        select(
            author.number,
            author_number.number,
            Session.id,
            Session.status,
            Session.ttl_seconds,
            Session.expires_at,
            Session.idle_expires_at,
            other.number,
            other_number.number,
        )
        .select_from(author)
        .join(author_number, author.proxy_number_id == author_number.id)
        .join(Session, Session.id == author.session_id)
        .outerjoin(
            other,
            and_(
                other.session_id == Session.id,
                other.id != author.id,
                other.active.is_(True),
            ),
        )
        .outerjoin(other_number, other.proxy_number_id == other_number.id)
        .where(
            author.active.is_(True),
            author.number.in_(bindparam("senders", expanding=True)),
            tuple_(author.number, author_number.number).in_(bindparam("pairs", expanding=True)),
        )
        .order_by(Session.id, other.position)
        .with_for_update(of=Session)
    )


_LIVE_QUERY = _live_query()


async def _find_live(
    conn: AsyncConnection, messages: list[IncomingSms], now: datetime
) -> dict[tuple[str, str], _Live]:
    """The live session of each (sender, proxy number) texted, in one locking query.

    Session rows are locked in id order (PostgreSQL), so concurrent batches cannot deadlock
    on each other. Sessions found expired are left out: the caller routes those messages
    through the one-message code, which closes them.
    """
    if not messages:
        return {}
    pairs = sorted({(m.sender_number, m.proxy_number) for m in messages})
    rows = await conn.execute(
        _LIVE_QUERY, {"senders": sorted({sender for sender, _ in pairs}), "pairs": pairs}
    )
    partners: dict[tuple[str, str], list[tuple[str, str]]] = {}
    sessions: dict[tuple[str, str], tuple[str, str, int]] = {}
    for row in rows:
        sender, proxy, sid, status, ttl, expires_at, idle_expires_at = row[:7]
        key = (sender, proxy)
        if status == lifecycle.CLOSED or _expired(expires_at, idle_expires_at, now):
            continue
        sessions[key] = (sid, status, ttl)
        group = partners.setdefault(key, [])
        if row[7] is not None:
            group.append((row[7], row[8]))
    return {
        key: _Live(sid, status, ttl, tuple(partners[key]))
        for key, (sid, status, ttl) in sessions.items()
    }


def _expired(expires_at: datetime | None, idle_expires_at: datetime | None, now: datetime) -> bool:
    """lifecycle.expiry_reason for an unclosed session, from its columns."""
    return (expires_at is not None and as_utc(expires_at) <= now) or (
        idle_expires_at is not None and as_utc(idle_expires_at) <= now
    )


def _activity(live: _Live, now: datetime) -> dict[str, Any]:
    """lifecycle.record_activity as column values."""
    return {
        "b_id": live.session_id,
        "b_status": lifecycle.IN_PROGRESS if live.status == lifecycle.OPEN else live.status,
        "b_now": now,
        "b_idle": now + timedelta(seconds=live.ttl_seconds) if live.ttl_seconds > 0 else None,
    }


def _interaction(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "failure_reason": "",
        "note": "",
        "provider_message_ids": [],
        "part_statuses": {},
        "attempts": 0,
        "next_attempt_at": None,
        "cause_id": None,
    }
    row.update(values)
    return row


def _inbound_row(row_id: str, session_id: str, sms: IncomingSms, now: datetime) -> dict[str, Any]:
    """What inbound.record_inbound adds."""
    return _interaction(
        id=row_id,
        session_id=session_id,
        direction="INBOUND",
        sender_number=sms.sender_number,
        recipient_number="",
        proxy_number=sms.proxy_number,
        text=sms.text,
        status=RECEIVED,
        created_at=now,
        updated_at=now,
    )


def _outbound_row(
    session_id: str,
    sms: IncomingSms,
    partner: str,
    partner_proxy: str,
    cause_id: str,
    now: datetime,
) -> dict[str, Any]:
    """What outbound.queue_outbound adds: due now, sent from the partner's proxy number."""
    return _interaction(
        id=str(uuid.uuid4()),
        session_id=session_id,
        direction="OUTBOUND",
        sender_number=sms.sender_number,
        recipient_number=partner,
        proxy_number=partner_proxy,
        text=sms.text,
        status=QUEUED,
        next_attempt_at=now,
        cause_id=cause_id,
        created_at=now,
        updated_at=now,
    )


def _send_of(row: dict[str, Any]) -> OutboundSend:
    return OutboundSend(row["id"], row["proxy_number"], row["recipient_number"], row["text"])


def _resolve(waiting: _Waiting, outcome: InboundResult | BaseException) -> None:
    if waiting.future.done():  # the caller went away (deadline, cancellation)
        return
    if isinstance(outcome, InboundResult):
        waiting.future.set_result(outcome)
    else:
        waiting.future.set_exception(outcome)
