"""End to end, the four real services as processes and phones played by the simulator: the
automatic-reply budget, opt-outs enforced at send time, the session rate cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from numproxy.v1 import session_pb2
from tests.support.stack import LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

ALICE = "+15551240001"
BOB = "+15551240002"
CAROL = "+15551240003"
RATE_CAP = 6
HELP_REPLY = "Messages here are relayed. Reply STOP to unsubscribe."


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    config = free_stack_config(
        f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        NUMPROXY_ROUTER_HELP_REPLY=HELP_REPLY,
        NUMPROXY_ROUTER_SESSION_RATE_MAX_MESSAGES=str(RATE_CAP),
        NUMPROXY_ROUTER_SESSION_RATE_WINDOW="600",
        # Sends the simulator fails are retried soon, and the sender gives up on them fast.
        NUMPROXY_ROUTER_SEND_TIMEOUT="1",
        NUMPROXY_ROUTER_RETRY_INITIAL_BACKOFF="0.2",
        NUMPROXY_ROUTER_RETRY_MAX_BACKOFF="0.5",
    )
    async with local_stack(config) as running:
        yield running


async def inbox(stack: LocalStack, phone: str) -> list[dict[str, Any]]:
    """What the phone received, oldest first (the simulator's phone view)."""
    reply = await stack.sim.get("/_sim/phones/messages", params={"number": phone})
    reply.raise_for_status()
    messages: list[dict[str, Any]] = reply.json()["messages"]
    return messages


async def barrier(stack: LocalStack, text: str) -> None:
    """A message in a fresh session, waited for: the dispatcher has had every chance to send
    what was committed before it."""
    session = await stack.client.create_session("+15551240101", "+15551240102")
    first = session.participants[0]
    await stack.text(first.number, first.proxy_number, text)
    await stack.wait_outbox(lambda sms: sms["text"] == text)


async def simulator_fails_sends(stack: LocalStack, failing: bool) -> None:
    reply = await stack.sim.post("/_sim/config", json={"error_rate": 1.0 if failing else 0.0})
    reply.raise_for_status()


async def until(check: Any, timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
    return result


async def test_twenty_helps_get_one_answer(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice = session.participants[0]

    for _ in range(20):
        answer = await stack.text(ALICE, alice.proxy_number, "HELP")
        assert answer["status"] in (200, 204)
    await barrier(stack, "help barrier")

    answers = [m for m in await inbox(stack, ALICE) if m["text"] == HELP_REPLY]
    assert len(answers) == 1
    assert digits(answers[0]["from"]) == digits(alice.proxy_number)


async def test_an_opted_out_pair_gets_nothing_not_even_what_was_queued_before_the_stop(
    stack: LocalStack,
) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    alice, bob = session.participants
    await simulator_fails_sends(stack, True)

    await stack.text(BOB, bob.proxy_number, "queued before the stop")

    async def queued_and_tried() -> bool:
        rows = [i async for i in stack.client.iter_interactions(session.name)]
        return (
            any(
                i.text == "queued before the stop"
                and i.recipient_number == ALICE
                and i.status == session_pb2.INTERACTION_STATUS_QUEUED
                for i in rows
            )
            and (await stack.sim.get("/_sim/stats")).json()["http_500"] > 0
        )

    await until(queued_and_tried)
    await stack.text(ALICE, alice.proxy_number, "STOP")
    await simulator_fails_sends(stack, False)

    async def refused() -> session_pb2.Interaction | None:
        async for i in stack.client.iter_interactions(session.name):
            if (
                i.text == "queued before the stop"
                and i.status == session_pb2.INTERACTION_STATUS_FAILED
            ):
                return i
        return None

    failed = await until(refused)
    assert failed.failure_reason == "OPTED_OUT"
    # The STOP's own confirmation does reach the phone; what was queued before it never does.
    await until(lambda: _received(stack, ALICE, "unsubscribed"))
    await barrier(stack, "stop barrier")
    texts = [m["text"] for m in await inbox(stack, ALICE)]
    assert "queued before the stop" not in texts
    assert [t for t in texts if "unsubscribed" in t] != []
    events = await stack.client.list_events(session=session.name, types=["OUTBOUND_FAILED"])
    assert [(e.reason, e.participant_number) for e in events.events] == [("OPTED_OUT", ALICE)]

    # A new session never puts Alice back on the number she stopped.
    again = await stack.client.create_session(ALICE, CAROL)
    assert again.participants[0].proxy_number != alice.proxy_number


async def _received(stack: LocalStack, phone: str, fragment: str) -> bool:
    return any(fragment in m["text"] for m in await inbox(stack, phone))


async def test_two_auto_responders_looping_get_their_session_suspended(
    stack: LocalStack,
) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    proxies = {p.number: p.proxy_number for p in session.participants}

    async def auto_responder(phone: str) -> None:
        """Answers every text the phone receives, as an out-of-office reply would."""
        seen = 0
        while True:
            for message in (await inbox(stack, phone))[seen:]:
                seen += 1
                await stack.text(phone, proxies[phone], f"auto-reply to: {message['text'][:40]}")
            await asyncio.sleep(0.05)

    responders = [asyncio.create_task(auto_responder(phone)) for phone in (ALICE, BOB)]
    try:
        await stack.text(ALICE, proxies[ALICE], "hello")

        async def closed() -> session_pb2.Session | None:
            found = await stack.client.get_session(session.name)
            return found if found.status == session_pb2.SESSION_STATUS_CLOSED else None

        suspended = await until(closed, timeout=60)
    finally:
        for task in responders:
            task.cancel()
        await asyncio.gather(*responders, return_exceptions=True)

    assert suspended.closed_reason == session_pb2.CLOSED_REASON_RATE_LIMITED
    limited = await stack.client.list_events(session=session.name, types=["SESSION_RATE_LIMITED"])
    [event] = limited.events
    assert event.reason == f"more than {RATE_CAP} messages in 600 s"
    history = [i async for i in stack.client.iter_interactions(session.name)]
    relayed = [i for i in history if i.direction == session_pb2.DIRECTION_INBOUND]
    assert len(relayed) == RATE_CAP + 1  # the one over the cap is recorded, not forwarded
