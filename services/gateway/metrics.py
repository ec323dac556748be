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
        self.outcomes = Counter(
            "numproxy_gateway_webhook_outcomes",
            "Webhooks by kind and outcome: the router's (FORWARDED, DUPLICATE...; matched or "
            "unmatched for receipts) or the error code answered",
            ["webhook", "outcome"],
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "numproxy_gateway_signature_failures",
            "Webhooks refused as unauthenticated (401), by webhook and reason",
            ["webhook", "reason"],
            registry=self.registry,
        )
        self.body_rejects = Counter(
            "numproxy_gateway_body_rejects",
            "Webhooks refused for what they carried (4xx other than 401), by webhook and reason",
            ["webhook", "reason"],
            registry=self.registry,
        )

    def observe(
        self, webhook: str, status: int, seconds: float, outcome: str, error: str = ""
    ) -> None:
        """One answered webhook; ``outcome`` and ``error`` are bounded codes, never input."""
        self.webhooks.labels(webhook, str(status)).inc()
        self.duration.labels(webhook).observe(seconds)
        self.outcomes.labels(webhook, error or outcome or "UNKNOWN").inc()
        if status == 401:
            self.signature_failures.labels(webhook, error).inc()
        elif 400 <= status < 500:
            self.body_rejects.labels(webhook, error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
