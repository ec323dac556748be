"""Alembic environment: runs migrations over the router's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from numproxy.router.store.dialect import create_engine, url_is_sqlite
from numproxy.router.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    url = context.config.attributes["database_url"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=url_is_sqlite(url),  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(context.config.attributes["database_url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
asyncio.run(_run_async())
