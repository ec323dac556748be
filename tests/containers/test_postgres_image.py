"""local/postgres: Debian's PostgreSQL with the official image's variables, so that
testcontainers' PostgresContainer works on machines with no registry."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

try:
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # testcontainers < 4.14
    from testcontainers.postgres import PostgresContainer

pytestmark = pytest.mark.containers


async def test_postgres_container_works_with_the_local_image(postgres_image: str) -> None:
    with PostgresContainer(
        postgres_image, username="app", password="s3cret", dbname="appdb", driver="asyncpg"
    ) as pg:
        engine = create_async_engine(pg.get_connection_url().replace("localhost", "127.0.0.1"))
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "select current_database(), current_user, "
                            "pg_encoding_to_char(encoding), datcollate "
                            "from pg_database where datname = current_database()"
                        )
                    )
                ).one()
        finally:
            await engine.dispose()
        assert tuple(row) == ("appdb", "app", "UTF8", "C.UTF-8")

        # Password authentication over TCP (scram-sha-256), not trust.
        port = int(pg.get_exposed_port(5432))
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(
                host="127.0.0.1", port=port, user="app", password="wrong", database="appdb"
            )
