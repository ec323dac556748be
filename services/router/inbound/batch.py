"""A batch in the inbound pipeline: its messages, what each stage found, what it will write.

Stages read and fill this; the pipeline writes what they collected (interaction rows, events,
session activity) in one go at the end, inside the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.hooks.calls import HookCall
from numproxy.router.inbound.message import (
    Inbound,
    InboundResult,
    IncomingSms,
    Outcome,
    TimedOutGroup,
)
from numproxy.router.settings import RouterSettings
from numproxy.router.store import closing, rows
from numproxy.router.store.closing import Close
from numproxy.router.store.queries import Activity, GroupKey, PoolHooks, PoolPolicy
from numproxy.router.store.states import EventType
from numproxy.router.store.writes import Writes


@dataclass(frozen=True, slots=True)
class LiveSession:
    """The live session a message's sender has on the proxy number texted."""

    session_id: str
    pool_id: int
    status: str
    ttl_seconds: int
    # (real number, proxy number) of every other active participant, in position order.
    partners: tuple[tuple[str, str], ...]
    # The pool's end command ("" for none), compared trimmed and case-folded.
    end_command: str = ""
    # Put before forwarded texts ("Ann" gives "Ann: hello"); "" for none (the pool does not
    # prefix, or the sender has no display name).
    sender_label: str = ""
    # The pool's hooks (None: it calls none).
    hooks: PoolHooks | None = None
    # The session's CreateSession request_id (None: none given).
    request_id: str | None = None
    # The session's message rate window as stored (inbound/session_rate.py).
    rate_window_started_at: datetime | None = None
    rate_window_messages: int = 0
    # Partners who opted out of their proxy number (sessions from before such pairs stopped
    # being allocated): their copies are left to the dispatcher's claim, which refuses them.
    opted_out_partners: frozenset[tuple[str, str]] = frozenset()


@dataclass(slots=True)
class Item:
    """One message on its way through the stages; ``result`` set once decided (a HookCall:
    set aside until a hook decided, router/hooks/stage.py)."""

    source: Inbound
    sender: str
    proxy: str
    text: str
    binary: bool
    note: str = ""
    result: InboundResult | HookCall | None = None
    live: LiveSession | None = None
    pool: PoolPolicy | None = None
    # The text forwarded, when a hook rewrote it (the inbound interaction keeps ``text``).
    forward_text: str | None = None
    # A timed-out multipart group's key for hook decisions (set by the multipart stage).
    group_key: str = ""

    @classmethod
    def of(cls, source: Inbound) -> Item:
        if isinstance(source, TimedOutGroup):
            return cls(source, source.sender_number, source.proxy_number, "", binary=False)
        return cls(source, source.sender_number, source.proxy_number, source.text, source.binary)

    @property
    def sms(self) -> IncomingSms | None:
        return self.source if isinstance(self.source, IncomingSms) else None

    @property
    def traceparent(self) -> str:
        """The trace of the message ("" when tracing is off, or for a timed-out group)."""
        return self.source.traceparent if isinstance(self.source, IncomingSms) else ""


@dataclass(slots=True)
class Batch:
    conn: AsyncConnection
    settings: RouterSettings
    now: datetime
    items: list[Item]
    writes: Writes = field(default_factory=Writes)
    activity: dict[str, Activity] = field(default_factory=dict)
    # Sessions closed by this batch, by the index of the item that closed them.
    closed_by: dict[str, int] = field(default_factory=dict)
    # Stored multipart parts routed by an item of this batch (marked completed at its end).
    taken_parts: list[tuple[Item, GroupKey, int]] = field(default_factory=list)
    # Items set aside for a hook: the batch must leave no trace of them.
    deferred: list[Item] = field(default_factory=list)
    # Pools of this batch's numbers with a daily send budget: their outbound rows are left to
    # the dispatcher's claim, which charges the budget (outbox/send_budget.py).
    budgeted_pools: set[int] = field(default_factory=set)
    # Outbound rows never handed to the dispatcher in memory: its claim must judge them.
    claim_only: set[str] = field(default_factory=set)
    # Message rate windows of live sessions as this batch leaves them: (start, messages).
    rates: dict[str, tuple[datetime, int]] = field(default_factory=dict)

    def activities(self) -> list[Activity]:
        """The session activity to write, with the rate windows this batch moved on."""
        written = []
        for activity in self.activity.values():
            rate = self.rates.get(activity.session_id)
            if rate is not None:
                activity = dataclasses.replace(
                    activity, rate_window_started_at=rate[0], rate_window_messages=rate[1]
                )
            written.append(activity)
        return written

    def pending(self) -> list[Item]:
        return [item for item in self.items if item.result is None]

    def decide(
        self, item: Item, outcome: Outcome, session_id: str | None = None, queued: int = 0
    ) -> None:
        item.result = InboundResult(outcome, session_id, queued)

    def defer(self, item: Item, call: HookCall) -> None:
        """Set ``item`` aside until the hook ``call`` decided (router/hooks/stage.py)."""
        item.result = call
        self.deferred.append(item)

    def record_inbound(self, item: Item, session: LiveSession, note: str) -> str:
        """The item's inbound interaction in ``session`` (and the session's activity); its id."""
        row = rows.inbound(
            now=self.now,
            session_id=session.session_id,
            sender=item.sender,
            proxy=item.proxy,
            text=item.text,
            note=note,
        )
        self.writes.interaction(row, pool_id=session.pool_id)
        self.activity.setdefault(
            session.session_id,
            Activity(session.session_id, session.status, session.ttl_seconds),
        )
        return str(row["id"])

    def record_held_back(
        self,
        item: Item,
        session: LiveSession,
        note: str,
        event_type: EventType,
        reason: str,
        direction: str = "",
    ) -> str:
        """The item recorded in ``session`` but forwarded to nobody, and the event saying why
        (a hook blocked it, the session went over its rate); the interaction's id."""
        inbound_id = self.record_inbound(item, session, note)
        self.writes.event(
            rows.event(
                type=event_type,
                now=self.now,
                pool_id=session.pool_id,
                session_id=session.session_id,
                interaction_id=inbound_id,
                participant=item.sender,
                proxy_number=item.proxy,
                reason=reason,
                direction=direction,
            )
        )
        return inbound_id

    def queue_outbound(
        self,
        *,
        pool_id: int | None,
        proxy_number: str,
        recipient_number: str,
        text: str,
        session_id: str | None = None,
        sender_number: str = "",
        cause_id: str | None = None,
        traceparent: str = "",
    ) -> rows.Row:
        row = rows.outbound(
            now=self.now,
            proxy_number=proxy_number,
            recipient_number=recipient_number,
            text=text,
            session_id=session_id,
            sender_number=sender_number,
            cause_id=cause_id,
            traceparent=traceparent,
        )
        return self.writes.interaction(row, pool_id=pool_id)

    async def close(self, item_index: int, closes: list[Close]) -> None:
        """Close sessions now (in the batch's transaction), remembering which item did."""
        await closing.close_sessions(self.conn, closes, self.now, self.writes)
        for close in closes:
            self.closed_by.setdefault(close.session_id, item_index)
            self.activity.pop(close.session_id, None)

    def in_open_sessions(self) -> Iterator[tuple[int, Item, LiveSession]]:
        """The undecided items whose live session is still open for them (no earlier item of
        this batch closed it, e.g. a STOP), with their index and session."""
        for index, item in enumerate(self.items):
            live = item.live
            if (
                item.result is None
                and live is not None
                and self.is_open_for(index, live.session_id)
            ):
                yield index, item, live

    def is_open_for(self, index: int, session_id: str) -> bool:
        """Whether the session is still open for the item at ``index`` (no earlier item of
        this batch closed it)."""
        closer = self.closed_by.get(session_id)
        return closer is None or closer > index
