"""Test data and helpers for inbound routing, receipts and dispatch (written straight to the
database, so these tests do not depend on the session API)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from numproxy.router.inbound.housekeeping import InboundHousekeeping
from numproxy.router.inbound.message import InboundResult, IncomingSms
from numproxy.router.inbound.pipeline import Decider, InboundPipeline
from numproxy.router.settings import RouterSettings
from numproxy.router.store.dialect import session_factory, write_concurrency
from numproxy.router.store.models import Interaction, Participant, Pool, ProxyNumber, Session
from numproxy.router.store.queries import Claimed

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class Notifications:
    """Stands in for the dispatcher: takes no rows in memory (so every outbound row is
    written due now) and counts notify()."""

    def __init__(self) -> None:
        self.count = 0

    def notify(self) -> None:
        self.count += 1

    def reserve(self, count: int) -> int:
        return 0

    def release(self, count: int) -> None:
        pass

    async def submit(self, rows: Iterable[Claimed]) -> None:
        raise AssertionError("no room was reserved")


@dataclass(frozen=True)
class InboundUnderTest:
    """The pipeline and its housekeeping, wired as the router wires them."""

    pipeline: InboundPipeline
    housekeeping: InboundHousekeeping

    async def receive(self, message: IncomingSms) -> InboundResult:
        return await self.pipeline.receive(message)

    async def flush_incomplete(self) -> int:
        return await self.housekeeping.flush_incomplete()

    async def purge(self) -> int:
        return await self.housekeeping.purge()


def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def make_router(
    engine: AsyncEngine,
    clock: FakeClock,
    settings: RouterSettings | None = None,
    hooks: Decider | None = None,
) -> tuple[InboundUnderTest, Notifications]:
    settings = settings or RouterSettings()
    notes = Notifications()
    pipeline = InboundPipeline(
        engine,
        settings,
        clock,
        notes,
        concurrency=write_concurrency(engine, settings.inbound_batch_concurrency),
        hooks=hooks,
    )
    housekeeping = InboundHousekeeping(engine, pipeline, settings, clock)
    return InboundUnderTest(pipeline, housekeeping), notes


async def add_pool(
    engine: AsyncEngine,
    numbers: list[str],
    *,
    name: str = "default",
    policy: str = "DROP",
    reply: str = "",
    reply_interval: int = 3600,
    **columns: Any,
) -> int:
    """A pool with ``numbers``; ``columns``: other Pool columns (hooks...)."""
    async with factory(engine)() as db, db.begin():
        pool = Pool(
            name=name,
            default_ttl_seconds=0,
            default_lifetime_seconds=0,
            out_of_session_policy=policy,
            out_of_session_reply=reply,
            reply_interval_seconds=reply_interval,
            created_at=START,
            **columns,
        )
        db.add(pool)
        await db.flush()
        for number in numbers:
            db.add(
                ProxyNumber(
                    pool_id=pool.id,
                    number=number,
                    country_code="1",
                    state="ACTIVE",
                    created_at=START,
                )
            )
        return pool.id


async def add_session(
    engine: AsyncEngine,
    pool_id: int,
    participants: list[tuple[str, str]],
    *,
    ttl_seconds: int = 0,
    expires_at: datetime | None = None,
    now: datetime = START,
) -> str:
    """A session with (real number, proxy number) participants; returns its id."""
    session_id = str(uuid.uuid4())
    async with factory(engine)() as db, db.begin():
        proxies = {
            p.number: p.id
            for p in (await db.scalars(select(ProxyNumber).where(ProxyNumber.pool_id == pool_id)))
        }
        db.add(
            Session(
                id=session_id,
                pool_id=pool_id,
                status="OPEN",
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                idle_expires_at=now + timedelta(seconds=ttl_seconds) if ttl_seconds else None,
                attributes={},
                created_at=now,
                updated_at=now,
            )
        )
        await db.flush()
        for position, (number, proxy) in enumerate(participants):
            db.add(
                Participant(
                    session_id=session_id,
                    position=position,
                    number=number,
                    proxy_number_id=proxies[proxy],
                    display_name="",
                    active=True,
                )
            )
    return session_id


def sms(
    sender: str, proxy: str, text: str = "hello", *, message_id: str | None = None, **kw: Any
) -> IncomingSms:
    return IncomingSms(
        message_id=message_id or uuid.uuid4().hex,
        api_key="key1",
        sender_number=sender,
        proxy_number=proxy,
        text=text,
        **kw,
    )


async def interactions(engine: AsyncEngine, direction: str | None = None) -> list[Interaction]:
    async with factory(engine)() as db:
        query = select(Interaction).order_by(Interaction.created_at, Interaction.id)
        if direction is not None:
            query = query.where(Interaction.direction == direction)
        return list((await db.scalars(query)).all())


async def get_session(engine: AsyncEngine, session_id: str) -> Session:
    async with factory(engine)() as db:
        found = await db.get(Session, session_id)
        assert found is not None
        return found


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, interval: float = 0.02
) -> None:
    """Poll ``check`` until it holds (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
