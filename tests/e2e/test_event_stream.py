"""The event stream with real processes: a `numproxy events watch` process killed and resumed
from its last cursor while the router is SIGKILLed under traffic misses nothing; two router
replicas on one PostgreSQL feed one watcher."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.client import NumproxyClient
from numproxy.router.store.dialect import create_engine
from numproxy.router.store.models import Interaction
from tests.conftest import fresh_postgres_database
from tests.support.events import written
from tests.support.postgres import PostgresServer
from tests.support.router_inbound import eventually
from tests.support.router_sessions import router_process
from tests.support.stack import PROXY_NUMBERS, LocalStack, free_stack_config, local_stack
from tests.support.tls import shared_ca_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

MESSAGES = 24
# A router that dies leaves its sends leased: a short lease makes them go out again soon.
QUICK_RECOVERY = {
    "NUMPROXY_ROUTER_DISPATCH_LEASE": "3",
    "NUMPROXY_ROUTER_SEND_TIMEOUT": "2",
    "NUMPROXY_SIMULATOR_RETRY_MAX": "1",
    "NUMPROXY_ROUTER_LOG_LEVEL": "WARNING",
    "NUMPROXY_GATEWAY_LOG_LEVEL": "WARNING",
}


@dataclass
class Watcher:
    """A ``numproxy events watch`` process; the events it printed, as JSON objects."""

    process: asyncio.subprocess.Process
    printed: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, router: str, after: int = 0) -> Watcher:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "numproxy.cli.main",
            "events",
            "watch",
            "--router",
            router,
            "--tls-dir",
            str(shared_ca_dir()),
            "--after",
            str(after),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        watcher = cls(process)
        watcher.reader = asyncio.create_task(watcher._read())
        return watcher

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            if line.endswith(b"\n"):  # a line cut short by a kill is not an event
                self.printed.append(json.loads(line))

    async def has_printed(self) -> bool:
        return bool(self.printed)

    @property
    def last_cursor(self) -> int:
        return int(self.printed[-1]["cursor"]) if self.printed else 0

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()
        assert self.reader is not None
        await self.reader

    async def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit code and what it wrote on stderr."""
        self.process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.process.wait(), 10)
        assert self.reader is not None and self.process.stderr is not None
        await self.reader
        return code, (await self.process.stderr.read()).decode()


async def stored_cursors(engine: AsyncEngine) -> list[int]:
    return [event.seq for event in await written(engine)]


async def all_delivered(engine: AsyncEngine, count: int) -> bool:
    """Every forwarded message was delivered (nothing more will happen to the outbox)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Interaction.status, func.count())
                .where(Interaction.direction == "OUTBOUND")
                .group_by(Interaction.status)
            )
        ).all()
    return dict((status, n) for status, n in rows) == {"DELIVERED": count}


async def traffic(
    stack: LocalStack, legs: list[tuple[str, str]], at: Callable[[int], Awaitable[None]]
) -> None:
    """``MESSAGES`` texts round robin over ``legs``; ``at(n)`` runs before the n-th."""
    for n in range(MESSAGES):
        await at(n)
        sender, proxy = legs[n % len(legs)]
        await stack.text(sender, proxy, f"event stream #{n:03d}")


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with local_stack(free_stack_config(database_url, **QUICK_RECOVERY)) as running:
        yield running


@pytest.fixture
async def engine_of(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_a_killed_watcher_resumes_from_its_cursor_across_a_router_sigkill(
    stack: LocalStack, engine_of: AsyncEngine
) -> None:
    legs: list[tuple[str, str]] = []
    for n in range(2):
        session = await stack.client.create_session(f"+1555010{n:04d}", f"+1555020{n:04d}")
        a, b = session.participants
        legs += [(a.number, a.proxy_number), (b.number, b.proxy_number)]
    router = stack.config.router_address
    watchers = [await Watcher.start(router)]

    async def faults(n: int) -> None:
        if n == MESSAGES // 3:  # the watcher dies; a new one resumes from its last line
            await eventually(watchers[-1].has_printed)
            await watchers[-1].kill()
            watchers.append(await Watcher.start(router, after=watchers[-1].last_cursor))
        if n == 2 * MESSAGES // 3:  # the router dies mid-stream and comes back
            stack.processes["router"].signal(signal.SIGKILL)
            await stack.processes["router"].wait()
            await stack.start_service("router")

    await traffic(stack, legs, faults)
    await eventually(lambda: all_delivered(engine_of, MESSAGES), timeout=60)
    stored = await stored_cursors(engine_of)

    async def caught_up() -> bool:
        return watchers[-1].last_cursor >= stored[-1]

    await eventually(caught_up, timeout=20)
    code, errors = await watchers[-1].interrupt()

    seen = [int(event["cursor"]) for watcher in watchers for event in watcher.printed]
    assert seen == stored  # every event, once, in order, across both faults
    assert len(watchers[0].printed) > 0 and len(watchers[1].printed) > 0
    types = {event["type"] for watcher in watchers for event in watcher.printed}
    assert {"SESSION_CREATED", "MESSAGE_RECEIVED", "OUTBOUND_QUEUED"} <= types
    assert {"OUTBOUND_SENT", "OUTBOUND_DELIVERED"} <= types
    received = [e for w in watchers for e in w.printed if e["type"] == "MESSAGE_RECEIVED"]
    assert len(received) == MESSAGES
    assert received[0]["pool"] == "pools/default"
    assert received[0]["proxy_number"] in PROXY_NUMBERS
    assert (code, "Traceback" in errors) == (0, False)


@pytest.mark.postgres
async def test_two_router_replicas_feed_one_watcher(postgres_server: PostgresServer) -> None:
    url = fresh_postgres_database(postgres_server)
    with router_process(url) as a, router_process(url) as b:
        await asyncio.gather(a.wait_serving(), b.wait_serving())
        async with (
            NumproxyClient(a.address, tls=a.tls) as on_a,
            NumproxyClient(b.address, tls=b.tls) as on_b,
        ):
            stream = on_a.watch_events()
            pending = asyncio.ensure_future(anext(stream))
            # Every change goes through replica B; the watcher is on replica A.
            await on_b.create_pool("default")
            await on_b.add_numbers("default", ["+15557000001", "+15557000002"])
            session = await on_b.create_session("+15550100001", "+15550100002")
            await on_b.close_session(session.name)
            await on_a.remove_number("default", "+15557000002")  # and one through A
            seen = [await asyncio.wait_for(pending, 10)]
            seen += [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
            await stream.aclose()  # type: ignore[attr-defined]
    engine = create_engine(url)
    try:
        stored = await written(engine)
    finally:
        await engine.dispose()

    assert [e.cursor for e in seen] == [e.seq for e in stored]
    assert [e.session for e in seen[:2]] == [session.name] * 2
    assert [e.reason for e in seen] == ["", "API", ""]
    assert seen[2].proxy_number == "+15557000002"
