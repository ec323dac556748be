"""SessionService over real gRPC (the router on port 0): the contract, status codes, ErrorInfo."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from numproxy.v1 import pool_pb2, pool_pb2_grpc, session_pb2, session_pb2_grpc
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    router_channel,
    rpc_error,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Api:
    pools: pool_pb2_grpc.PoolServiceStub
    sessions: session_pb2_grpc.SessionServiceStub


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with router_channel(database_url) as channel:
        api = Api(
            pool_pb2_grpc.PoolServiceStub(channel), session_pb2_grpc.SessionServiceStub(channel)
        )
        await api.pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="default"))
        await api.pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="default", numbers=[US1, US2]))
        yield api


def create_request(a: str = ALICE, b: str = BOB, **kw: object) -> session_pb2.CreateSessionRequest:
    return session_pb2.CreateSessionRequest(
        participants=[
            session_pb2.ParticipantSpec(number=a, display_name="A", greeting="Welcome A"),
            session_pb2.ParticipantSpec(number=b, display_name="B"),
        ],
        **kw,  # type: ignore[arg-type]
    )


def in_future(seconds: int) -> Timestamp:
    return Timestamp(seconds=int(time.time()) + seconds)


async def test_session_round_trip(api: Api) -> None:
    expire = in_future(3600)
    created = (
        await api.sessions.CreateSession(
            create_request(ttl=Duration(seconds=600), expire_time=expire, metadata={"k": "v"})
        )
    ).session
    assert created.name.startswith("sessions/")
    assert created.pool == "pools/default"
    assert created.status == session_pb2.SESSION_STATUS_OPEN
    assert created.closed_reason == session_pb2.CLOSED_REASON_UNSPECIFIED
    assert [(p.number, p.display_name) for p in created.participants] == [
        (ALICE, "A"),
        (BOB, "B"),
    ]
    assert {p.proxy_number for p in created.participants} == {US1, US2}
    assert created.ttl.seconds == 600
    assert created.expire_time == expire
    assert dict(created.metadata) == {"k": "v"}
    assert not created.HasField("close_time")

    got = await api.sessions.GetSession(session_pb2.GetSessionRequest(name=created.name))
    assert got.session == created

    listed = await api.sessions.ListSessions(
        session_pb2.ListSessionsRequest(
            participant_number=ALICE, status=session_pb2.SESSION_STATUS_OPEN, pool="default"
        )
    )
    assert [s.name for s in listed.sessions] == [created.name]

    interactions = await api.sessions.ListInteractions(
        session_pb2.ListInteractionsRequest(parent=created.name)
    )
    greeting = interactions.interactions[0]
    assert len(interactions.interactions) == 1
    assert greeting.name.startswith(created.name + "/interactions/")
    assert greeting.direction == session_pb2.DIRECTION_OUTBOUND
    assert greeting.recipient_number == ALICE
    assert greeting.proxy_number == created.participants[0].proxy_number
    assert greeting.text == "Welcome A"

    updated = await api.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=created.name, ttl=Duration(seconds=60)),
            update_mask=FieldMask(paths=["ttl", "expire_time"]),
        )
    )
    assert updated.session.ttl.seconds == 60
    assert not updated.session.HasField("expire_time")

    closed = await api.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(
                name=created.name, status=session_pb2.SESSION_STATUS_CLOSED
            ),
            update_mask=FieldMask(paths=["status"]),
        )
    )
    assert closed.session.status == session_pb2.SESSION_STATUS_CLOSED
    assert closed.session.closed_reason == session_pb2.CLOSED_REASON_API
    assert closed.session.HasField("close_time")

    await api.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=created.name))
    code, reason, _ = await rpc_error(
        api.sessions.GetSession(session_pb2.GetSessionRequest(name=created.name))
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_idempotent_create(api: Api) -> None:
    first = await api.sessions.CreateSession(create_request(request_id="order-7"))
    again = await api.sessions.CreateSession(create_request(request_id="order-7"))
    assert again.session == first.session
    code, reason, _ = await rpc_error(
        api.sessions.CreateSession(create_request(ALICE, CAROL, request_id="order-7"))
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_pool_exhausted_names_the_participant_masked(api: Api) -> None:
    await api.sessions.CreateSession(create_request(ALICE, BOB))
    await api.sessions.CreateSession(create_request(ALICE, CAROL))
    try:
        await api.sessions.CreateSession(create_request(DAVE, ALICE))
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = exc.details() or ""
        assert ALICE not in details and DAVE not in details
    else:
        raise AssertionError("expected RESOURCE_EXHAUSTED")
    code, reason, metadata = await rpc_error(
        api.sessions.CreateSession(create_request(DAVE, ALICE))
    )
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "POOL_EXHAUSTED")
    assert metadata["participant"] == "+1***01"
    assert metadata["participant_index"] == "1"


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (create_request(ALICE, ALICE), "SAME_PARTICIPANT_NUMBER"),
        (create_request(ALICE, "12"), "INVALID_NUMBER"),
        (create_request(ttl=Duration(seconds=-5)), "INVALID_TTL"),
        (create_request(expire_time=Timestamp(seconds=1_000_000)), "INVALID_EXPIRE_TIME"),
        (create_request(pool="pools/Nope"), "INVALID_POOL_ID"),
        (session_pb2.CreateSessionRequest(), "INVALID_PARTICIPANTS"),
    ],
)
async def test_invalid_creates(
    api: Api, request_: session_pb2.CreateSessionRequest, reason: str
) -> None:
    code, got_reason, _ = await rpc_error(api.sessions.CreateSession(request_))
    assert (code, got_reason) == (INVALID, reason)
    listed = await api.sessions.ListSessions(session_pb2.ListSessionsRequest())
    assert list(listed.sessions) == []


async def test_other_errors(api: Api) -> None:
    created = (await api.sessions.CreateSession(create_request())).session
    missing = "sessions/00000000-0000-4000-8000-000000000000"
    not_found = grpc.StatusCode.NOT_FOUND
    cases = [
        (api.sessions.GetSession(session_pb2.GetSessionRequest(name=missing)), not_found),
        (api.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=missing)), not_found),
        (
            api.sessions.CreateSession(create_request(CAROL, DAVE, pool="nowhere")),
            not_found,
        ),
        (api.sessions.GetSession(session_pb2.GetSessionRequest(name="sessions/1")), INVALID),
        (
            api.sessions.ListSessions(session_pb2.ListSessionsRequest(page_size=-1)),
            INVALID,
        ),
        (
            api.sessions.UpdateSession(
                session_pb2.UpdateSessionRequest(
                    session=session_pb2.Session(name=created.name),
                    update_mask=FieldMask(paths=["participants"]),
                )
            ),
            INVALID,
        ),
        (
            api.sessions.UpdateSession(
                session_pb2.UpdateSessionRequest(
                    session=session_pb2.Session(
                        name=created.name, status=session_pb2.SESSION_STATUS_OPEN
                    ),
                    update_mask=FieldMask(paths=["status"]),
                )
            ),
            INVALID,
        ),
        (
            api.sessions.ListInteractions(
                session_pb2.ListInteractionsRequest(parent=missing, page_size=1)
            ),
            not_found,
        ),
    ]
    reasons = []
    for call, code in cases:
        got_code, reason, _ = await rpc_error(call)
        assert got_code == code, reason
        reasons.append(reason)
    assert reasons == [
        "SESSION_NOT_FOUND",
        "SESSION_NOT_FOUND",
        "POOL_NOT_FOUND",
        "INVALID_NAME",
        "INVALID_PAGE_SIZE",
        "INVALID_UPDATE_MASK",
        "INVALID_STATUS",
        "SESSION_NOT_FOUND",
    ]
    still = await api.sessions.GetSession(session_pb2.GetSessionRequest(name=created.name))
    assert still.session == created
