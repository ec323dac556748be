"""Creating the async engine for SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from numproxy.common.errors import InvalidArgument

# Execution option: this transaction only reads (SQLite: deferred BEGIN, no write lock).
READ_ONLY = "numproxy_read_only"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url`` (sqlite+aiosqlite:// or postgresql+asyncpg://).

    SQLite gets WAL, a busy timeout and enforced foreign keys on every connection, and every
    transaction starts with ``BEGIN IMMEDIATE``: writers queue on the busy timeout instead of
    failing with "database is locked" when a deferred read lock cannot be upgraded. A
    transaction that only reads can opt out with the ``READ_ONLY`` execution option.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidArgument(
            f"invalid database URL: {exc}", reason="INVALID_DATABASE_URL"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # pysqlite's own implicit BEGIN is off; the "begin" hook below emits ours.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
