"""End to end, real processes: a group of three, system texts, the end command, bad input and
the CLI's session commands. The phones are the simulator: what they received is its outbox."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from numproxy.client import InvalidArgumentError, NotFoundError
from numproxy.v1 import session_pb2
from tests.support.router_sessions import configure_pool
from tests.support.stack import PROXY_NUMBERS, LocalStack, digits, free_stack_config, local_stack

pytestmark = pytest.mark.e2e

ALICE, BOB, CAROL = "+15551230001", "+15551230002", "+15551230003"
REAL = {digits(n) for n in (ALICE, BOB, CAROL)}
NOTICE = "This conversation has ended."
NUMPROXY = str(Path(sys.executable).parent / "numproxy")


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    """The stack on SQLite, then on PostgreSQL."""
    config = free_stack_config(database_url)
    async with local_stack(config) as running:
        await configure_pool(
            config.database_url, end_command="#end", close_notice=NOTICE, prefix_display_name=True
        )
        yield running


def sms_to(phone: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda sms: digits(sms["to"]) == digits(phone) and sms["text"] == text


async def received(stack: LocalStack, phone: str, text: str) -> str:
    """Wait until ``phone`` received ``text``; the number it came from."""
    sms = await stack.wait_outbox(sms_to(phone, text))
    return digits(sms["from"])


async def test_a_group_of_three_talks_through_proxy_numbers_and_ends(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB, CAROL, display_names=("Ann", "", ""))
    proxy = {p.number: digits(p.proxy_number) for p in session.participants}
    assert set(proxy.values()) == {digits(n) for n in PROXY_NUMBERS}

    await stack.text(ALICE, proxy[ALICE], "Dinner at eight?")
    assert await received(stack, BOB, "Ann: Dinner at eight?") == proxy[BOB]
    assert await received(stack, CAROL, "Ann: Dinner at eight?") == proxy[CAROL]
    await stack.text(CAROL, proxy[CAROL], "Works for me")
    assert await received(stack, ALICE, "Works for me") == proxy[ALICE]
    assert await received(stack, BOB, "Works for me") == proxy[BOB]

    system = await stack.client.send_message(session.name, BOB, "Table booked for 3")
    assert system.direction == session_pb2.DIRECTION_SYSTEM
    assert await received(stack, BOB, "Table booked for 3") == proxy[BOB]

    await stack.text(BOB, proxy[BOB], "  #END ")
    for phone in (ALICE, BOB, CAROL):
        assert await received(stack, phone, NOTICE) == proxy[phone]
    ended = await stack.client.get_session(session.name)
    assert ended.status == session_pb2.SESSION_STATUS_CLOSED
    assert ended.closed_reason == session_pb2.CLOSED_REASON_PARTICIPANT_ENDED

    outbox = await stack.outbox()
    assert not any("#END" in sms["text"] for sms in outbox)  # the command is never forwarded
    for sms in outbox:
        assert digits(sms["from"]) in {digits(n) for n in PROXY_NUMBERS}
        assert not any(number in sms["text"] for number in REAL)
    history = [i async for i in stack.client.iter_interactions(session.name)]
    assert [
        (i.direction, i.recipient_number) for i in history if i.text == "Table booked for 3"
    ] == [(session_pb2.DIRECTION_SYSTEM, BOB)]


async def cli(stack: LocalStack, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        NUMPROXY,
        *args,
        "--router",
        stack.config.router_address,
        "--tls-dir",
        str(stack.config.tls_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_bad_input_and_the_cli(stack: LocalStack) -> None:
    session = await stack.client.create_session(ALICE, BOB)
    with pytest.raises(NotFoundError) as unknown:
        await stack.client.send_message(session.name, CAROL, "hi")
    assert unknown.value.reason == "PARTICIPANT_NOT_FOUND"
    with pytest.raises(InvalidArgumentError) as empty:
        await stack.client.send_message(session.name, BOB, "")
    assert empty.value.reason == "INVALID_TEXT"
    with pytest.raises(InvalidArgumentError) as too_many:
        await stack.client.create_session(*(f"+1555123{n:04d}" for n in range(11)))
    assert too_many.value.reason == "TOO_MANY_PARTICIPANTS"

    code, out, err = await cli(
        stack, "session", "create", "15551230004", "+15551230005", "+15551230006",
        "--name", "+15551230006=Cy", "--metadata", "team=blue", "--close-notice", "bye",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert [p["number"] for p in created["participants"]] == [
        "+15551230004",
        "+15551230005",
        "+15551230006",
    ]
    assert created["participants"][2]["display_name"] == "Cy"
    assert created["close_notice"] == "bye"

    code, out, err = await cli(
        stack, "session", "send", created["id"], "--to", "15551230005", "hello"
    )
    assert code == 0, err
    assert "system" in out and "-> +15551230005: hello" in out
    to = next(p["proxy_number"] for p in created["participants"] if p["number"] == "+15551230005")
    assert await received(stack, "+15551230005", "hello") == digits(to)

    code, out, _ = await cli(stack, "session", "list", "--metadata", "team=blue", "--json")
    assert [s["id"] for s in json.loads(out)] == [created["id"]]
    code, out, _ = await cli(stack, "session", "remove", created["id"], "+15551230006", "--json")
    assert code == 0
    assert len(json.loads(out)["participants"]) == 2
    code, out, _ = await cli(stack, "session", "add", created["id"], "+15551230007", "--json")
    assert code == 0
    assert json.loads(out)["participants"][-1]["number"] == "+15551230007"

    code, _, err = await cli(stack, "session", "send", created["id"], "--to", "+15551239999", "x")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "PARTICIPANT_NOT_FOUND" in err
