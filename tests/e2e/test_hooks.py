"""End to end: hooks with the four real services as processes, an app's HookService served by
the test (scripted) and by the docs' example app (docs/examples/hook_app.py, as a process).

One stack for the module: pool "default" has no hooks, "hooked" calls the scripted hooks,
"directory" calls the example app.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from numproxy.v1 import hook_pb2, session_pb2
from tests.support.hook_server import ScriptedHooks, hook_server
from tests.support.postgres import free_port
from tests.support.stack import (
    LocalStack,
    digits,
    free_stack_config,
    local_stack,
    webhook_signer,
)
from tests.support.tls import server_tls, shared_ca_dir

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB, CAROL = "+15551250001", "+15551250002", "+15551250003"
STRANGER, CALLER = "+15551259998", "+15551259999"
HOOKED = ("+12025550201", "+12025550202", "+12025550203")
DIRECTORY = ("+12025550301", "+12025550302")


class Rig:
    def __init__(self, stack: LocalStack, hooks: ScriptedHooks, address: str, db: Path) -> None:
        self.stack = stack
        self.hooks = hooks
        self.address = address
        self.db = db

    def hook_failures(self) -> list[str]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT reason FROM event WHERE type = 'HOOK_FAILED' ORDER BY seq")
            return [row[0] for row in rows]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hooks-e2e")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(workdir: Path) -> AsyncIterator[Rig]:
    db = workdir / "e2e.db"
    hooks = ScriptedHooks(delay=4.0)
    async with (
        hook_server(hooks, tls=server_tls("app")) as address,
        local_stack(free_stack_config(f"sqlite+aiosqlite:///{db}")) as stack,
    ):
        await stack.client.create_pool(
            "hooked",
            hook_address=address,
            hook_deadline=0.5,
            resolve_out_of_session=True,
            intercept_messages=True,
        )
        await stack.client.add_numbers("hooked", HOOKED)
        yield Rig(stack, hooks, address, db)


@pytest.fixture(scope="module")
def example_app() -> Iterator[str]:
    port = free_port()
    app = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "docs/examples/hook_app.py"),
            "--tls-dir",
            str(shared_ca_dir()),
            str(port),
            f"bob={BOB}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert "listening" in app.stdout.readline(), "the example app did not start"
        yield f"127.0.0.1:{port}"
    finally:
        app.terminate()
        app.wait(timeout=10)


def sms_to(phone: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda sms: digits(sms["to"]) == digits(phone) and sms["text"] == text


async def texts_to(stack: LocalStack, phone: str, via: str = "") -> list[str]:
    """What ``phone`` received (from proxy number ``via`` only, if given), in order."""
    return [
        sms["text"]
        for sms in await stack.outbox()
        if digits(sms["to"]) == digits(phone) and (not via or digits(sms["from"]) == digits(via))
    ]


async def test_the_example_app_is_a_directory_number(rig: Rig, example_app: str) -> None:
    stack = rig.stack
    await stack.client.create_pool(
        "directory",
        hook_address=example_app,
        resolve_out_of_session=True,
        intercept_messages=True,
    )
    await stack.client.add_numbers("directory", DIRECTORY)

    await stack.text(CALLER, DIRECTORY[0], "hello?")
    await stack.wait_outbox(sms_to(CALLER, "Who do you want to reach? Text one of: bob"))
    await stack.text(CALLER, DIRECTORY[0], "Bob")
    to_caller = await stack.wait_outbox(sms_to(CALLER, "You're connected: text this number."))
    to_bob = await stack.wait_outbox(sms_to(BOB, "Someone asked for you."))

    await stack.text(CALLER, "+" + digits(to_caller["from"]), "call me on +1 555 010 0123")
    forwarded = await stack.wait_outbox(sms_to(BOB, "call me on [number removed]"))
    assert forwarded["from"] == to_bob["from"]
    await stack.text(BOB, "+" + digits(to_bob["from"]), "will do")
    answer = await stack.wait_outbox(sms_to(CALLER, "will do"))
    assert answer["from"] == to_caller["from"]
    real = {digits(CALLER), digits(BOB)}
    assert not any(digits(sms["from"]) in real for sms in await stack.outbox())


async def test_out_of_session_drop_reply_and_create_session(rig: Rig) -> None:
    stack, hooks = rig.stack, rig.hooks

    def resolve(r: hook_pb2.ResolveOutOfSessionRequest) -> hook_pb2.ResolveOutOfSessionResponse:
        if r.text == "menu":
            return hook_pb2.ResolveOutOfSessionResponse(reply=hook_pb2.ReplyAction(text="1: Carol"))
        if r.text == "1":
            people = [
                session_pb2.ParticipantSpec(number=r.sender_number, greeting="Say hi to Carol"),
                session_pb2.ParticipantSpec(number=CAROL, greeting="A customer"),
            ]
            action = hook_pb2.CreateSessionAction(participants=people)
            return hook_pb2.ResolveOutOfSessionResponse(create_session=action)
        return hook_pb2.ResolveOutOfSessionResponse(drop=hook_pb2.DropAction())

    hooks.resolve = resolve
    dropped = await stack.text(STRANGER, HOOKED[0], "spam")
    await stack.text(STRANGER, HOOKED[0], "menu")
    await stack.wait_outbox(sms_to(STRANGER, "1: Carol"))
    assert dropped["status"] == 204
    assert await texts_to(stack, STRANGER) == ["1: Carol"]  # nothing for the dropped text

    await stack.text(STRANGER, HOOKED[0], "1")
    greeting = await stack.wait_outbox(sms_to(STRANGER, "Say hi to Carol"))
    to_carol = await stack.wait_outbox(sms_to(CAROL, "A customer"))
    await stack.text(STRANGER, "+" + digits(greeting["from"]), "hi Carol")
    assert (await stack.wait_outbox(sms_to(CAROL, "hi Carol")))["from"] == to_carol["from"]
    await stack.text(CAROL, "+" + digits(to_carol["from"]), "hi!")
    assert (await stack.wait_outbox(sms_to(STRANGER, "hi!")))["from"] == greeting["from"]


async def test_in_session_allow_block_and_rewrite(rig: Rig) -> None:
    stack = rig.stack
    session = await stack.client.create_session(ALICE, BOB, pool="hooked")
    alice, bob = session.participants
    answers = {
        "hello": hook_pb2.InterceptMessageResponse(allow=hook_pb2.AllowAction()),
        "pay me outside": hook_pb2.InterceptMessageResponse(
            block=hook_pb2.BlockAction(reply_text="Payments stay on the platform.")
        ),
        "my email is a@b.c": hook_pb2.InterceptMessageResponse(
            rewrite=hook_pb2.RewriteAction(text="my email is [removed]")
        ),
    }
    rig.hooks.intercept = lambda r: answers[r.text]

    for text in answers:
        await stack.text(ALICE, alice.proxy_number, text)
    await stack.wait_outbox(sms_to(BOB, "my email is [removed]"))
    reply = await stack.wait_outbox(sms_to(ALICE, "Payments stay on the platform."))

    assert digits(reply["from"]) == digits(alice.proxy_number)
    assert await texts_to(stack, BOB, bob.proxy_number) == ["hello", "my email is [removed]"]
    history = [i async for i in stack.client.iter_interactions(session.name)]
    inbound = [i.text for i in history if i.direction == session_pb2.DIRECTION_INBOUND]
    assert inbound == list(answers)


async def test_failure_modes_hook_down_and_past_its_deadline(rig: Rig) -> None:
    stack, client = rig.stack, rig.stack.client
    session = await client.create_session(ALICE, CAROL, pool="hooked")
    alice, carol = session.participants
    rig.hooks.intercept = lambda r: hook_pb2.InterceptMessageResponse(allow=hook_pb2.AllowAction())
    down = f"127.0.0.1:{free_port()}"
    before = len(rig.hook_failures())

    await stack.text(ALICE, alice.proxy_number, "hang")  # FAIL_OPEN, past the deadline
    await client.update_pool("hooked", hook_address=down)
    await stack.text(ALICE, alice.proxy_number, "open while down")
    await client.update_pool("hooked", hook_failure_mode="fail_closed")
    await stack.text(ALICE, alice.proxy_number, "closed while down")
    await client.update_pool("hooked", hook_address=rig.address)
    await stack.text(ALICE, alice.proxy_number, "hang")  # FAIL_CLOSED, past the deadline
    await client.update_pool("hooked", hook_failure_mode="fail_open")
    await stack.text(ALICE, alice.proxy_number, "barrier")
    await stack.wait_outbox(sms_to(CAROL, "barrier"))

    assert await texts_to(stack, CAROL, carol.proxy_number) == [
        "hang",
        "open while down",
        "barrier",
    ]
    assert rig.hook_failures()[before:] == [
        "INTERCEPT timeout: FAIL_OPEN",
        "INTERCEPT unavailable: FAIL_OPEN",
        "INTERCEPT unavailable: FAIL_CLOSED",
        "INTERCEPT timeout: FAIL_CLOSED",
    ]
    history = [i async for i in client.iter_interactions(session.name)]
    inbound = [i.text for i in history if i.direction == session_pb2.DIRECTION_INBOUND]
    assert inbound == ["hang", "open while down", "closed while down", "hang", "barrier"]


async def test_other_pools_are_unaffected_while_a_hook_hangs(rig: Rig) -> None:
    stack, client = rig.stack, rig.stack.client
    await client.update_pool("hooked", hook_deadline=2.0)
    hooked = await client.create_session(BOB, CAROL, pool="hooked")
    plain = await client.create_session(BOB, CAROL)  # pool "default": no hooks
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        hanging = asyncio.create_task(stack.text(BOB, hooked.participants[0].proxy_number, "hang"))
        await asyncio.sleep(0.2)
        await stack.text(BOB, plain.participants[0].proxy_number, "not waiting")
        await stack.wait_outbox(sms_to(CAROL, "not waiting"))
        other_pool = loop.time() - started
        await hanging
        hooked_pool = loop.time() - started
    finally:
        await client.update_pool("hooked", hook_deadline=0.5)

    assert other_pool < 1.5, f"a text of another pool took {other_pool:.2f}s"
    assert hooked_pool >= 2.0


async def test_a_retried_webhook_gets_the_same_outcome_without_a_second_call(rig: Rig) -> None:
    stack, hooks = rig.stack, rig.hooks
    hooks.delays["slow"] = 0.3
    hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        reply=hook_pb2.ReplyAction(text=f"answer {hooks.calls(r.text)}")
    )
    webhook = {
        "msisdn": digits(CALLER),
        "to": digits(HOOKED[1]),
        "messageId": "0B0000000000HOOK",
        "text": "slow",
        "type": "text",
        "api-key": stack.config.api_key,
    }
    signer = webhook_signer(stack.config)
    async with httpx.AsyncClient(base_url=stack.config.gateway_url, timeout=10) as gateway:

        async def deliver(after: float) -> int:
            await asyncio.sleep(after)
            # Each delivery signed anew, as Vonage signs its retries.
            params = signer.sign_params(webhook, time.time())
            return (await gateway.get("/webhooks/inbound-sms", params=params)).status_code

        # A retry while the hook is deciding, and one after the outcome committed.
        assert await asyncio.gather(deliver(0), deliver(0.1)) == [204, 204]
        assert await deliver(0) == 204

    await stack.wait_outbox(sms_to(CALLER, "answer 1"))
    assert hooks.calls("slow") == 1
    assert [t for t in await texts_to(stack, CALLER) if t.startswith("answer")] == ["answer 1"]
