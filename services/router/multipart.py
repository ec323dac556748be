"""Reassembling multipart inbound SMS (concat-ref/-total/-part).

Parts of (sender, proxy number, concat-ref) are stored until all arrived, then joined in part
order and routed once. A group still incomplete after the timeout is routed with the parts
that did arrive. Routed parts are marked completed rather than deleted (until the dedupe
retention), so a part delivered again under a new message id is absorbed by the primary key,
and a part arriving after its group timed out is routed on its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.router.clock import as_utc
from numproxy.router.db.concurrency import advisory_lock, insert_ignore
from numproxy.router.db.models import MessagePart


@dataclass(frozen=True, slots=True)
class GroupKey:
    sender_number: str
    proxy_number: str
    concat_ref: str


@dataclass(frozen=True, slots=True)
class Assembled:
    """A message ready to route: the joined text and a note on how it was received."""

    text: str
    note: str


class PartStatus(enum.Enum):
    STORED = "STORED"  # waiting for the other parts
    DUPLICATE = "DUPLICATE"  # this part number was already stored


def is_part(concat_ref: str, concat_total: int, concat_part: int) -> bool:
    """True for one part of a real multipart message (a lone "1 of 1" is a plain SMS)."""
    return bool(concat_ref) and concat_total > 1 and 1 <= concat_part <= concat_total


async def add_part(
    db: AsyncSession,
    key: GroupKey,
    *,
    part: int,
    total: int,
    text: str,
    api_key: str,
    now: datetime,
) -> Assembled | PartStatus:
    """Store one part; the whole message once it is complete."""
    await advisory_lock(db, _lock_key(key))
    inserted = await insert_ignore(
        db,
        MessagePart.__table__,  # type: ignore[arg-type]
        {
            "sender_number": key.sender_number,
            "proxy_number": key.proxy_number,
            "concat_ref": key.concat_ref,
            "part": part,
            "total": total,
            "text": text,
            "api_key": api_key,
            "received_at": now,
            "completed_at": None,
        },
    )
    if not inserted:
        return PartStatus.DUPLICATE
    parts = list((await db.scalars(_group(key).order_by(MessagePart.part))).all())
    if any(p.completed_at is not None for p in parts):
        # The message was routed without this part when its group timed out.
        await _complete(db, key, now)
        return Assembled(text=text, note=f"late: part {part} of {total}")
    pending = [p for p in parts if p.completed_at is None]
    expected = max(p.total for p in pending)
    if {p.part for p in pending} < set(range(1, expected + 1)):
        return PartStatus.STORED
    await _complete(db, key, now)
    return Assembled(text="".join(p.text for p in pending), note="")


async def stale_groups(db: AsyncSession, cutoff: datetime) -> list[GroupKey]:
    """Groups with parts waiting since before ``cutoff``."""
    rows = await db.execute(
        select(MessagePart.sender_number, MessagePart.proxy_number, MessagePart.concat_ref)
        .where(MessagePart.completed_at.is_(None))
        .group_by(MessagePart.sender_number, MessagePart.proxy_number, MessagePart.concat_ref)
        .having(func.min(MessagePart.received_at) <= cutoff)
    )
    return [GroupKey(*row) for row in rows.all()]


async def take_stale(
    db: AsyncSession, key: GroupKey, cutoff: datetime, now: datetime
) -> Assembled | None:
    """The parts of a timed-out group, joined and marked completed (None if already taken)."""
    await advisory_lock(db, _lock_key(key))
    parts = list(
        (
            await db.scalars(
                _group(key).where(MessagePart.completed_at.is_(None)).order_by(MessagePart.part)
            )
        ).all()
    )
    if not parts or min(as_utc(p.received_at) for p in parts) > cutoff:
        return None
    await _complete(db, key, now)
    total = max(p.total for p in parts)
    numbers = ",".join(str(p.part) for p in parts)
    return Assembled(
        text="".join(p.text for p in parts), note=f"incomplete: parts {numbers} of {total}"
    )


async def purge_completed(db: AsyncSession, cutoff: datetime) -> int:
    result = await db.execute(delete(MessagePart).where(MessagePart.completed_at <= cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def _group(key: GroupKey) -> Select[MessagePart]:
    return select(MessagePart).where(
        MessagePart.sender_number == key.sender_number,
        MessagePart.proxy_number == key.proxy_number,
        MessagePart.concat_ref == key.concat_ref,
    )


async def _complete(db: AsyncSession, key: GroupKey, now: datetime) -> None:
    await db.execute(
        update(MessagePart)
        .where(
            MessagePart.sender_number == key.sender_number,
            MessagePart.proxy_number == key.proxy_number,
            MessagePart.concat_ref == key.concat_ref,
            MessagePart.completed_at.is_(None),
        )
        .values(completed_at=now)
    )


def _lock_key(key: GroupKey) -> str:
    return f"multipart:{key.sender_number}:{key.proxy_number}:{key.concat_ref}"
