"""Stage: reassembling multipart SMS (concat-ref/-total/-part).

Parts of (sender, proxy number, concat-ref) are stored until all arrived, then joined in part
order and routed once, carried by the message that completed the group. A group still
incomplete after the timeout is routed with the parts that did arrive (housekeeping puts a
``TimedOutGroup`` through the pipeline). Routed parts are marked completed rather than deleted
(until the dedupe retention), so a part delivered again under a new message id is absorbed by
the primary key, and a part arriving after its group timed out is routed on its own. The
parts an item took are marked completed at the end of the batch (``complete_parts``), unless
the item was set aside for a hook: then its group stays waiting for the item's next pass.

Bounds: ``concat-total`` is 1-255 and ``concat-part`` within it (checked where the message
enters, api/inbound_servicer.py), so a group holds at most 255 parts, one row each, and
completeness is a count of distinct part numbers, never a range built from the input.
"""

from __future__ import annotations

from numproxy.router.hooks.calls import HookCall
from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.message import Outcome, TimedOutGroup
from numproxy.router.store import dialect, queries, rows
from numproxy.router.store.queries import GroupKey, StoredPart


def is_part(concat_ref: str, concat_total: int, concat_part: int) -> bool:
    """True for one part of a real multipart message (a lone "1 of 1" is a plain SMS)."""
    return bool(concat_ref) and concat_total > 1 and 1 <= concat_part <= concat_total


def group_key(item: Item) -> GroupKey | None:
    """The multipart group ``item`` belongs to (None: not a part)."""
    if isinstance(item.source, TimedOutGroup):
        return (item.sender, item.proxy, item.source.concat_ref)
    sms = item.sms
    if (
        sms is not None
        and not sms.binary
        and is_part(sms.concat_ref, sms.concat_total, sms.concat_part)
    ):
        return (item.sender, item.proxy, sms.concat_ref)
    return None


async def reassemble(batch: Batch) -> None:
    keyed = [(item, key) for item in batch.pending() if (key := group_key(item)) is not None]
    if not keyed:
        return
    conn = batch.conn
    await dialect.advisory_locks(conn, (f"multipart:{':'.join(key)}" for _, key in keyed))
    # One row per part number: a part delivered twice in this batch is stored once.
    first: dict[tuple[str, str, str, int], Item] = {}
    for item, key in keyed:
        sms = item.sms
        if sms is not None:
            first.setdefault((*key, sms.concat_part), item)
    new_parts = await queries.insert_parts(
        conn,
        [
            rows.message_part(
                sender=item.sender,
                proxy=item.proxy,
                concat_ref=part_key[2],
                part=sms.concat_part,
                total=sms.concat_total,
                text=sms.text,
                api_key=sms.api_key,
                now=batch.now,
            )
            for part_key, item in first.items()
            if (sms := item.sms) is not None
        ],
    )
    groups = await queries.group_parts(conn, (key for _, key in keyed))
    # Parts routed before this batch (their group timed out) versus by this batch.
    routed_before = {
        key: any(part.completed for part in parts.values()) for key, parts in groups.items()
    }
    for item, key in keyed:
        parts = groups[key]
        if isinstance(item.source, TimedOutGroup):
            _take_timed_out(batch, item, item.source, parts, key)
            continue
        sms = item.sms
        assert sms is not None
        part_key = (*key, sms.concat_part)
        if part_key not in new_parts or first[part_key] is not item:
            batch.decide(item, Outcome.DUPLICATE)  # this part number was stored already
            continue
        mine = parts[sms.concat_part]
        if mine.completed:  # taken by an earlier message of this batch
            batch.decide(item, Outcome.PART_STORED)
            continue
        if routed_before[key]:
            item.note = f"late: part {sms.concat_part} of {sms.concat_total}"
            _take(batch, item, [mine], key)
            continue
        waiting = [part for part in parts.values() if not part.completed]
        expected = max(part.total for part in waiting)
        # Every stored part number is 1..its own total <= expected: distinct numbers counted.
        if len(waiting) < expected:
            batch.decide(item, Outcome.PART_STORED)
            continue
        item.text = _join(waiting)
        _take(batch, item, waiting, key)


async def complete_parts(batch: Batch) -> None:
    """Stage, after every decision: mark the parts taken by items not set aside completed."""
    if not batch.taken_parts:
        return
    await queries.complete_parts(
        batch.conn,
        [
            (key, part)
            for item, key, part in batch.taken_parts
            if not isinstance(item.result, HookCall)
        ],
        batch.now,
    )


def _take_timed_out(
    batch: Batch,
    item: Item,
    group: TimedOutGroup,
    parts: dict[int, StoredPart],
    key: GroupKey,
) -> None:
    waiting = [part for part in parts.values() if not part.completed]
    if not waiting or min(part.received_at for part in waiting) > group.cutoff:
        batch.decide(item, Outcome.DUPLICATE)  # routed meanwhile
        return
    total = max(part.total for part in waiting)
    numbers = ",".join(str(part.part) for part in sorted(waiting, key=lambda p: p.part))
    item.text = _join(waiting)
    item.note = f"incomplete: parts {numbers} of {total}"
    # Stable for this group whichever housekeeping round routes it.
    first = min(part.received_at for part in waiting).isoformat()
    item.group_key = f"group:{key[0]}:{key[1]}:{key[2]}:{first}"
    _take(batch, item, waiting, key)


def _join(parts: list[StoredPart]) -> str:
    return "".join(part.text for part in sorted(parts, key=lambda p: p.part))


def _take(batch: Batch, item: Item, taken: list[StoredPart], key: GroupKey) -> None:
    """Mark ``taken`` routed by ``item`` (written at the end of the batch)."""
    for part in taken:
        part.completed = True
        batch.taken_parts.append((item, key, part.part))
