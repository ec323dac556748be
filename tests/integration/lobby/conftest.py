"""The lobby's own database, on SQLite and on a real PostgreSQL, tables created empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.lobby.store import create_tables
from numproxy.router.store.dialect import create_engine
from tests.conftest import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def lobby_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'lobby.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
async def lobby_engine(lobby_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(lobby_database_url)
    await create_tables(engine)
    yield engine
    await engine.dispose()
