"""End to end: each service's metrics, scraped over HTTP after real traffic through the four
real processes, moved as that traffic implies."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from numproxy.client import PoolExhaustedError
from tests.support.postgres import free_port
from tests.support.scrape import (
    Samples,
    exported_names,
    scrape,
    total,
    value,
    wait_scrape,
)
from tests.support.stack import LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

CHART_FILES = Path(__file__).parents[2] / "deploy" / "helm" / "numproxy" / "files"
METRIC = re.compile(r"\bnumproxy_[a-z0-9_]+")

ALICE = "+15551230001"
BOB = "+15551230002"
STRANGER = "+15551239999"


@dataclass
class Scraped:
    stack: LocalStack
    router: str
    sender: str
    gateway: str


@pytest.fixture
async def scraped(tmp_path: Path) -> AsyncIterator[Scraped]:
    router_port, sender_port = free_port(), free_port()
    config = free_stack_config(
        f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}",
        NUMPROXY_ROUTER_METRICS_PORT=str(router_port),
        NUMPROXY_ROUTER_METRICS_INTERVAL="0.2",
        NUMPROXY_SENDER_METRICS_PORT=str(sender_port),
    )
    async with local_stack(config) as stack:
        yield Scraped(
            stack,
            router=f"http://127.0.0.1:{router_port}/metrics",
            sender=f"http://127.0.0.1:{sender_port}/metrics",
            gateway=f"{config.gateway_url}/metrics",
        )


async def test_counters_and_gauges_follow_the_traffic(scraped: Scraped) -> None:
    stack = scraped.stack
    session = await stack.client.create_session(ALICE, BOB)
    alice, _ = session.participants
    await stack.text(ALICE, alice.proxy_number, "one")
    await stack.text(ALICE, alice.proxy_number, "two")
    await stack.text(STRANGER, alice.proxy_number, "who is this?")
    await stack.wait_outbox(lambda sms: digits(sms["to"]) == digits(BOB) and sms["text"] == "two")
    async with httpx.AsyncClient() as http:
        forged = await http.post(
            f"{stack.config.gateway_url}/webhooks/inbound-sms",
            data={"msisdn": digits(ALICE), "to": digits(alice.proxy_number), "text": "x"},
        )
    assert forged.status_code == 401

    def router_settled(s: Samples) -> bool:
        return (
            value(s, "numproxy_router_delivery_receipts_total", status="delivered", matched="true")
            >= 2
            and value(s, "numproxy_router_sessions", pool="default", status="IN_PROGRESS") == 1
        )

    router = await wait_scrape(scraped.router, router_settled)
    inbound = "numproxy_router_inbound_messages_total"
    assert value(router, inbound, outcome="FORWARDED") == 2
    assert value(router, inbound, outcome="DROPPED") == 1
    assert value(router, "numproxy_router_sends_total", outcome="sent", status="OK") == 2
    assert value(router, "numproxy_router_events_total", type="SESSION_CREATED") == 1
    assert value(router, "numproxy_router_events_total", type="OUTBOUND_DELIVERED") == 2
    assert value(router, "numproxy_router_inbound_batch_size_count") >= 1
    assert value(router, "numproxy_router_inbound_commit_seconds_count") >= 1
    # Three numbers in the pool; Alice and Bob hold one each: two left to either.
    assert value(router, "numproxy_router_pool_numbers", pool="default", state="ACTIVE") == 3
    assert value(router, "numproxy_router_pool_active_participants", pool="default") == 2
    assert value(router, "numproxy_router_pool_headroom", pool="default") == 2
    assert value(router, "numproxy_router_outbox_oldest_due_age_seconds") == 0
    assert value(router, "numproxy_router_database_errors_total", where="api") == 0

    sender = await scrape(scraped.sender)
    calls = "numproxy_sender_provider_calls_total"
    assert value(sender, calls, http_status="200", provider_status="0") == 2
    assert value(sender, "numproxy_sender_sends_total", result="sent") == 2
    assert value(sender, "numproxy_sender_provider_call_seconds_count") == 2
    assert value(sender, "numproxy_sender_rate_limit_wait_seconds_count") == 2
    assert value(sender, "numproxy_sender_idempotent_replays_total") == 0

    gateway = await scrape(scraped.gateway)
    outcomes = "numproxy_gateway_webhook_outcomes_total"
    assert value(gateway, outcomes, webhook="inbound-sms", outcome="FORWARDED") == 2
    assert value(gateway, outcomes, webhook="inbound-sms", outcome="DROPPED") == 1
    assert value(gateway, outcomes, webhook="delivery-receipt", outcome="matched") >= 2
    assert (
        value(
            gateway,
            "numproxy_gateway_signature_failures_total",
            webhook="inbound-sms",
            reason="SIGNATURE_REQUIRED",
        )
        == 1
    )
    assert total(gateway, "numproxy_gateway_body_rejects_total") == 0


async def test_a_closed_session_and_an_exhausted_pool_are_counted(scraped: Scraped) -> None:
    client = scraped.stack.client
    sessions = [await client.create_session(ALICE, f"+1555123100{i}") for i in range(3)]
    with pytest.raises(PoolExhaustedError):
        await client.create_session(ALICE, "+15551231009")
    await client.close_session(sessions[0].name)

    router = await wait_scrape(
        scraped.router,
        lambda s: value(s, "numproxy_router_sessions", pool="default", status="OPEN") == 2,
    )
    assert value(router, "numproxy_router_pool_exhausted_total", pool="default") == 1
    assert value(router, "numproxy_router_sessions_closed_total", reason="API") == 1
    # Alice holds two of the three numbers now.
    assert value(router, "numproxy_router_pool_headroom", pool="default") == 1


async def test_dashboard_and_alerts_name_only_metrics_the_services_export(
    scraped: Scraped,
) -> None:
    stack = scraped.stack
    session = await stack.client.create_session(ALICE, BOB)
    await stack.text(ALICE, session.participants[0].proxy_number, "hello")
    await wait_scrape(  # the gauges' first round is in
        scraped.router,
        lambda s: (
            value(s, "numproxy_router_outbox_queued") >= 0
            and bool(total(s, "numproxy_router_pool_numbers"))
        ),
    )
    exported: set[str] = set()
    for url in (scraped.router, scraped.sender, scraped.gateway):
        exported |= await exported_names(url)

    dashboard = json.loads((CHART_FILES / "grafana-dashboard.json").read_text())
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    assert len(queries) >= 20
    rules = yaml.safe_load((CHART_FILES / "alerts.yaml").read_text())
    queries += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for query in queries:
        named = set(METRIC.findall(query))
        assert named, f"no numproxy metric in {query!r}"
        assert named <= exported, f"{query!r} names {sorted(named - exported)}, not exported"
