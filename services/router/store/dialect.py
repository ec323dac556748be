"""The one place that knows SQLite from PostgreSQL.

PostgreSQL replicas serialize through row locks and advisory locks, and several write
transactions run at once. SQLite has one writer: the engine begins every write transaction
with ``BEGIN IMMEDIATE`` (:func:`create_engine`), so a transaction holds the write lock from
its first statement, and running two at once only makes the second wait.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement

from numproxy.common.errors import InvalidArgument

Bind = AsyncConnection | AsyncSession

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
# PostgreSQL: serialization failure, deadlock detected. Both say "run it again".
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# PostgreSQL: connection exceptions (08...), operator intervention (57P01 admin shutdown,
# 57P02 crash shutdown, 57P03 "the database system is starting up / shutting down").
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P")
# Execution option: this transaction only reads (SQLite: deferred BEGIN, no write lock).
READ_ONLY = "numproxy_read_only"


def snapshot_reads(bind: Bind | AsyncEngine) -> dict[str, Any]:
    """Execution options of a transaction that only reads and whose statements all see one
    snapshot: SQLite's read transactions do (WAL), PostgreSQL's need REPEATABLE READ (under
    READ COMMITTED each statement sees the commits made since the one before)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if name_of(bind) == POSTGRESQL:
        options["isolation_level"] = "REPEATABLE READ"
    return options


# Errors and echo show statements without their parameters: those hold message texts and
# phone numbers, which logs never carry.
HIDE_PARAMETERS = True


def url_is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == SQLITE


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url`` (sqlite+aiosqlite:// or postgresql+asyncpg://).

    SQLite gets WAL, a busy timeout and enforced foreign keys on every connection, and every
    transaction starts with ``BEGIN IMMEDIATE``: writers queue on the busy timeout instead of
    failing with "database is locked" when a deferred read lock cannot be upgraded. A
    transaction that only reads can opt out with the ``READ_ONLY`` execution option.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidArgument(
            f"invalid database URL: {exc}", reason="INVALID_DATABASE_URL"
        ) from exc
    if parsed.get_backend_name() == SQLITE:
        engine = create_async_engine(
            parsed, connect_args={"timeout": 30}, hide_parameters=HIDE_PARAMETERS
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # pysqlite's own implicit BEGIN is off; the "begin" hook below emits ours.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(
        parsed, pool_size=10, max_overflow=10, hide_parameters=HIDE_PARAMETERS
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A connection the server closed (a restart, a failover) is replaced before use. The
        # driver notices the closed socket by itself, so this costs no round trip, where
        # SQLAlchemy's pool_pre_ping spends three (BEGIN, a ping, ROLLBACK) on every checkout.
        driver = getattr(dbapi_connection, "_connection", None)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the database closed this connection")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def name_of(bind: Bind | AsyncEngine) -> str:
    if isinstance(bind, AsyncSession):
        return bind.get_bind().dialect.name
    return bind.dialect.name


def write_concurrency(engine: AsyncEngine, configured: int) -> int:
    """How many write transactions of one kind are worth running at once."""
    return 1 if name_of(engine) == SQLITE else max(1, configured)


def insert_ignoring_conflicts(table: Table, bind: Bind) -> Insert:
    """``INSERT .. ON CONFLICT DO NOTHING`` for ``table``: a concurrent insert of the same key
    waits for the other transaction instead of failing. Add ``.returning(..)`` to learn which
    rows went in."""
    if name_of(bind) == POSTGRESQL:
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def upsert(table: Table, bind: Bind) -> Any:
    """``INSERT .. ON CONFLICT`` for ``table`` (the caller adds ``on_conflict_do_update``);
    both dialects' inserts share that method's signature."""
    if name_of(bind) == POSTGRESQL:
        return postgresql.insert(table)
    return sqlite.insert(table)


async def insert_ignore(db: Bind, table: Table, values: dict[str, Any]) -> bool:
    """INSERT one row unless its key exists; True when the row was inserted."""
    result: Any = await db.execute(insert_ignoring_conflicts(table, db).values(**values))
    return bool(result.rowcount == 1)


async def advisory_locks(db: Bind, keys: Iterable[str]) -> None:
    """Serialize transactions about each of ``keys`` until commit, in one statement; keys are
    locked in a fixed order so two transactions never wait on each other crosswise. (SQLite
    transactions are serialized already.)"""
    if name_of(db) != POSTGRESQL:
        return
    numbers = sorted({_lock_number(key) for key in keys})
    if not numbers:
        return
    await db.execute(_ADVISORY_LOCKS, {"keys": numbers})


# The keys come sorted, and unnest yields them in array order.
_ADVISORY_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


async def event_order_lock(db: Bind) -> None:
    """Make event cursors follow commit order: held from the first event insert until commit,
    so no transaction can commit a lower cursor after a reader saw a higher one. (SQLite
    allocates rowids under its single write lock already.)"""
    if name_of(db) == POSTGRESQL:
        await db.execute(_EVENT_ORDER_LOCK)


# pg_advisory_xact_lock's two-int form, in a key space of its own.
_EVENT_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(1851879024, 1)")


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


def _lock_number(key: str) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class json_text_equals(FunctionElement[bool]):
    """``json_text_equals(column, key, value)``: the JSON object in ``column`` has ``key`` with
    the string ``value``. PostgreSQL: ``column ->> key = value``. SQLite: a ``json_each`` lookup,
    since its JSON paths (3.40) cannot name every key (one with a double quote, say)."""

    type = Boolean()
    name = "json_text_equals"
    inherit_cache = True


@compiles(json_text_equals, SQLITE)
def _json_text_equals_sqlite(element: json_text_equals, compiler: SQLCompiler, **kw: Any) -> str:
    column, key, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({column}) AS entry "
        f"WHERE entry.key = {key} AND entry.type = 'text' AND entry.value = {value})"
    )


@compiles(json_text_equals, POSTGRESQL)
def _json_text_equals_postgresql(
    element: json_text_equals, compiler: SQLCompiler, **kw: Any
) -> str:
    column, key, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} ->> {key}) = {value}"
