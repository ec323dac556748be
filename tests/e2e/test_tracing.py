"""End to end: one message, one trace across the three services (real processes exporting
over OTLP/HTTP to a receiver in the test process), and its delivery receipt linked to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.support.stack import LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

ALICE = "+15551230001"
BOB = "+15551230002"
WEBHOOK = "numproxy.gateway/webhook/inbound-sms"
RECEIPT = "numproxy.gateway/webhook/delivery-receipt"
# The message's path: gateway -> router (its own span, pipeline, send) -> sender -> provider.
PATH = {
    ("numproxy-gateway", WEBHOOK),
    ("numproxy-router", "numproxy.router/ReceiveSms"),
    ("numproxy-router", "numproxy.router/inbound-batch"),
    ("numproxy-router", "numproxy.router/stage/fan_out"),
    ("numproxy-router", "numproxy.router/send"),
    ("numproxy-sender", "numproxy.sender/SendSms"),
    ("numproxy-sender", "numproxy.sender/provider-call"),
}


@dataclass
class Traced:
    stack: LocalStack
    receiver: OtlpReceiver


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[Traced]:
    async with otlp_receiver() as receiver:
        config = free_stack_config(
            f"sqlite+aiosqlite:///{tmp_path / 'tracing.db'}",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        async with local_stack(config) as stack:
            yield Traced(stack, receiver)


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> set[tuple[str, str]]:
    return {(s.service, s.name) for s in spans if s.trace_id == trace_id}


async def test_one_message_is_one_trace_across_the_services(traced: Traced) -> None:
    stack = traced.stack
    session = await stack.client.create_session(ALICE, BOB)
    alice, _ = session.participants
    await stack.text(ALICE, alice.proxy_number, "traced")
    await stack.wait_outbox(lambda sms: digits(sms["to"]) == digits(BOB))

    def whole(spans: list[ReceivedSpan]) -> bool:
        webhooks = [s for s in spans if s.name == WEBHOOK]
        return len(webhooks) == 1 and in_trace(spans, webhooks[0].trace_id) >= PATH

    spans = await traced.receiver.wait_for(whole)
    (webhook,) = [s for s in spans if s.name == WEBHOOK]
    message_trace = webhook.trace_id
    assert webhook.parent_span_id == "", "the gateway starts the message's trace"
    # Every span of the message's path is in that one trace, each exactly once.
    for service, name in PATH:
        found = [s for s in spans if (s.service, s.name) == (service, name)]
        assert [s.trace_id for s in found] == [message_trace], (service, name)
    by_id = {s.span_id: s for s in spans if s.trace_id == message_trace}
    send = next(s for s in by_id.values() if s.name == "numproxy.sender/SendSms")
    assert by_id[send.parent_span_id].name == "numproxy.router/send"

    # The receipt is a trace of its own (started by its webhook), linked to the message's.
    def linked(spans: list[ReceivedSpan]) -> bool:
        receipts = {s.trace_id for s in spans if s.name == RECEIPT}
        return any(message_trace in s.links and s.trace_id in receipts for s in spans)

    spans = await traced.receiver.wait_for(linked)
    (link_holder,) = [s for s in spans if message_trace in s.links]
    assert link_holder.service == "numproxy-router"
    assert link_holder.trace_id != message_trace
