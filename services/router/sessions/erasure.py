"""EraseNumber: every trace of one real number, erased or anonymised in one transaction.

First the number's live sessions are closed (reason ERASED: their numbers are freed, the other
participants get the close notice), and what is still queued to it is failed. Then:

    participant      number and display name emptied (the rows stay: the sessions' history)
    interaction      from or to it: text, note and that number emptied, marked redacted;
                     any other text that spells the number out: redacted
    message_part     its stored parts: deleted
    opt_out          its opt-outs: deleted (nothing is ever sent to "" anyway)
    reply_log        its reply budget records: deleted
    hook_decision    decisions mentioning it: deleted (a retried webhook asks the hook again)
    event            participant emptied; reasons mentioning it emptied
    session          metadata entries, close notices and request ids mentioning it removed,
                     and the create fingerprint (a hash of the participants) of its sessions

Dedupe records (provider message ids) hold no number. The erasure is recorded as a
NUMBER_ERASED event that holds the number masked, with the rows touched. Texts are matched on
the number's digits, so a text that merely contains them (a longer number) is redacted too:
erring on the side of erasing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, case, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.common.errors import InvalidArgument
from numproxy.common.numbers import digits, mask, normalize
from numproxy.router.sessions.domain import Domain
from numproxy.router.store import closing, events, rows
from numproxy.router.store.closing import Close
from numproxy.router.store.expiry import NOT_CLOSED
from numproxy.router.store.models import (
    Event,
    HookDecision,
    Interaction,
    MessagePart,
    OptOut,
    Participant,
    ProxyNumber,
    ReplyLog,
    Session,
)
from numproxy.router.store.states import CloseReason, EventType, FailureReason, MessageStatus
from numproxy.router.store.transactions import writing
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erased:
    sessions_closed: int
    rows_by_table: dict[str, int]

    @property
    def rows_erased(self) -> int:
        return sum(self.rows_by_table.values())


class Erasure(Domain):
    async def erase_number(self, number: str) -> Erased:
        number = normalize(number, field="number")
        async with writing(self._factory) as db:
            conn = await db.connection()
            erased = await _erase(conn, number, self._clock.now())
        self._committed(queued=erased.sessions_closed > 0)
        log.info("erased %s: %d rows", mask(number), erased.rows_erased)
        return erased


async def _erase(conn: AsyncConnection, number: str, now: datetime) -> Erased:
    if await conn.scalar(select(ProxyNumber.id).where(ProxyNumber.number == number)):
        raise InvalidArgument(
            f"{mask(number)} is one of the proxy numbers, not a participant's number",
            reason="PROXY_NUMBER_NOT_ERASABLE",
            metadata={"field": "number"},
        )
    touched: Counter[str] = Counter()
    live = (
        await conn.execute(
            select(Session.id)
            .join(Participant, Participant.session_id == Session.id)
            .where(Participant.number == number, Participant.active, NOT_CLOSED)
            .order_by(Session.id)
            .with_for_update(of=Session)
        )
    ).scalars()
    writes = Writes()
    closed = await closing.close_sessions(
        conn, [Close(session_id, CloseReason.ERASED, now) for session_id in live], now, writes
    )
    await writes.flush(conn)

    pattern = f"%{digits(number)}%"

    async def count(table: str, statement: Any) -> None:
        touched[table] += int((await conn.execute(statement)).rowcount or 0)

    sessions = select(Participant.session_id).where(Participant.number == number)
    await count(
        "session",
        update(Session)
        .where(Session.id.in_(sessions))
        .values(request_fingerprint=None)
        .execution_options(synchronize_session=False),
    )
    await _scrub_sessions(conn, pattern, digits(number), touched)
    await count(
        "participant",
        update(Participant).where(Participant.number == number).values(number="", display_name=""),
    )
    # Nothing still queued to it is sent: the number is about to be emptied.
    await conn.execute(
        update(Interaction)
        .where(Interaction.recipient_number == number, Interaction.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.FAILED,
            failure_reason=FailureReason.NUMBER_ERASED,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    await count(
        "interaction",
        update(Interaction)
        .where(or_(Interaction.sender_number == number, Interaction.recipient_number == number))
        .values(
            sender_number=case(
                (Interaction.sender_number == number, ""), else_=Interaction.sender_number
            ),
            recipient_number=case(
                (Interaction.recipient_number == number, ""), else_=Interaction.recipient_number
            ),
            text="",
            note="",
            redacted_at=now,
            updated_at=now,
        ),
    )
    await count(
        "interaction",
        update(Interaction)
        .where(Interaction.text.like(pattern))
        .values(text="", redacted_at=now, updated_at=now),
    )
    await count("message_part", delete(MessagePart).where(MessagePart.sender_number == number))
    await count("opt_out", delete(OptOut).where(OptOut.number == number))
    await count("reply_log", delete(ReplyLog).where(ReplyLog.sender_number == number))
    await count(
        "hook_decision",
        delete(HookDecision).where(cast(HookDecision.decision, Text).like(pattern)),
    )
    await count("event", update(Event).where(Event.participant == number).values(participant=""))
    await count("event", update(Event).where(Event.reason.like(pattern)).values(reason=""))
    rows_by_table = {table: n for table, n in sorted(touched.items()) if n}
    erased = Erased(len(closed), rows_by_table)
    await events.append(
        conn,
        [
            rows.event(
                type=EventType.NUMBER_ERASED,
                now=now,
                reason=f"{mask(number)}: {erased.rows_erased} rows erased",
            )
        ],
    )
    return erased


async def _scrub_sessions(
    conn: AsyncConnection, pattern: str, number_digits: str, touched: Counter[str]
) -> None:
    """Remove the number from the sessions' own texts: metadata entries, close notices and
    request ids that spell it out (rare: a few rows, so they are read and written back)."""
    found = (
        await conn.execute(
            select(Session.id, Session.attributes, Session.close_notice, Session.request_id).where(
                or_(
                    cast(Session.attributes, Text).like(pattern),
                    Session.close_notice.like(pattern),
                    Session.request_id.like(pattern),
                )
            )
        )
    ).all()
    for session_id, metadata, notice, request_id in found:
        kept = {
            key: value
            for key, value in (metadata or {}).items()
            if number_digits not in f"{key}{value}"
        }
        await conn.execute(
            update(Session)
            .where(Session.id == session_id)
            .values(
                attributes=kept,
                close_notice="" if number_digits in notice else notice,
                request_id=None if request_id and number_digits in request_id else request_id,
            )
        )
        touched["session"] += 1
