"""The migrations build exactly the schema the models describe, and undo it."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store.dialect import create_engine
from numproxy.router.store.migrations import downgrade, head_revision, upgrade
from numproxy.router.store.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_core_rule_index_is_partial_and_unique(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("participant"))
    rule = next(i for i in indexes if i["name"] == "uq_participant_active_number_proxy")
    assert rule["unique"]
    assert rule["column_names"] == ["number", "proxy_number_id"]
    options = rule.get("dialect_options", {})
    where = str(options.get("sqlite_where", options.get("postgresql_where")))
    # SQLite matches partial indexes textually: the predicate must read as the ORM renders it.
    assert where == ("active = 1" if engine.dialect.name == "sqlite" else "active")


async def test_downgrade_to_nothing_then_upgrade_again(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}

        await asyncio.to_thread(upgrade, database_url)
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert differences == []
        assert version == head_revision() == "0006"
    finally:
        await engine.dispose()
