"""One ORM transaction per API request (the pipeline and the outbox use Core connections)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.router.store.dialect import READ_ONLY

SessionFactory = async_sessionmaker[Any]


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
