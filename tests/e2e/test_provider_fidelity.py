"""End to end with signed webhooks: every inbound format, multipart, keywords, receipts.

The simulator signs what it delivers (sha256 here) and the gateway requires signatures, as
on a Vonage account with signed webhooks enabled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from numproxy.v1 import session_pb2
from tests.support.stack import LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

ALICE = "+15551240001"
BOB = "+15551240002"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    config = free_stack_config(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    assert config.signature_secret and config.signature_method == "sha256"
    async with local_stack(config) as running:
        yield running


def sms_to(phone: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda sms: digits(sms["to"]) == digits(phone) and sms["text"] == text


@pytest.mark.parametrize("fmt", ["get", "form", "json", "messages"])
async def test_each_signed_inbound_format_is_forwarded(stack: LocalStack, fmt: str) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants
    text = f"hello in {fmt} format"
    reply = await stack.text(ALICE, alice.proxy_number, text, format=fmt)
    assert reply["status"] in (200, 204)
    sms = await stack.wait_outbox(sms_to(BOB, text))
    assert digits(sms["from"]) == digits(bob.proxy_number)


async def test_unsigned_webhook_is_rejected_and_not_routed(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    params = {
        "msisdn": digits(ALICE),
        "to": digits(session.participants[0].proxy_number),
        "messageId": "0B00000042AC53BD",
        "text": "forged",
        "type": "text",
    }
    async with httpx.AsyncClient(base_url=stack.config.gateway_url) as gateway:
        reply = await gateway.get("/webhooks/inbound-sms", params=params)
    assert reply.status_code == 401
    assert "error" in reply.json()
    history = [i async for i in stack.client.iter_interactions(session.name)]
    assert history == []


async def test_long_text_split_shuffled_and_duplicated_arrives_once_whole(
    stack: LocalStack,
) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice = session.participants[0]
    text = " ".join(f"word{i:03d}" for i in range(60))  # 479 GSM-7 chars: 4 parts
    reply = await stack.text(
        ALICE, alice.proxy_number, text, split=True, shuffle=True, duplicate=True
    )
    assert len(reply["messageIds"]) == 4
    await stack.wait_outbox(sms_to(BOB, text))
    # The barrier: a later message arrives after every part was processed.
    await stack.text(ALICE, alice.proxy_number, "after the long one")
    await stack.wait_outbox(sms_to(BOB, "after the long one"))
    to_bob = [s["text"] for s in await stack.outbox() if digits(s["to"]) == digits(BOB)]
    assert to_bob.count(text) == 1
    assert not any(t != text and t in text for t in to_bob), "a fragment leaked through"


async def test_stop_start_help(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants

    await stack.text(ALICE, alice.proxy_number, "  stop ")
    confirmation = await stack.wait_outbox(
        lambda s: digits(s["to"]) == digits(ALICE) and "unsubscribed" in s["text"]
    )
    assert digits(confirmation["from"]) == digits(alice.proxy_number)
    closed = await stack.client.get_session(session.name)
    assert closed.status == session_pb2.SESSION_STATUS_CLOSED
    assert closed.closed_reason == session_pb2.CLOSED_REASON_OPT_OUT
    assert not any(s["text"].strip().lower() == "stop" for s in await stack.outbox())

    # While opted out, no new session may put Alice on that proxy number.
    again = await stack.client.create_session(ALICE, BOB)
    assert again.participants[0].proxy_number != alice.proxy_number
    await stack.client.close_session(again.name)

    await stack.text(ALICE, alice.proxy_number, "START")
    await stack.wait_outbox(
        lambda s: digits(s["to"]) == digits(ALICE) and "subscribed again" in s["text"]
    )
    await stack.text(ALICE, alice.proxy_number, "help")
    help_sms = await stack.wait_outbox(
        lambda s: digits(s["to"]) == digits(ALICE) and "relayed" in s["text"]
    )
    assert digits(help_sms["from"]) == digits(alice.proxy_number)
    assert digits(bob.number) not in help_sms["text"]


async def test_delivery_receipts_mark_the_outbound_delivered(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice = session.participants[0]
    await stack.text(ALICE, alice.proxy_number, "receipt please")
    await stack.wait_outbox(sms_to(BOB, "receipt please"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        history = [i async for i in stack.client.iter_interactions(session.name)]
        outbound = [i for i in history if i.direction == session_pb2.DIRECTION_OUTBOUND]
        if outbound and outbound[0].status == session_pb2.INTERACTION_STATUS_DELIVERED:
            break
        assert loop.time() < deadline, f"not delivered: {outbound}"
        await asyncio.sleep(0.1)
    assert len(outbound[0].provider_message_ids) == 1
