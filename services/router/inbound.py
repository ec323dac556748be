"""Inbound SMS routing (design.md, inbound steps 1-6), one transaction per message.

dedupe -> (binary: record only) -> multipart reassembly -> keywords -> the sender's active
session on the proxy number texted: forward to every other participant from that
participant's own proxy number; no session: the pool's out-of-session policy.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.common.numbers import mask
from numproxy.router import keywords, lifecycle, multipart
from numproxy.router.clock import Clock, as_utc
from numproxy.router.db.concurrency import insert_ignore, take_write_lock
from numproxy.router.db.models import (
    InboundMessage,
    Interaction,
    Participant,
    Pool,
    ProxyNumber,
    ReplyLog,
    Session,
)
from numproxy.router.keywords import Keyword
from numproxy.router.outbound import RECEIVED, new_interaction, queue_outbound
from numproxy.router.settings import RouterSettings

log = logging.getLogger(__name__)

REPLY_POLICY = "REPLY"


class Outcome(enum.Enum):
    FORWARDED = "FORWARDED"
    DUPLICATE = "DUPLICATE"
    DROPPED = "DROPPED"
    REPLIED = "REPLIED"
    KEYWORD = "KEYWORD"
    PART_STORED = "PART_STORED"
    RECORDED = "RECORDED"


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """One inbound SMS (or part), numbers already normalized to E.164 with "+"."""

    message_id: str
    api_key: str
    sender_number: str
    proxy_number: str
    text: str = ""
    binary: bool = False
    concat_ref: str = ""
    concat_total: int = 0
    concat_part: int = 0


@dataclass(frozen=True, slots=True)
class InboundResult:
    outcome: Outcome
    session_id: str | None = None
    # Outbound rows queued by this message (the dispatcher is woken when > 0).
    queued: int = 0


class _Duplicate(Exception):
    """The message id was accepted before: roll back and answer DUPLICATE."""


class InboundRouter:
    """Receives inbound SMS; also routes timed-out multipart groups and purges dedupe rows."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        settings: RouterSettings,
        clock: Clock,
        on_queued: Callable[[], None],
    ) -> None:
        self._session_factory = session_factory
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued

    async def receive(self, sms: IncomingSms) -> InboundResult:
        """Route ``sms``; returns once its effects are committed."""
        now = self._clock.now()
        try:
            async with self._session_factory() as db, db.begin():
                result = await self._receive(db, sms, now)
        except _Duplicate:
            result = InboundResult(Outcome.DUPLICATE)
        log.info(
            "inbound %s from %s to %s: %s",
            sms.message_id,
            mask(sms.sender_number),
            mask(sms.proxy_number),
            result.outcome.value,
        )
        if result.queued:
            self._on_queued()
        return result

    async def _receive(self, db: AsyncSession, sms: IncomingSms, now: datetime) -> InboundResult:
        # First statement of the transaction: on SQLite it takes the write lock, so every read
        # below is current until commit; on PostgreSQL a concurrent duplicate waits here.
        try:
            await db.execute(
                insert(InboundMessage).values(
                    api_key=sms.api_key, message_id=sms.message_id, received_at=now
                )
            )
        except IntegrityError:
            raise _Duplicate from None
        if await _pool_of(db, sms.proxy_number) is None:
            return InboundResult(Outcome.DROPPED)
        if sms.binary:
            return await _record_binary(db, sms, now)
        text, note = sms.text, ""
        if multipart.is_part(sms.concat_ref, sms.concat_total, sms.concat_part):
            key = multipart.GroupKey(sms.sender_number, sms.proxy_number, sms.concat_ref)
            assembled = await multipart.add_part(
                db,
                key,
                part=sms.concat_part,
                total=sms.concat_total,
                text=sms.text,
                api_key=sms.api_key,
                now=now,
            )
            if assembled is multipart.PartStatus.STORED:
                return InboundResult(Outcome.PART_STORED)
            if assembled is multipart.PartStatus.DUPLICATE:
                return InboundResult(Outcome.DUPLICATE)
            text, note = assembled.text, assembled.note
        return await route_text(
            db, self._settings, sms.sender_number, sms.proxy_number, text, note, now
        )

    async def flush_incomplete(self) -> int:
        """Route multipart groups whose missing parts did not arrive in time; how many."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=self._settings.multipart_timeout)
        async with self._session_factory() as db, db.begin():
            groups = await multipart.stale_groups(db, cutoff)
        routed = 0
        for key in groups:
            async with self._session_factory() as db, db.begin():
                await take_write_lock(db)
                assembled = await multipart.take_stale(db, key, cutoff, now)
                if assembled is None:
                    continue
                result = await route_text(
                    db,
                    self._settings,
                    key.sender_number,
                    key.proxy_number,
                    assembled.text,
                    assembled.note,
                    now,
                )
            routed += 1
            log.info(
                "multipart from %s to %s timed out (%s): %s",
                mask(key.sender_number),
                mask(key.proxy_number),
                assembled.note,
                result.outcome.value,
            )
            if result.queued:
                self._on_queued()
        return routed

    async def purge(self) -> int:
        """Delete dedupe records and routed parts older than the dedupe retention."""
        cutoff = self._clock.now() - timedelta(seconds=self._settings.dedupe_retention)
        async with self._session_factory() as db, db.begin():
            result = await db.execute(
                delete(InboundMessage).where(InboundMessage.received_at < cutoff)
            )
            purged = int(getattr(result, "rowcount", 0) or 0)
            purged += await multipart.purge_completed(db, cutoff)
        return purged


async def route_text(
    db: AsyncSession,
    settings: RouterSettings,
    sender: str,
    proxy: str,
    text: str,
    note: str,
    now: datetime,
) -> InboundResult:
    """Steps 3-6 for a whole (reassembled) text message from ``sender`` to ``proxy``."""
    keyword = keywords.classify(text, settings)
    if keyword is not None:
        return await _handle_keyword(db, settings, keyword, sender, proxy, text, note, now)
    found = await find_active_session(db, sender, proxy, now)
    if found is None:
        return await _out_of_session(db, sender, proxy, now)
    session, author = found
    inbound = record_inbound(db, session.id, sender, proxy, text, note, now)
    lifecycle.record_activity(session, now)
    queued = 0
    for other in session.participants:
        if other.id == author.id or not other.active:
            continue
        queue_outbound(
            db,
            now=now,
            proxy_number=other.proxy_number.number,
            recipient_number=other.number,
            text=text,
            session_id=session.id,
            sender_number=sender,
            cause_id=inbound.id,
        )
        queued += 1
    return InboundResult(Outcome.FORWARDED, session.id, queued)


async def find_active_session(
    db: AsyncSession, sender: str, proxy: str, now: datetime
) -> tuple[Session, Participant] | None:
    """The live session where ``sender`` is a participant on ``proxy``, and that participant.

    The session row is locked (PostgreSQL) so a concurrent close is not undone; a session
    found expired is closed here (committed with the caller's transaction) and not returned.
    """
    row = (
        await db.execute(
            select(Session, Participant)
            .join(Participant, Participant.session_id == Session.id)
            .join(ProxyNumber, Participant.proxy_number_id == ProxyNumber.id)
            .where(
                Participant.number == sender,
                Participant.active,
                ProxyNumber.number == proxy,
            )
            .with_for_update(of=Session)
        )
    ).first()
    if row is None:
        return None
    session, participant = row
    if session.status == lifecycle.CLOSED or lifecycle.close_if_expired(session, now):
        return None
    return session, participant


def record_inbound(
    db: AsyncSession,
    session_id: str,
    sender: str,
    proxy: str,
    text: str,
    note: str,
    now: datetime,
) -> Interaction:
    row = new_interaction(
        now=now,
        direction="INBOUND",
        status=RECEIVED,
        proxy_number=proxy,
        text=text,
        session_id=session_id,
        sender_number=sender,
        note=note,
    )
    db.add(row)
    return row


async def _record_binary(db: AsyncSession, sms: IncomingSms, now: datetime) -> InboundResult:
    found = await find_active_session(db, sms.sender_number, sms.proxy_number, now)
    if found is None:
        return InboundResult(Outcome.DROPPED)
    session, _ = found
    record_inbound(
        db, session.id, sms.sender_number, sms.proxy_number, "", "binary: not forwarded", now
    )
    lifecycle.record_activity(session, now)
    return InboundResult(Outcome.RECORDED, session.id)


async def _handle_keyword(
    db: AsyncSession,
    settings: RouterSettings,
    keyword: Keyword,
    sender: str,
    proxy: str,
    text: str,
    note: str,
    now: datetime,
) -> InboundResult:
    """Keywords are answered by numproxy, never forwarded."""
    session_id: str | None = None
    cause_id: str | None = None
    found = await find_active_session(db, sender, proxy, now)
    if found is not None:
        session, _ = found
        session_id = session.id
        keyword_note = f"keyword {keyword.value}" + (f"; {note}" if note else "")
        cause_id = record_inbound(db, session.id, sender, proxy, text, keyword_note, now).id
        if keyword is Keyword.STOP:
            lifecycle.close(session, lifecycle.REASON_OPT_OUT, now)
        else:
            lifecycle.record_activity(session, now)
    if keyword is Keyword.STOP:
        # A repeated STOP (carriers resend) is not confirmed twice.
        confirm = await keywords.opt_out(db, sender, proxy, now)
    else:
        if keyword is Keyword.START:
            await keywords.opt_in(db, sender, proxy)
        confirm = True
    reply = keywords.reply_text(keyword, settings)
    queued = 0
    if confirm and reply:
        queue_outbound(
            db, now=now, proxy_number=proxy, recipient_number=sender, text=reply, cause_id=cause_id
        )
        queued = 1
    return InboundResult(Outcome.KEYWORD, session_id, queued)


async def _out_of_session(
    db: AsyncSession, sender: str, proxy: str, now: datetime
) -> InboundResult:
    """No session: drop, or reply from ``proxy`` at most once per pool.reply_interval."""
    pool = await _pool_of(db, proxy)
    if (
        pool is None
        or pool.out_of_session_policy != REPLY_POLICY
        or not pool.out_of_session_reply
        or await keywords.is_opted_out(db, sender, proxy)
    ):
        return InboundResult(Outcome.DROPPED)
    if not await _claim_reply_slot(db, sender, proxy, pool.reply_interval_seconds, now):
        return InboundResult(Outcome.DROPPED)
    queue_outbound(
        db, now=now, proxy_number=proxy, recipient_number=sender, text=pool.out_of_session_reply
    )
    return InboundResult(Outcome.REPLIED, None, 1)


async def _claim_reply_slot(
    db: AsyncSession, sender: str, proxy: str, interval_seconds: int, now: datetime
) -> bool:
    """True (and the reply log updated) when no reply went to (sender, proxy) recently."""
    last = await db.scalar(
        select(ReplyLog)
        .where(ReplyLog.sender_number == sender, ReplyLog.proxy_number == proxy)
        .with_for_update()
    )
    if last is None:
        # False when a concurrent transaction just replied.
        return await insert_ignore(
            db,
            ReplyLog.__table__,  # type: ignore[arg-type]
            {"sender_number": sender, "proxy_number": proxy, "last_reply_at": now},
        )
    if now - as_utc(last.last_reply_at) < timedelta(seconds=interval_seconds):
        return False
    last.last_reply_at = now
    return True


async def _pool_of(db: AsyncSession, proxy: str) -> Pool | None:
    """The pool owning the proxy number ``proxy`` (None: not one of our numbers)."""
    pool: Pool | None = await db.scalar(
        select(Pool)
        .join(ProxyNumber, ProxyNumber.pool_id == Pool.id)
        .where(ProxyNumber.number == proxy)
    )
    return pool
