"""Telling "the database cannot be reached now" (retry later) from a failed statement."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from numproxy.router.store.dialect import database_unavailable


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def _wrapped(sqlstate: str | None, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, _DriverError(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),  # asyncpg connecting to nothing
        TimeoutError(),
        _wrapped("57P03"),  # the database system is starting up / shutting down
        _wrapped("57P01"),  # terminating connection due to administrator command
        _wrapped("08006"),  # connection failure
        _wrapped(None, invalidated=True),  # connection closed in the middle of an operation
        OperationalError("BEGIN", None, _DriverError(None)),  # e.g. SQLite "database is locked"
    ],
)
def test_connection_level_failures_are_unavailable(exc: BaseException) -> None:
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", None, _DriverError("23505")),
        _wrapped("42P01"),  # undefined table: a bug or a missing migration, not an outage
        ValueError("not a database error"),
    ],
)
def test_statement_failures_are_not(exc: BaseException) -> None:
    assert not database_unavailable(exc)
