"""Delivery receipts: one per SMS part, aggregated into the outbound row's status.

An outbound row is DELIVERED when every part it was sent as is ``delivered``, FAILED as soon as
any part is failed/rejected/expired; intermediate receipts (accepted, buffered) keep it SENT.
A final part status is never replaced, so duplicated or late receipts change nothing. A row
that moved on brings its event (DELIVERED or FAILED: outbox/progress.py), written last in the
receipt's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from numproxy.common import tracing
from numproxy.common.numbers import mask
from numproxy.router.clock import Clock
from numproxy.router.metrics import RouterMetrics
from numproxy.router.outbox.progress import progress_events
from numproxy.router.store import events, queries
from numproxy.router.store.queries import OutboundState
from numproxy.router.store.rows import Row
from numproxy.router.store.states import MessageStatus

log = logging.getLogger(__name__)

DELIVERED_STATUS = "delivered"
FAILED_STATUSES = frozenset({"failed", "rejected", "expired"})
FINAL_STATUSES = FAILED_STATUSES | {DELIVERED_STATUS}
KNOWN_STATUSES = FINAL_STATUSES | {"accepted", "buffered", "unknown"}
# How far back a receipt without a usable client-ref is matched by provider message id
# (the provider retries receipts for 72 hours).
_MESSAGE_ID_LOOKBACK = timedelta(days=7)

ERROR_CODES = {
    1: "unknown",
    2: "absent subscriber, temporary",
    3: "absent subscriber, permanent",
    4: "call barred by user",
    5: "portability error",
    6: "anti-spam rejection",
    7: "handset busy",
    8: "network error",
    9: "illegal number (opted out)",
    10: "illegal message",
    11: "unroutable",
    12: "destination unreachable",
    13: "subscriber age restriction",
    14: "number blocked by carrier",
    15: "prepaid insufficient funds",
    50: "entity filter",
    51: "header filter",
    52: "content filter",
    53: "consent filter",
    54: "regulation error",
    99: "general error",
}


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    message_id: str
    status: str
    error_code: int = 0
    client_ref: str = ""


class ReceiptRecorder:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        on_events: Callable[[], None] = lambda: None,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events

    async def record(self, receipt: DeliveryReceipt) -> bool:
        """Apply ``receipt``; False when no outbound message matches it."""
        now = self._clock.now()
        progress: list[Row] = []
        async with self._engine.begin() as conn:
            row = await _find(conn, receipt, now)
            if row is not None and record_part(
                row, receipt.message_id, receipt.status, receipt.error_code
            ):
                before = row.status
                settle(row)
                await queries.save_outbound(conn, [row], now)
                progress = progress_events(before, row, now)
                await events.append(conn, progress)
                if row.status != MessageStatus.SENT:
                    log.info(
                        "outbound %s to %s: %s", row.id, mask(row.recipient_number), row.status
                    )
        if progress:
            self._on_events()
        if row is not None:
            tracing.link_current(row.trace_context)
        if self._metrics is not None:
            self._metrics.receipts.labels(
                receipt_status(receipt.status), "true" if row is not None else "false"
            ).inc()
        log.info(
            "delivery receipt %s (%s, err-code %d): %s",
            receipt.message_id,
            receipt.status,
            receipt.error_code,
            "matched" if row is not None else "no matching outbound message",
        )
        return row is not None


def receipt_status(status: str) -> str:
    """A provider's receipt status as a bounded label: the ones it documents, else other."""
    status = status.strip().lower()
    return status if status in KNOWN_STATUSES else "other"


def record_part(row: OutboundState, message_id: str, status: str, error_code: int) -> bool:
    """Store one part's receipt; False when it changes nothing."""
    status = status.strip().lower() or "unknown"
    current = row.part_statuses.get(message_id)
    if isinstance(current, dict) and current.get("status") in FINAL_STATUSES:
        return False
    new = {"status": status, "error_code": error_code}
    if current == new:
        return False
    row.part_statuses = {**row.part_statuses, message_id: new}
    return True


def settle(row: OutboundState) -> None:
    """Derive a SENT row's status from its parts' receipts (also after it was just sent:
    receipts may have raced ahead of the send result)."""
    if row.status != MessageStatus.SENT:
        return
    parts = row.part_statuses
    for message_id, part in parts.items():
        if part.get("status") in FAILED_STATUSES:
            code = int(part.get("error_code", 0))
            row.status = MessageStatus.FAILED
            row.failure_reason = (
                f"DELIVERY_{str(part['status']).upper()}: err-code {code} "
                f"({ERROR_CODES.get(code, 'unknown')}), message {message_id}"
            )
            return
    ids = row.provider_message_ids
    if ids and all(parts.get(i, {}).get("status") == DELIVERED_STATUS for i in ids):
        row.status = MessageStatus.DELIVERED


async def _find(
    conn: AsyncConnection, receipt: DeliveryReceipt, now: datetime
) -> OutboundState | None:
    if receipt.client_ref:
        found = await queries.load_outbound(conn, [receipt.client_ref])
        if receipt.client_ref in found:
            return found[receipt.client_ref]
    if not receipt.message_id:
        return None
    return await queries.find_outbound_by_provider_id(
        conn, receipt.message_id, now - _MESSAGE_ID_LOOKBACK
    )
