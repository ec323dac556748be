"""One transaction per request, and reading what went wrong when a transaction failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.router.db.engine import READ_ONLY

SessionFactory = async_sessionmaker[Any]

# PostgreSQL: serialization failure, deadlock detected. Both say "run it again".
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# PostgreSQL: connection exceptions (08...), operator intervention (57P01 admin shutdown,
# 57P02 crash shutdown, 57P03 "the database system is starting up / shutting down").
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P")


@asynccontextmanager
async def writing(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A read-write transaction, committed when the block ends without an exception."""
    async with factory() as db, db.begin():
        yield db


@asynccontextmanager
async def reading(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A transaction that only reads (on SQLite it takes no write lock)."""
    async with factory() as db, db.begin():
        await db.connection(execution_options={READ_ONLY: True})
        yield db


def is_retryable(exc: DBAPIError) -> bool:
    return _sqlstate(exc) in _RETRYABLE_SQLSTATES


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (down, restarting, the
    connection lost, a locked SQLite) rather than that the statement was wrong.

    A refused connection reaches us as a bare OSError: asyncpg raises it while connecting,
    outside what SQLAlchemy wraps.
    """
    if isinstance(exc, OSError):  # TimeoutError included
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return True
    return (_sqlstate(exc) or "").startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)


def violates(exc: IntegrityError, index: str, sqlite_columns: str) -> bool:
    """Whether ``exc`` is a unique violation of ``index``.

    PostgreSQL names the index; SQLite only lists its columns ("table.a, table.b").
    """
    message = str(exc.orig)
    return index in message or f"UNIQUE constraint failed: {sqlite_columns}" in message


def _sqlstate(exc: DBAPIError) -> str | None:
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None
