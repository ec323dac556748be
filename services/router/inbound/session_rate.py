"""Stage: the session rate cap, before fan-out. A session relays at most
``session_rate_max_messages`` texts per ``session_rate_window`` (a fixed window kept on the
session row, saved with its activity); the text that goes over is recorded, not forwarded, and
the session is closed with reason RATE_LIMITED and a SESSION_RATE_LIMITED event. Two
auto-responders answering each other through a session stop there instead of costing an SMS
per turn for ever. Suspension is a close (the session's numbers are freed, a new session can be
opened by the API): the lifecycle keeps its three statuses.
"""

from __future__ import annotations

from datetime import timedelta

from numproxy.router.clock import as_utc
from numproxy.router.inbound.batch import Batch
from numproxy.router.inbound.message import Outcome
from numproxy.router.store.closing import Close
from numproxy.router.store.states import CloseReason, Direction, EventType

NOTE = "session rate cap: not forwarded"


async def cap_session_rate(batch: Batch) -> None:
    cap = batch.settings.session_rate_max_messages
    if cap == 0:
        return
    window = timedelta(seconds=batch.settings.session_rate_window)
    for index, item, live in batch.in_open_sessions():
        rate = batch.rates.get(live.session_id)
        if rate is None:
            started = live.rate_window_started_at
            started = None if started is None else as_utc(started)
            if started is None or started <= batch.now - window:
                rate = (batch.now, 0)
            else:
                rate = (started, live.rate_window_messages)
        rate = (rate[0], rate[1] + 1)
        batch.rates[live.session_id] = rate
        if rate[1] <= cap:
            continue
        batch.record_held_back(
            item,
            live,
            NOTE,
            EventType.SESSION_RATE_LIMITED,
            f"more than {cap} messages in {window.total_seconds():g} s",
            Direction.INBOUND,
        )
        await batch.close(index, [Close(live.session_id, CloseReason.RATE_LIMITED, batch.now)])
        batch.decide(item, Outcome.RECORDED, live.session_id)
