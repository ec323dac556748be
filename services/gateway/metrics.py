"""Prometheus metrics of the gateway, served on ``/metrics`` (the chart's ServiceMonitor).

A registry per app, not the process-global one, so tests and several apps stay independent.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "numproxy_gateway_webhooks",
            "Webhooks answered, by webhook and HTTP status",
            ["webhook", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "numproxy_gateway_webhook_duration_seconds",
            "Time from request to answer, router call included",
            ["webhook"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def observe(self, webhook: str, status: int, seconds: float) -> None:
        self.webhooks.labels(webhook, str(status)).inc()
        self.duration.labels(webhook).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
