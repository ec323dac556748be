"""Stages: the sender's live session on the proxy number texted (locked), and the pool of the
number for messages without one.

The lookup runs before reassembly and keywords because it needs only (sender, proxy number):
one locking query for the whole batch, whatever its messages turn out to be, tells which
messages need their pool read at all (none, on the busy path). A session found past its
expiry is closed here, as of the moment it ran out, and the message treated as out of session.
"""

from __future__ import annotations

from numproxy.router.inbound.batch import Batch, LiveSession
from numproxy.router.inbound.message import Outcome
from numproxy.router.store import closing, expiry, queries
from numproxy.router.store.closing import Close


async def find_sessions(batch: Batch) -> None:
    items = batch.pending()
    found = await queries.find_sessions(batch.conn, ((i.sender, i.proxy) for i in items))
    rows_by_pair: dict[tuple[str, str], list[queries.LiveRow]] = {}
    for row in found:
        rows_by_pair.setdefault((row.sender, row.proxy), []).append(row)
    live: dict[tuple[str, str], LiveSession] = {}
    closes: list[Close] = []
    for pair, group in rows_by_pair.items():
        first = group[0]
        over = expiry.ran_out(first.status, first.expires_at, first.idle_expires_at, batch.now)
        if over is not None:
            closes.append(Close(first.session_id, over.reason, over.at))
            continue
        partners = tuple(
            (row.partner, row.partner_proxy)
            for row in group
            if row.partner is not None and row.partner_proxy is not None
        )
        live[pair] = LiveSession(
            first.session_id,
            first.pool_id,
            first.status,
            first.ttl_seconds,
            partners,
            end_command=first.end_command.strip().casefold(),
            sender_label=first.sender_display_name if first.prefix_display_name else "",
            hooks=queries.pool_hooks(
                first.pool_name,
                first.hook_address,
                first.hook_deadline_ms,
                first.hook_failure_mode,
                first.hook_resolve,
                first.hook_intercept,
            ),
            request_id=first.request_id,
            rate_window_started_at=first.rate_window_started_at,
            rate_window_messages=first.rate_window_messages,
            opted_out_partners=frozenset(
                (row.partner, row.partner_proxy)
                for row in group
                if row.partner_opted_out
                and row.partner is not None
                and row.partner_proxy is not None
            ),
        )
        if first.daily_send_budget > 0:
            batch.budgeted_pools.add(first.pool_id)
    await closing.close_sessions(batch.conn, closes, batch.now, batch.writes)
    for item in items:
        item.live = live.get((item.sender, item.proxy))


async def find_pools(batch: Batch) -> None:
    """Messages without a live session: the pool's policy decides; a message to a number that
    is not one of ours is dropped at once. (A timed-out multipart group still goes on to have
    its parts taken, so housekeeping does not find it again.)"""
    without = [item for item in batch.pending() if item.live is None]
    if not without:
        return
    pools = await queries.pools_of(batch.conn, (item.proxy for item in without))
    batch.budgeted_pools.update(p.pool_id for p in pools.values() if p.daily_send_budget > 0)
    for item in without:
        item.pool = pools.get(item.proxy)
        if item.pool is None and item.sms is not None:
            batch.decide(item, Outcome.DROPPED)
