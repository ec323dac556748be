"""Stage: dedupe on the provider's message id. A message id seen before (a webhook retry, or
twice in one batch) is acknowledged as DUPLICATE and changes nothing.

First statement of the transaction: on SQLite the write lock is held from here; on PostgreSQL a
concurrent transaction holding the same id makes this one wait for its outcome.
"""

from __future__ import annotations

from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.message import Outcome
from numproxy.router.store import queries, rows


async def dedupe(batch: Batch) -> None:
    first: dict[tuple[str, str], Item] = {}
    for item in batch.pending():
        sms = item.sms
        if sms is None:  # not from the provider (a timed-out multipart group)
            continue
        key = (sms.api_key, sms.message_id)
        if key in first:
            batch.decide(item, Outcome.DUPLICATE)
        else:
            first[key] = item
    new = await queries.insert_message_ids(
        batch.conn,
        [rows.inbound_message(api_key=k, message_id=m, now=batch.now) for k, m in first],
    )
    for key, item in first.items():
        if key not in new:
            batch.decide(item, Outcome.DUPLICATE)
