"""End to end: the four real services as processes, phones played by the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

ALICE = "+15551230001"
BOB = "+15551230002"
STRANGER = "+15551239999"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    config = free_stack_config(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    async with local_stack(config) as running:
        yield running


def sms_to(phone: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda sms: digits(sms["to"]) == digits(phone) and sms["text"] == text


async def test_both_ways_each_side_sees_only_its_proxy_number(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants
    assert {alice.number, bob.number} == {ALICE, BOB}

    first = await stack.text(ALICE, alice.proxy_number, "Is the bike still for sale?")
    assert first["status"] in (200, 204)
    to_bob = await stack.wait_outbox(sms_to(BOB, "Is the bike still for sale?"))
    assert digits(to_bob["from"]) == digits(bob.proxy_number)

    await stack.text(BOB, bob.proxy_number, "Yes, come by at six")
    to_alice = await stack.wait_outbox(sms_to(ALICE, "Yes, come by at six"))
    assert digits(to_alice["from"]) == digits(alice.proxy_number)

    real = {digits(ALICE), digits(BOB)}
    for sms in await stack.outbox():
        assert digits(sms["from"]) not in real, "a real number was used as sender"
        assert not any(number in sms["text"] for number in real)

    history = [i async for i in stack.client.iter_interactions(session.name)]
    assert [i.text for i in history if i.direction == 1] == [
        "Is the bike still for sale?",
        "Yes, come by at six",
    ]


async def test_stranger_and_closed_session_are_not_forwarded(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants

    stranger = await stack.text(STRANGER, alice.proxy_number, "hello from nowhere")
    assert stranger["status"] in (200, 204)  # acknowledged, so Vonage doesn't retry

    await stack.client.close_session(session.name)
    late = await stack.text(ALICE, alice.proxy_number, "after close")
    assert late["status"] in (200, 204)

    # A live session on other numbers is the barrier: once its SMS arrived, the earlier
    # (already committed and acknowledged) webhooks have had every chance to be forwarded.
    fresh = await stack.client.create_session(ALICE, "+15551230003")
    await stack.text(ALICE, fresh.participants[0].proxy_number, "barrier")
    await stack.wait_outbox(sms_to("+15551230003", "barrier"))
    texts = [sms["text"] for sms in await stack.outbox()]
    assert "hello from nowhere" not in texts
    assert "after close" not in texts
    assert digits(bob.number) not in {digits(sms["to"]) for sms in await stack.outbox()}


async def test_router_down_gets_503_and_the_retry_is_forwarded(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants

    await stack.stop_service("router")
    attempt = await stack.text(ALICE, alice.proxy_number, "sent while the router was down")
    assert attempt["status"] == 503

    await stack.start_service("router")
    to_bob = await stack.wait_outbox(sms_to(BOB, "sent while the router was down"), timeout=40)
    assert digits(to_bob["from"]) == digits(bob.proxy_number)
    copies = [s for s in await stack.outbox() if s["text"] == "sent while the router was down"]
    assert len(copies) == 1
