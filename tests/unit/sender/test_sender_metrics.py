"""The sender's metrics: each provider call labelled by HTTP and provider status, throttles,
the limiter's wait, idempotent replays and results."""

from __future__ import annotations

import httpx
import pytest

from numproxy.common.errors import DomainError
from numproxy.sender.idempotency import IdempotencyCache
from numproxy.sender.metrics import SenderMetrics
from numproxy.sender.ratelimit import RateLimiter
from numproxy.sender.service import RetryPolicy, SendResult, SmsRequest, SmsSender
from numproxy.sender.vonage import Credentials, VonageClient
from tests.unit.sender.test_service import OK, SMS

THROTTLED = {
    "message-count": "1",
    "messages": [{"status": "1", "error-text": "Throughput Rate Exceeded - please wait [ 10 ]"}],
}
REJECTED = {"message-count": "1", "messages": [{"status": "4", "error-text": "Bad Credentials"}]}


def metered(*answers: httpx.Response) -> tuple[SmsSender, SenderMetrics]:
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    client = VonageClient(http, "http://provider", Credentials("k", "s"))
    cache: IdempotencyCache[SendResult] = IdempotencyCache(60, 10)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02)
    metrics = SenderMetrics()
    return SmsSender(client, RateLimiter(0), cache, policy, metrics=metrics), metrics


def sample(metrics: SenderMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return found if found is not None else 0.0


async def test_a_throttled_call_then_an_accepted_one() -> None:
    sender, metrics = metered(httpx.Response(200, json=THROTTLED), httpx.Response(200, json=OK))
    await sender.send(SMS, time_left=2)
    calls = "numproxy_sender_provider_calls_total"
    assert sample(metrics, calls, http_status="200", provider_status="1") == 1
    assert sample(metrics, calls, http_status="200", provider_status="0") == 1
    assert sample(metrics, "numproxy_sender_throttles_total", kind="status_1") == 1
    assert sample(metrics, "numproxy_sender_provider_call_seconds_count") == 2
    assert sample(metrics, "numproxy_sender_rate_limit_wait_seconds_count") == 2
    assert sample(metrics, "numproxy_sender_sends_total", result="sent") == 1


async def test_http_errors_and_rejections_are_labelled_by_their_status() -> None:
    sender, metrics = metered(httpx.Response(500))
    with pytest.raises(DomainError):
        await sender.send(SMS, time_left=1)
    rejecting, rejected = metered(httpx.Response(200, json=REJECTED))
    with pytest.raises(DomainError):
        await rejecting.send(SmsRequest("+447700900001", "+447700900002", "x", "k2"), time_left=1)
    calls = "numproxy_sender_provider_calls_total"
    assert sample(metrics, calls, http_status="500", provider_status="-") == 1
    assert sample(metrics, "numproxy_sender_sends_total", result="failed") == 1
    assert sample(rejected, calls, http_status="200", provider_status="4") == 1


async def test_a_429_counts_as_a_throttle() -> None:
    sender, metrics = metered(
        httpx.Response(429, headers={"retry-after": "0.01"}), httpx.Response(200, json=OK)
    )
    await sender.send(SMS, time_left=2)
    assert sample(metrics, "numproxy_sender_throttles_total", kind="http_429") == 1
    calls = "numproxy_sender_provider_calls_total"
    assert sample(metrics, calls, http_status="429", provider_status="-") == 1


async def test_a_repeated_idempotency_key_is_a_replay_not_a_call() -> None:
    sender, metrics = metered(httpx.Response(200, json=OK))
    first = await sender.send(SMS, time_left=1)
    again = await sender.send(SMS, time_left=1)
    assert again == first
    assert sample(metrics, "numproxy_sender_idempotent_replays_total") == 1
    assert sample(metrics, "numproxy_sender_provider_call_seconds_count") == 1
    assert sample(metrics, "numproxy_sender_sends_total", result="sent") == 2
