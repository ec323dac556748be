"""The database fixture yields a migrated, empty schema on each backend."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store.migrations import head_revision


async def test_schema_is_migrated_and_empty(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM pool"))).scalar_one() == 0
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == head_revision()
