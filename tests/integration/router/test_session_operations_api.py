"""SendMessage, AddParticipant, RemoveParticipant, group CreateSession and the ListSessions
filters over real gRPC (the router on port 0, SQLite and PostgreSQL): contract and reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from numproxy.client import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    NumproxyClient,
)
from numproxy.v1 import session_pb2
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    US3,
    configure_pool,
    router_channel,
)

UNKNOWN = "sessions/00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[NumproxyClient]:
    async with router_channel(database_url) as channel:
        client = NumproxyClient(channel=channel)
        await client.create_pool("default")
        await client.add_numbers("default", [US1, US2, US3])
        await configure_pool(database_url, max_participants=3, open_notice="Welcome")
        yield client


async def test_a_group_session_and_its_operations(client: NumproxyClient) -> None:
    session = await client.create_session(
        ALICE,
        BOB,
        CAROL,
        display_names=("Ann", "", "Cy"),
        close_notice="Bye all",
        request_id="group-1",
        metadata={"order": "7"},
    )
    assert [p.number for p in session.participants] == [ALICE, BOB, CAROL]
    assert len({p.proxy_number for p in session.participants}) == 3
    assert (session.close_notice, session.request_id) == ("Bye all", "group-1")

    sent = await client.send_message(session.name, BOB, "Your table is ready", request_id="t-1")
    bob_proxy = next(p.proxy_number for p in session.participants if p.number == BOB)
    assert sent.direction == session_pb2.DIRECTION_SYSTEM
    assert (sent.recipient_number, sent.proxy_number) == (BOB, bob_proxy)
    assert sent.name.startswith(session.name + "/interactions/")
    again = await client.send_message(session.name, BOB, "Your table is ready", request_id="t-1")
    assert again.name == sent.name
    listed = [i async for i in client.iter_interactions(session.name)]
    system = [i for i in listed if i.direction == session_pb2.DIRECTION_SYSTEM]
    # The three open notices, then the system text, once.
    assert [i.text for i in system] == ["Welcome"] * 3 + ["Your table is ready"]

    smaller = await client.remove_participant(session.name, CAROL)
    assert [p.number for p in smaller.participants] == [ALICE, BOB]
    grown = await client.add_participant(session.name, DAVE, display_name="Dee")
    assert [(p.number, p.display_name) for p in grown.participants][-1] == (DAVE, "Dee")

    found = await client.list_sessions(request_id="group-1")
    assert [s.name for s in found.sessions] == [session.name]
    found = await client.list_sessions(metadata={"order": "7"})
    assert [s.name for s in found.sessions] == [session.name]
    assert not (await client.list_sessions(metadata={"order": "8"})).sessions


async def test_bad_input_answers_clear_reasons(client: NumproxyClient) -> None:
    session = await client.create_session(ALICE, BOB)
    cases = [
        (client.send_message(UNKNOWN, BOB, "hi"), NotFoundError, "SESSION_NOT_FOUND"),
        (client.send_message(session.name, DAVE, "hi"), NotFoundError, "PARTICIPANT_NOT_FOUND"),
        (client.send_message(session.name, BOB, ""), InvalidArgumentError, "INVALID_TEXT"),
        (
            client.create_session(ALICE, BOB, CAROL, DAVE),
            InvalidArgumentError,
            "TOO_MANY_PARTICIPANTS",
        ),
        (client.create_session(ALICE, ALICE), InvalidArgumentError, "SAME_PARTICIPANT_NUMBER"),
        (client.create_session(ALICE), InvalidArgumentError, "INVALID_PARTICIPANTS"),
        (
            client.remove_participant(session.name, BOB),
            FailedPreconditionError,
            "TOO_FEW_PARTICIPANTS",
        ),
        (client.remove_participant(session.name, DAVE), NotFoundError, "PARTICIPANT_NOT_FOUND"),
        (
            client.add_participant(session.name, BOB),
            AlreadyExistsError,
            "PARTICIPANT_ALREADY_EXISTS",
        ),
        (
            client.list_sessions(metadata={f"k{i}": "v" for i in range(9)}),
            InvalidArgumentError,
            "INVALID_METADATA",
        ),
    ]
    for call, error, reason in cases:
        with pytest.raises(error) as refused:
            await call
        assert refused.value.reason == reason

    await client.send_message(session.name, BOB, "ok", request_id="r")
    with pytest.raises(AlreadyExistsError) as reused:
        await client.send_message(session.name, BOB, "not ok", request_id="r")
    assert reused.value.reason == "REQUEST_ID_REUSED"
    await client.close_session(session.name)
    with pytest.raises(FailedPreconditionError) as closed:
        await client.send_message(session.name, BOB, "late")
    assert (closed.value.code, closed.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_CLOSED",
    )
