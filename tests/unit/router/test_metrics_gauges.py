"""The router's gauges from their queries, on SQLite and PostgreSQL: numbers by state, active
participants, headroom, sessions by status, outbox depth and the oldest due row's age; and the
pool label kept bounded."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.metrics import OTHER_POOLS, RouterMetrics
from numproxy.router.metrics_collector import RouterGauges
from numproxy.router.store.models import Interaction
from numproxy.router.store.states import MessageStatus
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    US3,
    US4,
    group,
    make_domain,
    make_pool,
    pair,
)


def samples(metrics: RouterMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_gauges_follow_the_database(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2, US3])
    await make_pool(d, [US4], pool_id="small")
    await d.sessions.create_session(pair(ALICE, BOB))
    await d.sessions.create_session(group(ALICE, CAROL))
    metrics = RouterMetrics()
    gauges = RouterGauges(engine, metrics, d.clock, max_pools=10)

    shown = {name for name, _ in samples(metrics)}
    assert "numproxy_router_pool_numbers" not in shown, "no gauge before the first round"
    await gauges.collect_now()
    got = samples(metrics)

    def at(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert at("numproxy_router_pool_numbers", pool="default", state="ACTIVE") == 3
    assert at("numproxy_router_pool_numbers", pool="small", state="ACTIVE") == 1
    assert at("numproxy_router_pool_active_participants", pool="default") == 4
    # Alice holds two of the three numbers: one left to her (Bob and Carol have two each).
    assert at("numproxy_router_pool_headroom", pool="default") == 1
    assert at("numproxy_router_pool_headroom", pool="small") == 1
    assert at("numproxy_router_sessions", pool="default", status="OPEN") == 2
    assert at("numproxy_router_outbox_queued") == 0
    assert at("numproxy_router_outbox_oldest_due_age_seconds") == 0
    assert metrics.pool_labels  # the names exhaustion counts are labelled with


async def test_oldest_due_age_counts_from_when_the_row_was_due(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    await d.messaging.send_message(session.id, ALICE, "hello")
    async with engine.begin() as conn:
        await conn.execute(
            update(Interaction)
            .where(Interaction.status == MessageStatus.QUEUED)
            .values(next_attempt_at=d.clock.now() - timedelta(seconds=90))
        )
    metrics = RouterMetrics()
    gauges = RouterGauges(engine, metrics, d.clock, max_pools=10)
    await gauges.collect_now()
    got = samples(metrics)
    assert got[("numproxy_router_outbox_queued", frozenset())] == 1
    assert got[("numproxy_router_outbox_oldest_due_age_seconds", frozenset())] == 90


async def test_pools_past_the_cap_share_one_label(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1], pool_id="a")
    await make_pool(d, [US2], pool_id="b")
    await make_pool(d, [US3], pool_id="c")
    metrics = RouterMetrics()
    gauges = RouterGauges(engine, metrics, d.clock, max_pools=1)
    await gauges.collect_now()
    got = samples(metrics)
    numbers = {
        dict(labels)["pool"]: v
        for (name, labels), v in got.items()
        if name == "numproxy_router_pool_numbers"
    }
    assert numbers == {"a": 1, OTHER_POOLS: 2}
    headroom = {dict(labels)["pool"] for (name, labels), _ in got.items() if "headroom" in name}
    assert headroom == {"a"}, "a headroom is one pool's, never a sum"
