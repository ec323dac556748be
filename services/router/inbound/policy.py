"""Stage: the out-of-session policy, for a message whose sender has no live session on the
number texted. The pool decides: drop, or one reply from that number at most once per
``reply_interval`` per sender, within the sender's automatic-reply budget
(inbound/reply_budget.py), never to a sender who opted out of the number. Nothing about
other sessions is revealed either way.
"""

from __future__ import annotations

from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.message import Outcome
from numproxy.router.inbound.reply_budget import claim_replies
from numproxy.router.store import queries
from numproxy.router.store.queries import PoolPolicy
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
    for pair in opted_out:
        batch.decide(wanting.pop(pair), Outcome.DROPPED)
    granted = await claim_replies(
        batch,
        ((pair, _pool(item).reply_interval_seconds) for pair, item in wanting.items()),
    )
    for pair, item in wanting.items():
        if pair not in granted:
            batch.decide(item, Outcome.DROPPED)
            continue
        pool = _pool(item)
        batch.queue_outbound(
            pool_id=pool.pool_id,
            proxy_number=item.proxy,
            recipient_number=item.sender,
            text=pool.out_of_session_reply,
            traceparent=item.traceparent,
        )
        batch.decide(item, Outcome.REPLIED, None, 1)


def _pool(item: Item) -> PoolPolicy:
    assert item.pool is not None, "only items of our pools want a reply"
    return item.pool
