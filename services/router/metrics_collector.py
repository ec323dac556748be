"""The router's gauges that need a query, read every ``metrics_interval`` by one background
task (never per scrape, never per request) and exposed as the last snapshot taken.

Cost per round, all read-only: the queued outbound rows (the ``ix_interaction_due`` partial
index: a count capped at ``_DEPTH_CAP`` and a min), proxy numbers grouped by pool and state
(their count is bounded by what operators configure), the sessions not closed grouped by pool
and status, and the headroom's busiest holding per pool (an aggregate over active
participants, through the core rule's partial unique index). Pools past ``max_pools`` (by
name) are summed under ``_other`` so the label stays bounded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.headroom import free_for_busiest
from numproxy.router.clock import Clock, as_utc
from numproxy.router.metrics import OTHER_POOLS, RouterMetrics
from numproxy.router.store.dialect import READ_ONLY
from numproxy.router.store.models import Interaction, Participant, Pool, ProxyNumber, Session
from numproxy.router.store.states import MessageStatus, NumberState, SessionStatus

log = logging.getLogger(__name__)

# Queued rows counted at most (the depth reads as this many when more are queued).
_DEPTH_CAP = 1_000_000


@dataclass(frozen=True)
class Snapshot:
    outbox_queued: int = 0
    oldest_due_age: float = 0.0
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)  # (pool, state)
    participants: dict[str, int] = field(default_factory=dict)
    headroom: dict[str, int] = field(default_factory=dict)
    sessions: dict[tuple[str, str], int] = field(default_factory=dict)  # (pool, status)
    collected: bool = False


_QUEUED = Interaction.status == MessageStatus.QUEUED
_DEPTH = select(func.count()).select_from(
    select(literal(1)).where(_QUEUED).limit(_DEPTH_CAP).subquery()
)
_OLDEST_DUE = select(func.min(Interaction.next_attempt_at)).where(_QUEUED)
_POOLS = select(Pool.id, Pool.name).order_by(Pool.name)
_NUMBERS = select(
    ProxyNumber.pool_id,
    ProxyNumber.state,
    func.count(),
    func.coalesce(func.sum(ProxyNumber.active_participants), 0),
).group_by(ProxyNumber.pool_id, ProxyNumber.state)
_SESSIONS = (
    select(Session.pool_id, Session.status, func.count())
    .where(Session.status != SessionStatus.CLOSED)
    .group_by(Session.pool_id, Session.status)
)
_HOLDINGS = (
    select(ProxyNumber.pool_id, Participant.number, func.count().label("held"))
    .join(ProxyNumber, ProxyNumber.id == Participant.proxy_number_id)
    .where(Participant.active, ProxyNumber.state == NumberState.ACTIVE)
    .group_by(ProxyNumber.pool_id, Participant.number)
    .subquery()
)
_BUSIEST = select(_HOLDINGS.c.pool_id, func.max(_HOLDINGS.c.held)).group_by(_HOLDINGS.c.pool_id)


class RouterGauges(Collector):
    """Registered in the router's registry: exposes the last snapshot; ``collect_now`` (run by
    a Periodic in the composition root) takes the next one."""

    def __init__(
        self, engine: AsyncEngine, metrics: RouterMetrics, clock: Clock, max_pools: int
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._max_pools = max_pools
        self._snapshot = Snapshot()
        metrics.registry.register(self)

    async def collect_now(self) -> None:
        now = self._clock.now()
        async with self._engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                queued = int((await conn.execute(_DEPTH)).scalar_one())
                oldest = (await conn.execute(_OLDEST_DUE)).scalar()
                pools = (await conn.execute(_POOLS)).all()
                numbers = (await conn.execute(_NUMBERS)).all()
                sessions = (await conn.execute(_SESSIONS)).all()
                busiest = {row[0]: row[1] for row in await conn.execute(_BUSIEST)}
        labels = {
            pool_id: name if index < self._max_pools else OTHER_POOLS
            for index, (pool_id, name) in enumerate(pools)
        }
        self._metrics.name_pools(labels)
        snapshot = Snapshot(
            outbox_queued=queued,
            oldest_due_age=max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest else 0.0,
            collected=True,
        )
        active_numbers: dict[int, int] = defaultdict(int)
        for pool_id, state, count, participants in numbers:
            pool = labels.get(pool_id, OTHER_POOLS)
            key = (pool, str(state))
            snapshot.numbers[key] = snapshot.numbers.get(key, 0) + int(count)
            snapshot.participants[pool] = snapshot.participants.get(pool, 0) + int(participants)
            if state == NumberState.ACTIVE:
                active_numbers[pool_id] += int(count)
        for pool_id, name in labels.items():
            if name == OTHER_POOLS:
                continue  # a headroom is one pool's: no sum of several means anything
            snapshot.headroom[name] = free_for_busiest(
                active_numbers.get(pool_id, 0), int(busiest.get(pool_id) or 0)
            )
        for pool_id, status, count in sessions:
            key = (labels.get(pool_id, OTHER_POOLS), str(status))
            snapshot.sessions[key] = snapshot.sessions.get(key, 0) + int(count)
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot  # one reference: a scrape sees one whole round
        if not snap.collected:
            return
        yield GaugeMetricFamily(
            "numproxy_router_outbox_queued",
            "Outbound SMS queued (due, leased or waiting for a retry)",
            value=snap.outbox_queued,
        )
        yield GaugeMetricFamily(
            "numproxy_router_outbox_oldest_due_age_seconds",
            "How long the oldest due outbound SMS has waited past its due time (0: none due)",
            value=snap.oldest_due_age,
        )
        yield _family(
            "numproxy_router_pool_numbers",
            "Proxy numbers by pool and state (ACTIVE, DRAINING)",
            ["pool", "state"],
            {key: float(v) for key, v in snap.numbers.items()},
        )
        yield _family(
            "numproxy_router_pool_active_participants",
            "Active participants placed on the pool's numbers",
            ["pool"],
            {(pool,): float(v) for pool, v in snap.participants.items()},
        )
        yield _family(
            "numproxy_router_pool_headroom",
            "Free proxy numbers left to the real number holding the most in the pool",
            ["pool"],
            {(pool,): float(v) for pool, v in snap.headroom.items()},
        )
        yield _family(
            "numproxy_router_sessions",
            "Sessions not closed, by pool and status (OPEN, IN_PROGRESS)",
            ["pool", "status"],
            {key: float(v) for key, v in snap.sessions.items()},
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # the families depend on the snapshot; nothing to check at register


def _family(
    name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family
