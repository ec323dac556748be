"""The automatic-reply budget: one rule for every reply numproxy sends by itself to someone
who texted a proxy number (keyword answers and STOP / START confirmations, out-of-session
replies whether the pool's text or a hook's, a hook's answer to a message it blocked).

Per (recipient, proxy number): a least interval between two replies (the pool's
``reply_interval`` for out-of-session replies, ``auto_reply_interval`` for keyword answers),
and at most ``auto_reply_budget`` replies per ``auto_reply_window``. The confirmation of a
change of the opt-out (STOP, START), which carriers require, and a hook's reply, which the app
decided for that very text, keep to the budget only: they wait for no interval and start none
(a HELP right after a START is answered). The state is the pair's reply_log
row, charged by one upsert per interval in the batch (store/queries.py claim_reply_slots), so
concurrent batches and replicas agree. 20 HELPs in a minute get one answer; two
auto-responders texting each other's proxy numbers get a bounded number of replies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from numproxy.router.store import queries, rows
from numproxy.router.store.queries import Pair
from numproxy.router.store.rows import Row

if TYPE_CHECKING:
    from numproxy.router.inbound.batch import Batch


async def claim_replies(batch: Batch, wanted: Iterable[tuple[Pair, float | None]]) -> set[Pair]:
    """Charge one automatic reply to each (recipient, proxy number) of ``wanted`` (with the
    least interval, in seconds, since the pair's previous timed reply; None for an opt-out's
    confirmation); the pairs that may be answered now. A pair wanted twice is charged once:
    its second reply is refused."""
    by_interval: dict[float | None, list[Row]] = {}
    seen: set[Pair] = set()
    for pair, interval in wanted:
        if pair in seen:
            continue
        seen.add(pair)
        row = rows.reply_log(
            sender=pair[0], proxy=pair[1], now=batch.now, timed=interval is not None
        )
        by_interval.setdefault(interval, []).append(row)
    window_cutoff = batch.now - timedelta(seconds=batch.settings.auto_reply_window)
    granted: set[Pair] = set()
    for interval, claims in by_interval.items():
        granted |= await queries.claim_reply_slots(
            batch.conn,
            claims,
            interval_cutoff=batch.now - timedelta(seconds=interval or 0),
            window_cutoff=window_cutoff,
            budget=batch.settings.auto_reply_budget,
        )
    return granted
