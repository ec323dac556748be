"""The audit_entry table: writing entries, reading them newest first, pruning old ones."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.common.authorization import AuditRecord
from numproxy.router.clock import as_utc
from numproxy.router.store.models import AuditEntry

_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]


async def append(conn: AsyncConnection, records: Sequence[AuditRecord]) -> None:
    await conn.execute(
        _INSERT,
        [
            {
                "created_at": r.at,
                "caller": r.caller[:128],
                "method": r.method[:128],
                "session_id": r.session_id[:36],
                "pool": r.pool_id[:63],
                "code": r.code[:32],
                "reason": r.reason[:64],
            }
            for r in records
        ],
    )


@dataclass(frozen=True, slots=True)
class Wanted:
    """Which entries a reader wants; empty / None: any. ``within``: only these pools."""

    caller: str = ""
    method: str = ""
    session_id: str = ""
    pool: str = ""
    start: datetime | None = None
    end: datetime | None = None
    within: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: int
    created_at: datetime
    caller: str
    method: str
    session_id: str
    pool: str
    code: str
    reason: str


async def page(
    conn: AsyncConnection, wanted: Wanted, before_id: int | None, limit: int
) -> list[StoredEntry]:
    """Up to ``limit`` entries matching ``wanted`` with id below ``before_id``, newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if wanted.caller:
        query = query.where(AuditEntry.caller == wanted.caller)
    if wanted.method:
        query = query.where(AuditEntry.method == wanted.method)
    if wanted.session_id:
        query = query.where(AuditEntry.session_id == wanted.session_id)
    if wanted.pool:
        query = query.where(AuditEntry.pool == wanted.pool)
    if wanted.start is not None:
        query = query.where(AuditEntry.created_at >= wanted.start)
    if wanted.end is not None:
        query = query.where(AuditEntry.created_at < wanted.end)
    if wanted.within is not None:
        query = query.where(AuditEntry.pool.in_(sorted(wanted.within)))
    rows = (await conn.execute(query)).all()
    return [
        StoredEntry(
            id=row.id,
            created_at=as_utc(row.created_at),
            caller=row.caller,
            method=row.method,
            session_id=row.session_id,
            pool=row.pool,
            code=row.code,
            reason=row.reason,
        )
        for row in rows
    ]


async def prune(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest entries written before ``cutoff``; how many."""
    oldest = select(AuditEntry.id).where(AuditEntry.created_at < cutoff).limit(limit)
    ids = list((await conn.execute(oldest)).scalars())
    if not ids:
        return 0
    deleted = await conn.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return int(deleted.rowcount or 0)
