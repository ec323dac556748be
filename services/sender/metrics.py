"""Prometheus metrics of the sender (served by common/metrics.py on NUMPROXY_SENDER_METRICS_PORT).

Labels are bounded: HTTP statuses, the provider's numeric status codes, fixed words.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from numproxy.common.metrics import LATENCY_BUCKETS


class SenderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.provider_calls = Counter(
            "numproxy_sender_provider_calls",
            "Calls to the provider's SMS API, by HTTP status (or timeout, unreachable) and "
            "the provider's status code of the message (0: accepted; - when none was read)",
            ["http_status", "provider_status"],
            registry=r,
        )
        self.provider_seconds = Histogram(
            "numproxy_sender_provider_call_seconds",
            "Duration of one call to the provider's SMS API",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.throttles = Counter(
            "numproxy_sender_throttles",
            "Provider answers asking to slow down (HTTP 429 or status 1), by kind",
            ["kind"],
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "numproxy_sender_rate_limit_wait_seconds",
            "Time a send waited for the rate limiter before calling the provider",
            buckets=(0.0, *LATENCY_BUCKETS),
            registry=r,
        )
        self.replays = Counter(
            "numproxy_sender_idempotent_replays",
            "Sends answered from the idempotency cache or joined to a send already under way "
            "(the provider was not called again)",
            registry=r,
        )
        self.sends = Counter(
            "numproxy_sender_sends",
            "SendSms requests answered, by result (sent, failed)",
            ["result"],
            registry=r,
        )
