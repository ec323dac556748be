"""CreateSession (domain layer) on SQLite and PostgreSQL: defaults, greetings, idempotency,
bad input leaving nothing behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from numproxy.router.sessions.sessions import ParticipantSpec, SessionSpec
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import Interaction, Participant, Session
from tests.support.router_inbound import START
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    Domain,
    make_domain,
    make_pool,
    pair,
    proxy_of,
)


async def _count(engine: AsyncEngine, model: type[object]) -> int:
    async with session_factory(engine)() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_creates_an_open_session_with_one_proxy_number_each(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    spec = SessionSpec(
        participants=[ParticipantSpec("1-555-010-0001", "Alice"), ParticipantSpec(BOB, "Bob")],
        metadata={"order": "42"},
    )
    session = await d.sessions.create_session(spec)

    assert session.status == "OPEN"
    assert session.closed_reason is None
    assert session.pool_id == "default"
    assert [(p.number, p.display_name) for p in session.participants] == [
        (ALICE, "Alice"),
        (BOB, "Bob"),
    ]
    # Two numbers in the pool: each participant gets their own.
    assert {p.proxy_number for p in session.participants} == {US1, US2}
    assert session.metadata == {"order": "42"}
    assert session.created_at == session.updated_at == START
    assert session.ttl_seconds == 0
    assert session.expire_time is None
    assert session.last_interaction_at is None and session.closed_at is None
    assert await d.sessions.get_session(session.id) == session


async def test_pool_defaults_apply_unless_the_request_sets_them(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(
        d, [US1, US2], default_ttl=timedelta(hours=1), default_lifetime=timedelta(days=1)
    )
    defaulted = await d.sessions.create_session(pair(ALICE, BOB))
    assert defaulted.ttl_seconds == 3600
    assert defaulted.expire_time == START + timedelta(days=1)

    explicit = await d.sessions.create_session(
        pair(ALICE, CAROL, ttl=timedelta(0), expire_time=START + timedelta(minutes=5))
    )
    assert explicit.ttl_seconds == 0
    assert explicit.expire_time == START + timedelta(minutes=5)


async def test_greetings_are_queued_from_each_participants_proxy(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    spec = SessionSpec(
        participants=[ParticipantSpec(ALICE, greeting="Hi Alice"), ParticipantSpec(BOB)]
    )
    session = await d.sessions.create_session(spec)

    async with session_factory(engine)() as db:
        rows = (await db.scalars(select(Interaction))).all()
    assert [(r.direction, r.status, r.recipient_number, r.proxy_number, r.text) for r in rows] == [
        ("OUTBOUND", "QUEUED", ALICE, proxy_of(session, ALICE), "Hi Alice")
    ]
    assert rows[0].session_id == session.id
    assert d.notified == [1]


async def test_no_greeting_no_notification(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    await d.sessions.create_session(pair(ALICE, BOB))
    assert d.notified == []
    assert await _count(engine, Interaction) == 0


async def test_same_request_id_returns_the_same_session(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    spec = SessionSpec(
        participants=[ParticipantSpec(ALICE, greeting="hello"), ParticipantSpec(BOB)],
        request_id="req-1",
    )
    first = await d.sessions.create_session(spec)
    d.clock.advance(5)
    # The same payload, written differently (number formatting) is the same request.
    again = await d.sessions.create_session(
        SessionSpec(
            participants=[ParticipantSpec("15550100001", greeting="hello"), ParticipantSpec(BOB)],
            request_id="req-1",
        )
    )
    assert again == first
    assert await _count(engine, Session) == 1
    assert await _count(engine, Interaction) == 1  # the greeting went out once
    assert d.notified == [1]


async def test_reused_request_id_with_another_payload_is_already_exists(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    await d.sessions.create_session(pair(ALICE, BOB, request_id="req-1"))
    with pytest.raises(AlreadyExists) as reused:
        await d.sessions.create_session(pair(ALICE, CAROL, request_id="req-1"))
    assert reused.value.reason == "REQUEST_ID_REUSED"
    assert await _count(engine, Session) == 1


async def _assert_nothing_created(d: Domain) -> None:
    assert await _count(d.engine, Session) == 0
    assert await _count(d.engine, Participant) == 0
    assert await _count(d.engine, Interaction) == 0
    assert d.notified == []


@pytest.mark.parametrize(
    ("spec", "reason", "field"),
    [
        (SessionSpec(participants=[ParticipantSpec(ALICE)]), "INVALID_PARTICIPANTS", None),
        (pair(ALICE, "123"), "INVALID_NUMBER", "participants[1].number"),
        (pair("", BOB), "INVALID_NUMBER", "participants[0].number"),
        (pair(ALICE, "+1 555 010 0001"), "SAME_PARTICIPANT_NUMBER", None),
        (pair(ALICE, BOB, ttl=timedelta(seconds=-1)), "INVALID_TTL", "ttl"),
        (pair(ALICE, BOB, expire_time=START), "INVALID_EXPIRE_TIME", "expire_time"),
        (
            pair(ALICE, BOB, expire_time=START - timedelta(days=1)),
            "INVALID_EXPIRE_TIME",
            "expire_time",
        ),
        (pair(ALICE, BOB, pool="Bad Pool"), "INVALID_POOL_ID", "pool"),
        (pair(ALICE, BOB, metadata={"": "x"}), "INVALID_METADATA", "metadata"),
        (pair(ALICE, BOB, request_id="r" * 129), "INVALID_REQUEST_ID", "request_id"),
        (
            SessionSpec(participants=[ParticipantSpec(ALICE, "n" * 201), ParticipantSpec(BOB)]),
            "INVALID_DISPLAY_NAME",
            "participants[0].display_name",
        ),
    ],
)
async def test_invalid_requests_create_nothing(
    engine: AsyncEngine, spec: SessionSpec, reason: str, field: str | None
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    with pytest.raises(InvalidArgument) as invalid:
        await d.sessions.create_session(spec)
    assert invalid.value.reason == reason
    if field:
        assert invalid.value.metadata["field"] == field
    await _assert_nothing_created(d)


async def test_unknown_pool_and_missing_default_pool(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    with pytest.raises(NotFound) as no_default:
        await d.sessions.create_session(pair(ALICE, BOB))
    assert no_default.value.reason == "POOL_NOT_FOUND"
    assert no_default.value.metadata == {"pool": "pools/default"}
    await make_pool(d, [US1])
    with pytest.raises(NotFound):
        await d.sessions.create_session(pair(ALICE, BOB, pool="pools/elsewhere"))
    await _assert_nothing_created(d)


async def test_exhaustion_of_the_second_participant_rolls_back_the_first(
    engine: AsyncEngine,
) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    await d.sessions.create_session(pair(BOB, CAROL))
    with pytest.raises(DomainError) as exhausted:
        await d.sessions.create_session(
            SessionSpec(participants=[ParticipantSpec(ALICE, greeting="hi"), ParticipantSpec(BOB)])
        )
    assert exhausted.value.reason == "POOL_EXHAUSTED"
    assert exhausted.value.metadata["participant_index"] == "1"
    assert await _count(engine, Session) == 1
    assert await _count(engine, Participant) == 2
    assert await _count(engine, Interaction) == 0
