"""State changes counted from the events of committed transactions, on SQLite and PostgreSQL:
what commits is counted once, what rolls back never."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import PoolExhausted
from numproxy.router.metrics import RouterMetrics, observe_commits
from numproxy.router.metrics_collector import RouterGauges
from numproxy.router.store import events, rows
from numproxy.router.store.states import EventType
from tests.support.router_sessions import ALICE, BOB, CAROL, US1, make_domain, make_pool, pair


def count(metrics: RouterMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_committed_changes_are_counted_once(engine: AsyncEngine) -> None:
    metrics = RouterMetrics()
    observe_commits(engine, metrics.committed)
    d = make_domain(engine)
    await make_pool(d, [US1])
    session = await d.sessions.create_session(pair(ALICE, BOB, pool="default"))
    with pytest.raises(PoolExhausted):
        await d.sessions.create_session(pair(ALICE, CAROL, pool="default"))
    await d.sessions.update_session(session.id, ["status"], status="CLOSED")

    events_total = "numproxy_router_events_total"
    assert count(metrics, events_total, type="SESSION_CREATED") == 1
    assert count(metrics, events_total, type="SESSION_CLOSED") == 1
    assert count(metrics, "numproxy_router_sessions_closed_total", reason="API") == 1
    # Counted under the pool's name once the collector has named it.
    assert count(metrics, "numproxy_router_pool_exhausted_total", pool="default") == 0
    await RouterGauges(engine, metrics, d.clock, max_pools=10).collect_now()
    assert count(metrics, "numproxy_router_pool_exhausted_total", pool="default") == 1


async def test_a_rolled_back_change_is_not_counted(engine: AsyncEngine) -> None:
    metrics = RouterMetrics()
    observe_commits(engine, metrics.committed)
    d = make_domain(engine)

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon):
        async with engine.begin() as conn:
            await events.append(conn, [rows.event(type=EventType.HOOK_FAILED, now=d.clock.now())])
            raise Abandon
    async with engine.begin() as conn:
        await events.append(conn, [rows.event(type=EventType.NUMBER_DRAINED, now=d.clock.now())])
    assert count(metrics, "numproxy_router_events_total", type="HOOK_FAILED") == 0
    assert count(metrics, "numproxy_router_events_total", type="NUMBER_DRAINED") == 1
