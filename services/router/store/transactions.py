"""One ORM transaction per API request (the pipeline and the outbox use Core connections),
and bounded housekeeping work in batches of one transaction each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

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


# Transactions one bounded task takes per round at most: a backlog is worked off over several
# rounds rather than holding up the round's other work.
BATCHES_PER_ROUND = 50


async def in_batches(
    engine: AsyncEngine, step: Callable[[AsyncConnection], Awaitable[int]], batch: int
) -> int:
    """Run ``step`` (deleting or changing at most ``batch`` rows) one transaction at a time
    until it does less than a batch, or the round's transactions are spent; rows done."""
    total = 0
    for _ in range(BATCHES_PER_ROUND):
        async with engine.begin() as conn:
            done = await step(conn)
        total += done
        if done < batch:
            break
    return total
