"""Helpers for the pool and session domain tests (both backends)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

import grpc
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving, open_channel
from numproxy.router.__main__ import running_router
from numproxy.router.sessions.membership import Membership
from numproxy.router.sessions.messaging import SessionMessaging
from numproxy.router.sessions.pools import Pools, PoolSpec
from numproxy.router.sessions.sessions import ParticipantSpec, Sessions, SessionSpec, SessionView
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries
from numproxy.router.store.dialect import create_engine, session_factory
from numproxy.router.store.models import Pool, Session
from tests.support.callers import TEST_CALLERS, TestAuthentication, caller_channel
from tests.support.postgres import free_port
from tests.support.router_inbound import FakeClock

ALICE, BOB, CAROL, DAVE = "+15550100001", "+15550100002", "+15550100003", "+15550100004"
UK_ERIN = "+447700900005"
US1, US2, US3, US4 = "+15557000001", "+15557000002", "+15557000003", "+15557000004"
UK1, UK2 = "+447400000001", "+447400000002"


@dataclass
class Domain:
    engine: AsyncEngine
    clock: FakeClock
    pools: Pools
    sessions: Sessions
    messaging: SessionMessaging
    membership: Membership
    notified: list[int] = field(default_factory=list)


def make_domain(engine: AsyncEngine, clock: FakeClock | None = None) -> Domain:
    clock = clock or FakeClock()
    factory = session_factory(engine)
    notified: list[int] = []

    def on_queued() -> None:
        notified.append(1)

    return Domain(
        engine,
        clock,
        Pools(factory, clock),
        Sessions(factory, clock, on_queued=on_queued),
        SessionMessaging(factory, clock, on_queued=on_queued),
        Membership(factory, clock, on_queued=on_queued),
        notified,
    )


async def make_pool(
    domain: Domain, numbers: Sequence[str], pool_id: str = "default", **spec: timedelta
) -> None:
    await domain.pools.create_pool(pool_id, PoolSpec(**spec))
    if numbers:
        await domain.pools.add_numbers(pool_id, list(numbers))


def pair(a: str, b: str, **kw: object) -> SessionSpec:
    return SessionSpec(participants=[ParticipantSpec(a), ParticipantSpec(b)], **kw)  # type: ignore[arg-type]


def group(*numbers: str, **kw: object) -> SessionSpec:
    return SessionSpec(participants=[ParticipantSpec(n) for n in numbers], **kw)  # type: ignore[arg-type]


async def set_pool_columns(
    engine: AsyncEngine, pool_id: str = "default", **columns: object
) -> None:
    """Pool settings the pool API does not take yet (end_command, open_notice, close_notice,
    prefix_display_name, max_participants), written straight to the database."""
    async with engine.begin() as conn:
        await conn.execute(update(Pool).where(Pool.name == pool_id).values(**columns))


async def configure_pool(database_url: str, pool_id: str = "default", **columns: object) -> None:
    """``set_pool_columns`` on the database at ``database_url``."""
    engine = create_engine(database_url)
    try:
        await set_pool_columns(engine, pool_id, **columns)
    finally:
        await engine.dispose()


def proxy_of(session: SessionView, number: str) -> str:
    return next(p.proxy_number for p in session.participants if p.number == number)


async def record_activity(engine: AsyncEngine, session_id: str, clock: FakeClock) -> None:
    """An interaction happened now (what inbound routing does for each message)."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(Session.status, Session.ttl_seconds).where(Session.id == session_id)
            )
        ).one()
        await queries.record_activity(
            conn, [queries.Activity(session_id, row.status, row.ttl_seconds)], clock.now()
        )


async def stored_status(engine: AsyncEngine, session_id: str) -> tuple[str, str | None]:
    """The status as written in the database (not as lookups compute it)."""
    async with session_factory(engine)() as db:
        row = await db.scalar(select(Session).where(Session.id == session_id))
        assert row is not None
        return row.status, row.closed_reason


def api_router_settings(database_url: str, **settings: Any) -> RouterSettings:
    """Settings of an in-process test router on port 0 (callers: ``TEST_CALLERS`` unless
    given)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "database_url": SecretStr(database_url),
        "sender_address": f"127.0.0.1:{free_port()}",  # nothing listens: greetings stay queued
        "shutdown_grace": 1.0,
        "callers": TEST_CALLERS,
    }
    return RouterSettings(**{**values, **settings})


@asynccontextmanager
async def api_router(
    config: RouterSettings, clock: FakeClock | None = None, anonymous: str | None = None
) -> AsyncIterator[str]:
    """A router in this process whose callers are named by the test (tests/support/callers.py;
    ``anonymous``: the caller of calls naming none); yields its address."""
    authentication = [TestAuthentication(anonymous)]
    async with running_router(config, clock, authentication) as port:
        yield f"127.0.0.1:{port}"


@asynccontextmanager
async def router_channel(
    database_url: str, caller: str | None = "admin", **settings: Any
) -> AsyncIterator[grpc.aio.Channel]:
    """A real router (in this process, port 0) on ``database_url``, and a channel to it whose
    calls are made as ``caller``."""
    async with api_router(api_router_settings(database_url, **settings)) as address:
        channel = caller_channel(address, caller)
        try:
            yield channel
        finally:
            await channel.close(grace=None)


async def rpc_error(call: Awaitable[object]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, ErrorInfo reason and metadata of a call that must fail."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        info = error_info(exc)
        assert info is not None, exc
        return exc.code(), info.reason, dict(info.metadata)
    raise AssertionError("the call succeeded")


@contextmanager
def router_process(database_url: str, **env: str) -> Iterator[RouterProcess]:
    """``python -m numproxy.router`` as a separate process on a free port; SIGTERM at the end."""
    port = free_port()
    variables = {
        **os.environ,
        "NUMPROXY_ROUTER_DATABASE_URL": database_url,
        "NUMPROXY_ROUTER_HOST": "127.0.0.1",
        "NUMPROXY_ROUTER_PORT": str(port),
        "NUMPROXY_ROUTER_SENDER_ADDRESS": f"127.0.0.1:{free_port()}",
        "NUMPROXY_ROUTER_LOG_FORMAT": "json",
        # No authentication layer in the process: its calls are made as admin.
        "NUMPROXY_ROUTER_CALLERS": json.dumps(TEST_CALLERS),
        "NUMPROXY_ROUTER_ANONYMOUS_CALLER": "admin",
        **env,
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "numproxy.router"], env=variables, stdout=log, stderr=log
        )
        handle = RouterProcess(process, f"127.0.0.1:{port}", log)
        try:
            yield handle
        finally:
            handle.terminate()


@dataclass
class RouterProcess:
    process: subprocess.Popen[bytes]
    address: str
    log_file: IO[bytes]

    async def wait_serving(self, timeout: float = 20.0) -> None:
        channel = open_channel(self.address)
        try:
            deadline = time.monotonic() + timeout
            while not await is_serving(channel):
                assert self.process.poll() is None, self.output()
                assert time.monotonic() < deadline, "router did not become SERVING"
                await asyncio.sleep(0.05)
        finally:
            await channel.close(grace=None)

    def terminate(self) -> int:
        """SIGTERM (graceful shutdown); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def output(self) -> str:
        self.log_file.flush()
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")
