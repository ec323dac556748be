"""/metrics counts each answered webhook by status, for the chart's ServiceMonitor."""

from __future__ import annotations

import httpx

from tests.integration.gateway.harness import FakeRouter
from tests.integration.gateway.payloads import INBOUND, SMS


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_webhooks_are_counted_by_status(
    gateway: httpx.AsyncClient, router: FakeRouter
) -> None:
    assert (await gateway.get(INBOUND, params=SMS)).status_code == 204
    assert (await gateway.get(INBOUND, params={"msisdn": "x"})).status_code == 400
    reply = await gateway.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    body = reply.text
    metric = "numproxy_gateway_webhooks_total"
    assert sample(body, metric, status="204", webhook="inbound-sms") == 1
    assert sample(body, metric, status="400", webhook="inbound-sms") == 1
    count = "numproxy_gateway_webhook_duration_seconds_count"
    assert sample(body, count, webhook="inbound-sms") == 2
