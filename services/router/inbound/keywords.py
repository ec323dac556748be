"""Stages: keywords (STOP, START, HELP...) and opt-outs. Keywords are answered by numproxy,
never forwarded.

Every answer is an automatic reply, charged to the (sender, proxy number)'s reply budget
(inbound/reply_budget.py): a flood of HELPs gets one answer.

An opt-out is per (real number, proxy number), like the provider's own blocking: STOP to one
proxy number leaves the sender's conversations on other proxy numbers alone. A STOP closes the
sender's session on that number (reason OPT_OUT).

Keyword messages are rare, so each is acted on with its own few statements, in arrival order
(a STOP and a START of one pair in one batch must apply in that order).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from numproxy.router.inbound.message import Outcome
from numproxy.router.inbound.reply_budget import claim_replies
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries, rows
from numproxy.router.store.closing import Close
from numproxy.router.store.states import CloseReason, Direction, EventType

if TYPE_CHECKING:
    from numproxy.router.inbound.batch import Batch, Item


class Keyword(enum.Enum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


def classify(text: str, settings: RouterSettings) -> Keyword | None:
    """The keyword ``text`` is (the whole trimmed message, any case), or None."""
    word = text.strip().casefold()
    if not word:
        return None
    for keyword, words in (
        (Keyword.STOP, settings.stop_keywords),
        (Keyword.START, settings.start_keywords),
        (Keyword.HELP, settings.help_keywords),
    ):
        if any(word == candidate.strip().casefold() for candidate in words):
            return keyword
    return None


def reply_text(keyword: Keyword, settings: RouterSettings) -> str:
    return {
        Keyword.STOP: settings.stop_reply,
        Keyword.START: settings.start_reply,
        Keyword.HELP: settings.help_reply,
    }[keyword]


async def answer_keywords(batch: Batch) -> None:
    for index, item in enumerate(batch.items):
        if item.result is not None or item.binary:
            continue
        keyword = classify(item.text, batch.settings)
        if keyword is None:
            continue
        confirm = True
        # Whether the opt-out state changed (only then is it an event).
        changed = False
        if keyword is Keyword.STOP:
            # A repeated STOP (carriers resend) is not confirmed twice. Recorded before the
            # close below, so the close notice skips the sender.
            changed = confirm = await queries.opt_out(
                batch.conn, rows.opt_out(number=item.sender, proxy=item.proxy, now=batch.now)
            )
        elif keyword is Keyword.START:
            changed = await queries.opt_in(batch.conn, item.sender, item.proxy)
        session_id: str | None = None
        cause_id: str | None = None
        live = item.live
        if live is not None and batch.is_open_for(index, live.session_id):
            session_id = live.session_id
            note = f"keyword {keyword.value}" + (f"; {item.note}" if item.note else "")
            cause_id = batch.record_inbound(item, live, note)
        if changed:
            batch.writes.event(
                rows.event(
                    type=EventType.PARTICIPANT_OPTED_OUT
                    if keyword is Keyword.STOP
                    else EventType.PARTICIPANT_OPTED_IN,
                    now=batch.now,
                    pool_id=_pool_id(item),
                    session_id=session_id,
                    interaction_id=cause_id,
                    participant=item.sender,
                    proxy_number=item.proxy,
                    direction=Direction.INBOUND if cause_id else "",
                )
            )
        if session_id is not None and keyword is Keyword.STOP:
            await batch.close(index, [Close(session_id, CloseReason.OPT_OUT, batch.now)])
        reply = reply_text(keyword, batch.settings)
        queued = 0
        if confirm and reply:
            # A change of the opt-out state is confirmed whatever the interval (carriers
            # require it); the budget still bounds a STOP / START ping-pong.
            interval = None if changed else batch.settings.auto_reply_interval
            confirm = bool(await claim_replies(batch, [((item.sender, item.proxy), interval)]))
        if confirm and reply:
            batch.queue_outbound(
                pool_id=_pool_id(item),
                proxy_number=item.proxy,
                recipient_number=item.sender,
                text=reply,
                cause_id=cause_id,
                traceparent=item.traceparent,
            )
            queued = 1
        batch.decide(item, Outcome.KEYWORD, session_id, queued)


def _pool_id(item: Item) -> int | None:
    """The pool of the number texted (None: not one of ours)."""
    if item.live is not None:
        return item.live.pool_id
    return item.pool.pool_id if item.pool is not None else None
