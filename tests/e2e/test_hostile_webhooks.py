"""Hostile webhooks against the real services as processes.

Hypothesis generates webhooks for the three endpoints (inbound SMS in its three transports,
Messages-API JSON, delivery receipts): signed with a valid signature over the hostile fields
on a gateway that checks signatures (PostgreSQL behind the router), and unsigned on one that
accepts unsigned webhooks (SQLite). Whatever arrives: no 5xx, every refusal a 4xx with a
reason, the router is the same process still serving, and a valid message sent afterwards
still reaches the other phone. Then the poison webhooks the issue named, one by one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from numproxy.cli.stack import is_ready
from numproxy.common.errors import error_info
from numproxy.common.grpc_client import open_channel
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.simulator.webhooks import Signer
from tests.conftest import fresh_postgres_database
from tests.support.hostile import (
    FRESH_ID,
    INBOUND,
    MESSAGE,
    RECEIPT,
    Webhook,
    hostile,
    integers,
    message_webhooks,
    numbers,
    send,
    sms_api_webhooks,
    texts,
    times,
    values,
)
from tests.support.postgres import PostgresServer
from tests.support.stack import LocalStack, digits, free_stack_config, local_stack, webhook_signer
from tests.support.tls import client_tls

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# The conversation the hostile webhooks write into, and the one checked afterwards.
FUZZ_A, FUZZ_B = "+15551260001", "+15551260002"
ALICE, BOB = "+15551270001", "+15551270002"
PART_NUMBERS = st.one_of(st.integers(1, 4).map(str), integers)
# Each field's hostile values: of its own kind, and of any kind.
SMS_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "msisdn": numbers,
    "to": numbers,
    "messageId": values,
    "text": texts,
    "type": st.sampled_from(["text", "unicode", "binary"]) | values,
    "keyword": texts,
    "api-key": values,
    "message-timestamp": times,
    "concat": st.just("true") | values,
    "concat-ref": st.sampled_from(["r1", "r2"]) | values,
    "concat-total": PART_NUMBERS,
    "concat-part": PART_NUMBERS,
    "data": values,
    "udh": values,
}
DLR_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "msisdn": numbers,
    "to": numbers | values,
    "network-code": values,
    "messageId": values,
    "price": values,
    "status": st.sampled_from(["delivered", "failed", "accepted"]) | values,
    "scts": values,
    "err-code": integers,
    "api-key": values,
    "client-ref": st.uuids().map(str) | values,
    "message-timestamp": times,
}


@dataclass
class Rig:
    stack: LocalStack
    signer: Signer | None
    fuzz_proxy: str  # the proxy number FUZZ_A texts
    alice_proxy: str
    router_pid: int

    def sms(self) -> dict[str, str]:
        return {
            "msisdn": digits(FUZZ_A),
            "to": digits(self.fuzz_proxy),
            "messageId": FRESH_ID,
            "text": "hello",
            "type": "text",
            "keyword": "HELLO",
            "api-key": self.stack.config.api_key,
            "message-timestamp": "2026-01-01 00:00:00",
        }

    def receipt(self) -> dict[str, str]:
        return {
            "msisdn": digits(FUZZ_B),
            "to": digits(self.fuzz_proxy),
            "network-code": "23820",
            "messageId": FRESH_ID,
            "price": "0.01820000",
            "status": "delivered",
            "scts": "2601010000",
            "err-code": "0",
            "api-key": self.stack.config.api_key,
            "message-timestamp": "2026-01-01 00:00:00",
        }

    def message(self) -> dict[str, Any]:
        return {
            "to": digits(self.fuzz_proxy),
            "from": digits(FUZZ_A),
            "channel": "sms",
            "message_uuid": FRESH_ID,
            "timestamp": "2026-01-01T00:00:00.000Z",
            "message_type": "text",
            "text": "hello",
            "usage": {"price": "0.0057", "currency": "EUR"},
            "sms": {"num_messages": "1", "count_total": "1"},
        }


async def _rig(stack: LocalStack, signer: Signer | None) -> Rig:
    fuzz = await stack.client.create_session(FUZZ_A, FUZZ_B)
    check = await stack.client.create_session(ALICE, BOB)
    router = stack.processes["router"].process
    assert router is not None
    return Rig(
        stack,
        signer,
        fuzz.participants[0].proxy_number,
        check.participants[0].proxy_number,
        router.pid,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def signed(postgres_server: PostgresServer) -> AsyncIterator[Rig]:
    config = free_stack_config(fresh_postgres_database(postgres_server))
    async with local_stack(config) as stack:
        yield await _rig(stack, webhook_signer(config))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unsigned(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    db: Path = tmp_path_factory.mktemp("hostile") / "e2e.db"
    config = free_stack_config(f"sqlite+aiosqlite:///{db}", NUMPROXY_GATEWAY_ALLOW_UNSIGNED="true")
    async with local_stack(dataclasses.replace(config, signature_secret="")) as stack:
        yield await _rig(stack, None)


@pytest.fixture(params=["signed", "unsigned"])
def rig(request: pytest.FixtureRequest) -> Rig:
    found: Rig = request.getfixturevalue(request.param)
    return found


async def still_serving(rig: Rig) -> None:
    """The router is the process it was, still serving, and a valid text reaches the other
    phone."""
    router = rig.stack.processes["router"]
    assert router.running and router.process is not None
    assert router.process.pid == rig.router_pid
    assert rig.stack.processes["gateway"].running
    assert await is_ready("router", rig.stack.config)
    text = f"still flowing {uuid.uuid4().hex[:8]}"
    sent = await rig.stack.text(ALICE, rig.alice_proxy, text)
    assert sent["status"] in (200, 204)
    await rig.stack.wait_outbox(
        lambda sms: digits(sms["to"]) == digits(BOB) and sms["text"] == text
    )


async def deliver_all(rig: Rig, webhooks: st.SearchStrategy[Webhook]) -> None:
    """Every webhook hypothesis draws is answered 2xx or 4xx with a reason (in a thread: the
    services are other processes, and this loop stays free for the stack's clients). Some are
    accepted and some refused as malformed (400), so the hostile fields got past the signature
    check and were looked at."""
    answers: Counter[int] = Counter()

    def run() -> None:
        with httpx.Client(base_url=rig.stack.config.gateway_url, timeout=20) as http:

            @given(webhooks)
            def deliver(hook: Webhook) -> None:
                response = send(http, hook, rig.signer)
                answers[response.status_code] += 1
                assert response.status_code < 500, (response.status_code, response.text, hook)
                if response.status_code >= 300:
                    assert 400 <= response.status_code < 500, (response.status_code, hook)
                    assert response.json()["error"]["code"], response.text

            deliver()

    await asyncio.to_thread(run)
    assert answers[400] > 0, answers
    assert sum(n for status, n in answers.items() if 200 <= status < 300) > 0, answers


async def test_hostile_inbound_sms(rig: Rig) -> None:
    await deliver_all(rig, sms_api_webhooks(INBOUND, hostile(rig.sms(), SMS_FIELDS)))
    await still_serving(rig)


async def test_hostile_messages_api_json(rig: Rig) -> None:
    await deliver_all(rig, message_webhooks(rig.message()))
    await still_serving(rig)


async def test_hostile_delivery_receipts(rig: Rig) -> None:
    await deliver_all(rig, sms_api_webhooks(RECEIPT, hostile(rig.receipt(), DLR_FIELDS)))
    await still_serving(rig)


# The poison webhooks, each alone, on the signed gateway with PostgreSQL behind the router.
POISON = [
    pytest.param(
        {"concat": "true", "concat-ref": "p1", "concat-total": "2147483647", "concat-part": "1"},
        "INVALID_PARAMETER",
        id="concat-total-2147483647",
    ),
    pytest.param(
        {"concat": "true", "concat-ref": "p2", "concat-total": "3000000", "concat-part": "1"},
        "INVALID_PARAMETER",
        id="concat-total-3000000",
    ),
    pytest.param({"text": "nul \x00 inside"}, "INVALID_TEXT", id="nul-in-text"),
    pytest.param(
        {"message-timestamp": "0001-01-01T00:00:00+14:00"},
        "INVALID_PARAMETER",
        id="timestamp-year-1-offset",
    ),
    pytest.param({"text": "x" * 3201}, "INVALID_TEXT", id="text-too-long"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("transport", ["get", "form", "json"])
@pytest.mark.parametrize(("change", "code"), POISON)
async def test_poison_webhook_is_refused_and_the_router_stays_up(
    signed: Rig, transport: str, change: dict[str, str], code: str
) -> None:
    hook = Webhook(INBOUND, transport, params={**signed.sms(), **change})  # type: ignore[arg-type]
    with httpx.Client(base_url=signed.stack.config.gateway_url, timeout=20) as http:
        started = time.monotonic()
        response = await asyncio.to_thread(send, http, hook, signed.signer)
        elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert elapsed < 2.0  # refused at once: nothing is built from the numbers
    await still_serving(signed)


@pytest.mark.postgres
async def test_deeply_nested_messages_api_json_is_refused(signed: Rig) -> None:
    body = b'{"usage": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    with httpx.Client(base_url=signed.stack.config.gateway_url, timeout=20) as http:
        response = await asyncio.to_thread(
            send, http, Webhook(MESSAGE, "raw", body=body), signed.signer
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "JSON_TOO_DEEP"
    await still_serving(signed)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"concat_ref": "p3", "concat_total": 2147483647, "concat_part": 1}, "INVALID_CONCAT"),
        ({"text": "nul \x00 inside"}, "INVALID_TEXT"),
        ({"text": "x" * 5000}, "INVALID_TEXT"),
    ],
)
async def test_router_refuses_poison_from_a_gateway_that_did_not_check(
    signed: Rig, fields: dict[str, Any], reason: str
) -> None:
    request = inbound_pb2.ReceiveSmsRequest(
        message_id=uuid.uuid4().hex,
        from_number=FUZZ_A,
        to_number=signed.fuzz_proxy,
        text="hello",
        type=inbound_pb2.MESSAGE_TYPE_TEXT,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    # As the gateway would call it: its own certificate, whose only scope is inbound.
    channel = open_channel(signed.stack.config.router_address, client_tls("gateway"))
    try:
        stub = inbound_pb2_grpc.InboundServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ReceiveSms(request, timeout=10)
    finally:
        await channel.close(None)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info is not None and info.reason == reason
    await still_serving(signed)
