"""The audit trail's store on both databases: batched writes, retention pruning, and a write
that fails never reaching the call."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.authorization import AuditRecord
from numproxy.router.audit import trail as trail_module
from numproxy.router.audit.trail import AuditQuery, AuditTrail
from numproxy.router.inbound.housekeeping import InboundHousekeeping
from numproxy.router.settings import RouterSettings
from numproxy.router.store.dialect import create_engine
from numproxy.router.store.models import AuditEntry
from tests.support.router_inbound import FakeClock, eventually, make_router

DAY = 24 * 3600.0


def record(clock: FakeClock, caller: str = "admin", method: str = "/x/Y") -> AuditRecord:
    return AuditRecord(clock.now(), caller, method, "", "", "OK", "")


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count(AuditEntry.id)))).scalar_one())


async def test_entries_recorded_together_are_written_and_read_newest_first(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=DAY, batch_max=50)
    for n in range(120):
        trail.record(record(clock, caller=f"c{n}"))
    await trail.flush()
    assert await count(engine) == 120
    page = await trail.list_entries(AuditQuery(), size=3)
    assert [e.caller for e in page.items] == ["c119", "c118", "c117"]


async def test_retention_prunes_only_entries_older_than_it(engine: AsyncEngine) -> None:
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=90 * DAY, batch_max=50)
    for _ in range(5):
        trail.record(record(clock, caller="old"))
    clock.advance(60 * DAY)
    for _ in range(3):
        trail.record(record(clock, caller="young"))
    await trail.flush()

    clock.advance(31 * DAY)  # the old ones are 91 days old, the young 31
    assert await trail.prune() == 5
    assert await trail.prune() == 0
    callers = [e.caller for e in (await trail.list_entries(AuditQuery())).items]
    assert callers == ["young"] * 3


async def test_pruning_a_backlog_works_in_bounded_batches(engine: AsyncEngine) -> None:
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=DAY, batch_max=500)
    for _ in range(trail_module.PRUNE_BATCH + 7):
        trail.record(record(clock))
    await trail.flush()
    clock.advance(2 * DAY)
    assert await trail.prune() == trail_module.PRUNE_BATCH + 7
    assert await count(engine) == 0


async def test_a_failed_write_is_logged_and_dropped_never_raised(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(database_url)
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=DAY, batch_max=10)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: AuditEntry.__table__.drop(c))  # type: ignore[attr-defined]
    try:
        trail.record(record(clock, method="/numproxy.v1.PoolService/CreatePool"))
        await asyncio.wait_for(trail.flush(), 10)
    finally:
        await engine.dispose()
    assert "audit entry for /numproxy.v1.PoolService/CreatePool by admin not written" in (
        caplog.text
    )


async def test_time_filters_compare_as_utc(engine: AsyncEngine) -> None:
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=DAY, batch_max=10)
    first = clock.now()
    trail.record(record(clock, caller="first"))
    clock.advance(10)
    trail.record(record(clock, caller="second"))
    await trail.flush()
    # The same instant written in another time zone.
    later = (first + timedelta(seconds=5)).astimezone(timezone(timedelta(hours=-5)))
    page = await trail.list_entries(AuditQuery(start=later))
    assert [e.caller for e in page.items] == ["second"]


async def test_the_routers_housekeeping_prunes_the_audit_trail(engine: AsyncEngine) -> None:
    clock = FakeClock()
    trail = AuditTrail(engine, clock, retention=DAY, batch_max=10)
    trail.record(record(clock, caller="old"))
    clock.advance(2 * DAY)
    trail.record(record(clock, caller="young"))
    await trail.flush()
    settings = RouterSettings(housekeeping_interval=0.05)
    inbound, _ = make_router(engine, clock, settings)
    housekeeping = InboundHousekeeping(engine, inbound.pipeline, settings, clock, audit=trail)
    await housekeeping.start()
    try:

        async def pruned() -> bool:
            return await count(engine) == 1

        await eventually(pruned)
    finally:
        await housekeeping.stop()
    assert [e.caller for e in (await trail.list_entries(AuditQuery())).items] == ["young"]
