"""Stage: the out-of-session policy, for a message whose sender has no live session on the
number texted. The pool decides: drop, or one reply from that number at most once per
``reply_interval`` per sender (never to a sender who opted out of the number). Nothing about
other sessions is revealed either way.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.message import Outcome
from numproxy.router.store import queries, rows
from numproxy.router.store.states import OutOfSessionPolicy


async def out_of_session(batch: Batch) -> None:
    wanting: dict[tuple[str, str], Item] = {}
    for index, item in enumerate(batch.items):
        if item.result is not None:
            continue
        if item.live is not None and batch.is_open_for(index, item.live.session_id):
            continue
        pool = item.pool
        pair = (item.sender, item.proxy)
        if (
            item.binary
            or pool is None
            or pool.out_of_session_policy != OutOfSessionPolicy.REPLY
            or not pool.out_of_session_reply
            or pair in wanting  # answered once per batch at most
        ):
            batch.decide(item, Outcome.DROPPED)
        else:
            wanting[pair] = item
    if not wanting:
        return
    opted_out = await queries.opted_out(batch.conn, wanting)
    by_interval: dict[int, list[Item]] = defaultdict(list)
    for pair, item in wanting.items():
        if pair in opted_out:
            batch.decide(item, Outcome.DROPPED)
        else:
            assert item.pool is not None
            by_interval[item.pool.reply_interval_seconds].append(item)
    for interval, items in by_interval.items():
        claimed = await queries.claim_reply_slots(
            batch.conn,
            [rows.reply_log(sender=i.sender, proxy=i.proxy, now=batch.now) for i in items],
            cutoff=batch.now - timedelta(seconds=interval),
        )
        for item in items:
            if (item.sender, item.proxy) not in claimed:
                batch.decide(item, Outcome.DROPPED)
                continue
            assert item.pool is not None
            batch.queue_outbound(
                pool_id=item.pool.pool_id,
                proxy_number=item.proxy,
                recipient_number=item.sender,
                text=item.pool.out_of_session_reply,
                traceparent=item.traceparent,
            )
            batch.decide(item, Outcome.REPLIED, None, 1)
