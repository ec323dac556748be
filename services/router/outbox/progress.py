"""The events an outbound row's progress brings: one per step it took, QUEUED -> SENT ->
DELIVERED | FAILED, whether a send result or a delivery receipt moved it.

A row can take two steps at once: a send result whose receipts raced ahead settles it
DELIVERED (or FAILED) in the same write, and then it was SENT too. A row that failed
without ever being accepted by the provider was never SENT.
"""

from __future__ import annotations

from datetime import datetime

from numproxy.router.store import rows
from numproxy.router.store.queries import OutboundState
from numproxy.router.store.rows import Row
from numproxy.router.store.states import EventType, MessageStatus

_FINAL = {
    MessageStatus.DELIVERED: EventType.OUTBOUND_DELIVERED,
    MessageStatus.FAILED: EventType.OUTBOUND_FAILED,
}


def progress_events(before: str, row: OutboundState, now: datetime) -> list[Row]:
    """The events of ``row`` having moved from status ``before`` to its current one."""
    if row.status == before:
        return []
    steps: list[EventType] = []
    accepted = bool(row.provider_message_ids)
    if before == MessageStatus.QUEUED and (row.status != MessageStatus.FAILED or accepted):
        steps.append(EventType.OUTBOUND_SENT)
    final = _FINAL.get(MessageStatus(row.status))
    if final is not None:
        steps.append(final)
    return [
        rows.event(
            type=step,
            now=now,
            pool_id=row.pool_id,
            session_id=row.session_id,
            interaction_id=row.id,
            participant=row.recipient_number,
            proxy_number=row.proxy_number,
            reason=row.failure_reason if step is EventType.OUTBOUND_FAILED else "",
            direction=row.direction,
        )
        for step in steps
    ]
