"""Concurrency helpers that behave the same on SQLite and PostgreSQL.

PostgreSQL replicas serialize through row locks and advisory locks. SQLite has one writer at a
time, but pysqlite only opens a transaction at the first write, so a read-modify-write that
starts with a SELECT could act on a stale read: :func:`take_write_lock` closes that gap.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


async def take_write_lock(db: AsyncSession) -> None:
    """On SQLite, hold the database write lock from here on (call before the first read).

    No-op on PostgreSQL, where callers lock the rows they change.
    """
    if dialect_name(db) != "sqlite":
        return
    connection = await db.connection()
    raw = await connection.get_raw_connection()
    # An engine that begins every SQLite transaction with BEGIN IMMEDIATE already holds it.
    if not getattr(raw.driver_connection, "in_transaction", False):
        await db.execute(text("BEGIN IMMEDIATE"))


async def advisory_lock(db: AsyncSession, key: str) -> None:
    """Serialize transactions about ``key`` until commit (PostgreSQL; SQLite is serialized)."""
    if dialect_name(db) == "postgresql":
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        await db.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": int.from_bytes(digest, "big", signed=True)},
        )


async def insert_ignore(db: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """INSERT unless the primary key (or a unique key) exists; True when a row was inserted.

    A concurrent insert of the same key waits for the other transaction instead of failing.
    """
    stmt: Any
    if dialect_name(db) == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    result: Any = await db.execute(stmt)
    return bool(result.rowcount == 1)
