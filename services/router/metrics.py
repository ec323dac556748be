"""Prometheus metrics of the router (served by common/metrics.py on NUMPROXY_ROUTER_METRICS_PORT).

Counters and histograms are updated where things happen (inbound outcomes, batches, sends,
receipts); state changes are counted from the events each committed transaction wrote
(store/events.py hands them over on commit, so a rolled-back change is never counted). Gauges
that need a query come from router/metrics_collector.py, off the request path.

Labels are bounded: outcomes, statuses and reasons are enums or provider codes; a pool label
is a pool name, for at most ``metrics_max_pools`` pools (the rest are summed as ``_other``);
never a phone number, session id or message id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import DomainError
from numproxy.common.metrics import LATENCY_BUCKETS
from numproxy.router.store.events import COMMITTED_EVENTS
from numproxy.router.store.rows import Row
from numproxy.router.store.states import EventType

OTHER_POOLS = "_other"
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Longest status label kept from a send failure's reason (PROVIDER_STATUS_4, UNAVAILABLE...).
_MAX_STATUS = 40


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.inbound = Counter(
            "numproxy_router_inbound_messages",
            "Inbound SMS routed, by outcome (hook: waited for a pool's hook before a decision)",
            ["outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            "numproxy_router_inbound_batch_size",
            "Inbound messages per pipeline transaction",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "numproxy_router_inbound_commit_seconds",
            "Time of one inbound pipeline transaction, first statement to commit",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sends = Counter(
            "numproxy_router_sends",
            "Outbound SMS handed to the sender, by outcome (sent, retryable, permanent) and "
            "status (OK, the sender's reason such as PROVIDER_STATUS_4, or the gRPC code)",
            ["outcome", "status"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "numproxy_router_send_batch_seconds",
            "Duration of one SendSmsBatch call to the sender",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "numproxy_router_send_retries",
            "Outbound SMS scheduled for another attempt after a retryable failure",
            registry=r,
        )
        self.receipts = Counter(
            "numproxy_router_delivery_receipts",
            "Delivery receipts received, by provider status and whether an outbound SMS matched",
            ["status", "matched"],
            registry=r,
        )
        self.events = Counter(
            "numproxy_router_events",
            "Committed state changes, by event type (OUTBOUND_FAILED, SESSION_CREATED...)",
            ["type"],
            registry=r,
        )
        self.sessions_closed = Counter(
            "numproxy_router_sessions_closed",
            "Sessions closed, by close reason",
            ["reason"],
            registry=r,
        )
        self.pool_exhausted = Counter(
            "numproxy_router_pool_exhausted",
            "Session creations refused because the pool had no number free, by pool",
            ["pool"],
            registry=r,
        )
        self.event_lag = Histogram(
            "numproxy_router_event_stream_lag_seconds",
            "Age of the newest event of a page when WatchEvents delivers it",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.database_errors = Counter(
            "numproxy_router_database_errors",
            "Database unavailable, by where it was met (api, dispatcher)",
            ["where"],
            registry=r,
        )
        # Pool ids to their label, kept by the collector (metrics_collector.py); exhaustions
        # of a pool it has not named yet wait for its next round.
        self.pool_labels: dict[int, str] = {}
        self._unnamed_exhausted: dict[int | None, int] = {}

    # --- the hot path: counters only ---------------------------------------------------

    def send_status(self, outcome: str, reason: str) -> None:
        status = reason.split(":", 1)[0].strip()[:_MAX_STATUS] or "UNKNOWN"
        self.sends.labels(outcome, status).inc()

    def committed(self, rows: Sequence[Row]) -> None:
        """Count the events of a transaction that committed."""
        for row in rows:
            kind = str(row["type"])
            self.events.labels(kind).inc()
            if kind == EventType.SESSION_CLOSED:
                self.sessions_closed.labels(str(row.get("reason") or "UNKNOWN")).inc()
            elif kind == EventType.POOL_EXHAUSTED:
                pool_id = row.get("pool_id")
                if pool_id in self.pool_labels:
                    self.pool_exhausted.labels(self.pool_labels[pool_id]).inc()
                else:
                    self._unnamed_exhausted[pool_id] = self._unnamed_exhausted.get(pool_id, 0) + 1

    def name_pools(self, labels: dict[int, str]) -> None:
        """The pools' labels as of the collector's round; exhaustions waiting for their pool's
        name are counted now (a pool it still does not know is summed under ``_other``)."""
        self.pool_labels = labels
        waiting, self._unnamed_exhausted = self._unnamed_exhausted, {}
        for pool_id, count in waiting.items():
            label = labels.get(pool_id, OTHER_POOLS) if isinstance(pool_id, int) else OTHER_POOLS
            self.pool_exhausted.labels(label).inc(count)

    def counting_outages(
        self, translate: Callable[[Exception], DomainError | None]
    ) -> Callable[[Exception], DomainError | None]:
        """``translate`` (the API's error translation), counting database outages."""

        def counted(exc: Exception) -> DomainError | None:
            error = translate(exc)
            if error is not None and error.reason == "DATABASE_UNAVAILABLE":
                self.database_errors.labels("api").inc()
            return error

        return counted


def observe_commits(engine: AsyncEngine, committed: Callable[[Sequence[Row]], None]) -> None:
    """Hand the events each committed transaction of ``engine`` wrote to ``committed``.

    A transaction starts with an empty list under ``COMMITTED_EVENTS`` in its connection's
    info; store/events.py ``append`` adds to it; commit hands it over, rollback drops it.
    Without this (metrics off) nothing is collected."""
    target = engine.sync_engine

    def begin(conn: Connection) -> None:
        conn.info[COMMITTED_EVENTS] = []

    def commit(conn: Connection) -> None:
        rows: list[Row] | None = conn.info.pop(COMMITTED_EVENTS, None)
        if rows:
            committed(rows)

    def rollback(conn: Connection, *_: Any) -> None:
        conn.info.pop(COMMITTED_EVENTS, None)

    event.listen(target, "begin", begin)
    event.listen(target, "commit", commit)
    event.listen(target, "rollback", rollback)
