"""Shared fixtures: databases (SQLite and a real PostgreSQL), migrated from the migrations."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store.dialect import create_engine
from numproxy.router.store.migrations import upgrade
from tests.support.postgres import PostgresServer, PostgresUnavailable, running_postgres
from tests.support.user_project import InstalledWheel, install_wheel

IN_CI = os.environ.get("CI", "").lower() == "true"
TEMPLATE_DB = "numproxy_template"

# Property tests: "ci" (the default) draws the same examples on every run, so a failure is
# reproducible; HYPOTHESIS_PROFILE=explore draws new and more of them.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "explore", max_examples=500, deadline=None, suppress_health_check=_SLOW_OK
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster for the whole run (skipped without PostgreSQL, not in CI)."""
    try:
        with running_postgres() as server:
            server.psql(f"CREATE DATABASE {TEMPLATE_DB}")
            upgrade(server.url(TEMPLATE_DB))
            yield server
    except PostgresUnavailable as exc:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL server binaries not found: {exc}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def fresh_postgres_database(server: PostgresServer) -> str:
    """A new database cloned from the migrated template; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:16]
    server.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    return server.url(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated, empty database: the test runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "numproxy.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return fresh_postgres_database(server)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """The wheel built from this checkout, installed with ``[testing]`` into a fresh venv."""
    return install_wheel(tmp_path_factory.mktemp("wheel"))
