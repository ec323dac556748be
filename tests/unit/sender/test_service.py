"""SmsSender's handling of HTTP-level answers the simulator never gives (429, bad JSON)."""

from __future__ import annotations

import httpx
import pytest

from numproxy.common.errors import ProviderUnavailable
from numproxy.sender.idempotency import IdempotencyCache
from numproxy.sender.ratelimit import RateLimiter
from numproxy.sender.service import RetryPolicy, SendResult, SmsRequest, SmsSender
from numproxy.sender.vonage import Credentials, VonageClient

OK = {
    "message-count": "1",
    "messages": [
        {
            "to": "447700900002",
            "message-id": "ID1",
            "status": "0",
            "remaining-balance": "1.00000000",
            "message-price": "0.03330000",
        }
    ],
}
SMS = SmsRequest("+447700900001", "+447700900002", "hi", "key-1")


def sender_answering(*answers: httpx.Response) -> tuple[SmsSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    client = VonageClient(http, "http://provider", Credentials("k", "s"))
    cache: IdempotencyCache[SendResult] = IdempotencyCache(60, 10)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02)
    return SmsSender(client, RateLimiter(0), cache, policy), seen


async def test_429_is_retried_after_retry_after() -> None:
    sender, seen = sender_answering(
        httpx.Response(429, headers={"retry-after": "0.01"}), httpx.Response(200, json=OK)
    )
    result = await sender.send(SMS, time_left=2)
    assert result.message_ids == ("ID1",)
    assert len(seen) == 2


async def test_429_until_the_deadline_is_unavailable() -> None:
    sender, seen = sender_answering(httpx.Response(429))
    with pytest.raises(ProviderUnavailable) as raised:
        await sender.send(SMS, time_left=0.3)
    assert raised.value.reason == "PROVIDER_HTTP_429"
    assert len(seen) > 1


async def test_malformed_answer_is_unavailable() -> None:
    sender, _ = sender_answering(httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(ProviderUnavailable) as raised:
        await sender.send(SMS, time_left=1)
    assert raised.value.reason == "PROVIDER_MALFORMED_REPLY"


async def test_form_posted_to_sms_json() -> None:
    sender, seen = sender_answering(httpx.Response(200, json=OK))
    await sender.send(SMS, time_left=1)
    assert seen[0].url == "http://provider/sms/json"
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"client-ref=key-1" in seen[0].content
