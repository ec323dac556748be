"""Delivery receipts: one per SMS part, aggregated into the outbound row's status.

An outbound row is DELIVERED when every part it was sent as is ``delivered``, FAILED as soon as
any part is failed/rejected/expired; intermediate receipts (accepted, buffered) keep it SENT.
A final part status is never replaced, so duplicated or late receipts change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.common.numbers import mask
from numproxy.router.clock import Clock
from numproxy.router.db.concurrency import take_write_lock
from numproxy.router.db.models import Interaction
from numproxy.router.outbound import DELIVERED, FAILED, SENT

log = logging.getLogger(__name__)

DELIVERED_STATUS = "delivered"
FAILED_STATUSES = frozenset({"failed", "rejected", "expired"})
FINAL_STATUSES = FAILED_STATUSES | {DELIVERED_STATUS}
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
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    async def record(self, receipt: DeliveryReceipt) -> bool:
        """Apply ``receipt``; False when no outbound message matches it."""
        now = self._clock.now()
        async with self._session_factory() as db, db.begin():
            matched = await apply_receipt(db, receipt, now)
        log.info(
            "delivery receipt %s (%s, err-code %d): %s",
            receipt.message_id,
            receipt.status,
            receipt.error_code,
            "matched" if matched else "no matching outbound message",
        )
        return matched


async def apply_receipt(db: AsyncSession, receipt: DeliveryReceipt, now: datetime) -> bool:
    await take_write_lock(db)
    row = await _find(db, receipt, now)
    if row is None:
        return False
    if record_part(row, receipt.message_id, receipt.status, receipt.error_code):
        settle(row)
        row.updated_at = now
        if row.status != SENT:
            log.info("outbound %s to %s: %s", row.id, mask(row.recipient_number), row.status)
    return True


def record_part(row: Interaction, message_id: str, status: str, error_code: int) -> bool:
    """Store one part's receipt; False when it changes nothing."""
    status = status.strip().lower() or "unknown"
    current = row.part_statuses.get(message_id)
    if isinstance(current, dict) and current.get("status") in FINAL_STATUSES:
        return False
    new = {"status": status, "error_code": error_code}
    if current == new:
        return False
    # A new dict, so the JSON column is seen as changed.
    row.part_statuses = {**row.part_statuses, message_id: new}
    return True


def settle(row: Interaction) -> None:
    """Derive a SENT row's status from its parts' receipts (also after it was just sent)."""
    if row.status != SENT:
        return
    parts = row.part_statuses
    for message_id, part in parts.items():
        if part.get("status") in FAILED_STATUSES:
            code = int(part.get("error_code", 0))
            row.status = FAILED
            row.failure_reason = (
                f"DELIVERY_{str(part['status']).upper()}: err-code {code} "
                f"({ERROR_CODES.get(code, 'unknown')}), message {message_id}"
            )
            return
    ids = row.provider_message_ids
    if ids and all(parts.get(i, {}).get("status") == DELIVERED_STATUS for i in ids):
        row.status = DELIVERED


async def _find(db: AsyncSession, receipt: DeliveryReceipt, now: datetime) -> Interaction | None:
    if receipt.client_ref:
        row = await db.scalar(
            select(Interaction)
            .where(Interaction.id == receipt.client_ref, Interaction.direction == "OUTBOUND")
            .with_for_update()
        )
        if row is not None:
            return row
    if not receipt.message_id:
        return None
    # No usable client-ref: search the JSON list of provider ids (rare, so a bounded scan).
    escaped = receipt.message_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found: Interaction | None = await db.scalar(
        select(Interaction)
        .where(
            Interaction.direction == "OUTBOUND",
            Interaction.created_at >= now - _MESSAGE_ID_LOOKBACK,
            cast(Interaction.provider_message_ids, Text).like(f'%"{escaped}"%', escape="\\"),
        )
        .limit(1)
        .with_for_update()
    )
    return found
