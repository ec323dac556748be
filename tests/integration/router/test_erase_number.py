"""EraseNumber and the participant rule over real gRPC (the router on port 0, SQLite and
PostgreSQL): after an erasure no row of any table holds the number, found by a query over every
text and JSON column the models declare (a table added later is checked too)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import JSON, String, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.cli.main import main as cli
from numproxy.client import InvalidArgumentError, NumproxyClient
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.router.store.models import Base, HookDecision
from numproxy.v1 import session_pb2
from tests.support.router_inbound import factory
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    US3,
    api_router,
    api_router_settings,
    router_channel,
)

ALICE_DIGITS = ALICE.lstrip("+")


@pytest.fixture
async def channel(database_url: str) -> AsyncIterator[grpc.aio.Channel]:
    async with router_channel(database_url) as opened:
        yield opened


@pytest.fixture
async def client(channel: grpc.aio.Channel) -> AsyncIterator[NumproxyClient]:
    client = NumproxyClient(channel=channel)
    await client.create_pool(
        "default", out_of_session_policy="reply", out_of_session_reply="No chat here"
    )
    await client.add_numbers("default", [US1, US2, US3])
    yield client


async def holding(engine: AsyncEngine, needle: str) -> dict[str, int]:
    """Rows per table.column whose text (JSON as text) contains ``needle``, over every
    string, text and JSON column of every table."""
    found: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text | JSON):
                    continue
                count = await conn.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(cast(column, Text).like(f"%{needle}%"))
                )
                if count:
                    found[f"{table.name}.{column.name}"] = int(count)
    return found


async def test_erase_number_leaves_no_row_holding_it(
    client: NumproxyClient, channel: grpc.aio.Channel, engine: AsyncEngine
) -> None:
    inbound = inbound_pb2_grpc.InboundServiceStub(channel)

    async def text(sender: str, to: str, body: str, **fields: object) -> None:
        await inbound.ReceiveSms(
            inbound_pb2.ReceiveSmsRequest(
                message_id=uuid.uuid4().hex,
                api_key="key1",
                from_number=sender,
                to_number=to,
                text=body,
                type=inbound_pb2.MESSAGE_TYPE_TEXT,
                **fields,  # type: ignore[arg-type]
            )
        )

    earlier = await client.create_session(ALICE, CAROL, metadata={"phone": ALICE_DIGITS})
    await client.close_session(earlier.name)
    session = await client.create_session(
        ALICE,
        BOB,
        display_names=("Ann", "Bo"),
        metadata={"order": "7", "contact": ALICE},
        close_notice=f"Ann ({ALICE}) left",
    )
    alice, bob = session.participants
    await text(ALICE, alice.proxy_number, f"call me on {ALICE}")
    await text(BOB, bob.proxy_number, "sure")
    await text(ALICE, alice.proxy_number, "HELP")
    stranger_proxy = next(n for n in (US1, US2, US3) if n != alice.proxy_number)
    await text(ALICE, stranger_proxy, "anyone?")  # out of session: a reply, a reply record
    await text(ALICE, stranger_proxy, "part one", concat_ref="7", concat_total=2, concat_part=1)
    async with factory(engine)() as db, db.begin():
        db.add(
            HookDecision(
                message_key="key1/abc",
                kind="RESOLVE",
                decision={"action": "CREATE_SESSION", "participants": [ALICE, BOB]},
                created_at=datetime.now(UTC),
            )
        )
    await text(ALICE, stranger_proxy, "STOP")
    before = await holding(engine, ALICE_DIGITS)
    assert {
        "participant.number",
        "interaction.sender_number",
        "interaction.recipient_number",
        "interaction.text",
        "message_part.sender_number",
        "opt_out.number",
        "reply_log.sender_number",
        "event.participant",
        "hook_decision.decision",
        "session.metadata",
        "session.close_notice",
    } <= set(before)

    erased = await client.erase_number(ALICE_DIGITS)  # without "+": normalized

    assert await holding(engine, ALICE_DIGITS) == {}
    assert erased.sessions_closed == 1
    assert erased.rows_erased == sum(erased.rows_by_table.values()) > 0
    assert {"participant", "interaction", "opt_out", "reply_log", "message_part"} <= set(
        erased.rows_by_table
    )
    assert erased.rows_by_table["hook_decision"] == 1
    closed = await client.get_session(session.name)
    assert closed.status == session_pb2.SESSION_STATUS_CLOSED
    assert closed.closed_reason == session_pb2.CLOSED_REASON_ERASED
    # Bob's own record is untouched (its copy sent to Alice is redacted).
    history = [i async for i in client.iter_interactions(session.name)]
    assert [(i.direction, i.text) for i in history if i.sender_number == BOB] == [
        (session_pb2.DIRECTION_INBOUND, "sure"),
        (session_pb2.DIRECTION_OUTBOUND, ""),
    ]
    [event] = (await client.list_events(types=["NUMBER_ERASED"])).events
    assert event.reason == f"+1***01: {erased.rows_erased} rows erased"


async def test_proxy_numbers_are_refused_as_participants_and_for_erasure(
    client: NumproxyClient,
) -> None:
    with pytest.raises(InvalidArgumentError) as created:
        await client.create_session(ALICE, US2)
    assert created.value.reason == "PROXY_NUMBER_AS_PARTICIPANT"
    assert created.value.metadata["participant_index"] == "1"

    session = await client.create_session(ALICE, BOB)
    with pytest.raises(InvalidArgumentError) as added:
        await client.add_participant(session.name, US3)
    assert added.value.reason == "PROXY_NUMBER_AS_PARTICIPANT"

    with pytest.raises(InvalidArgumentError) as erased:
        await client.erase_number(US1)
    assert erased.value.reason == "PROXY_NUMBER_NOT_ERASABLE"
    with pytest.raises(InvalidArgumentError) as bad:
        await client.erase_number("not a number")
    assert bad.value.reason == "INVALID_NUMBER"


async def test_pool_budget_and_retention_settings(client: NumproxyClient) -> None:
    created = await client.create_pool("limited", daily_send_budget=500, message_retention=7200)
    assert (created.daily_send_budget, created.message_retention.seconds) == (500, 7200)
    default = await client.get_pool("default")
    assert (default.daily_send_budget, default.message_retention.seconds) == (0, 30 * 86400)
    updated = await client.update_pool("limited", daily_send_budget=0)
    assert (updated.daily_send_budget, updated.message_retention.seconds) == (0, 7200)

    for settings, reason in (
        ({"daily_send_budget": -1}, "INVALID_SEND_BUDGET"),
        ({"message_retention": 60}, "INVALID_DURATION"),
        ({"reply_interval": 30}, "INVALID_DURATION"),
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            await client.update_pool("limited", **settings)  # type: ignore[arg-type]
        assert refused.value.reason == reason


async def test_erase_and_budget_settings_from_the_command_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI's calls carry no identity here: the router makes them as admin.
    async with api_router(api_router_settings(database_url), anonymous="admin") as address:
        port = int(address.rsplit(":", 1)[1])
        router = ["--router", f"127.0.0.1:{port}"]
        async with NumproxyClient(f"127.0.0.1:{port}") as client:
            await client.create_pool("default")
            await client.add_numbers("default", [US1, US2])
            session = await client.create_session(ALICE, BOB)
        budget = ["--daily-send-budget", "100", "--message-retention", "7200"]
        updated = await asyncio.to_thread(
            cli, ["pool", "update", "default", *router, "--json", *budget]
        )
        pool = json.loads(capsys.readouterr().out)
        erased = await asyncio.to_thread(cli, ["number", "erase", ALICE, *router])
        line = capsys.readouterr().out
        refused = await asyncio.to_thread(cli, ["number", "erase", US1, *router])
        async with NumproxyClient(f"127.0.0.1:{port}") as client:
            closed = await client.get_session(session.name)

    assert (updated, erased, refused) == (0, 0, 1)
    assert (pool["daily_send_budget"], pool["message_retention"]) == (100, "7200s")
    assert line.startswith("erased: ") and line.rstrip().endswith("1 live sessions closed")
    assert "participant 1" in line
    assert ALICE.lstrip("+") not in line
    assert "PROXY_NUMBER_NOT_ERASABLE" in capsys.readouterr().err
    assert closed.closed_reason == session_pb2.CLOSED_REASON_ERASED
