"""Sessions of 2 to N participants (domain layer, SQLite and PostgreSQL): creating a group,
the pool's limit, open and close notices, adding and removing participants with their events."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from numproxy.router.sessions.sessions import ParticipantSpec, SessionSpec
from numproxy.router.store.models import Event, ProxyNumber
from tests.support.router_inbound import interactions
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    US3,
    US4,
    Domain,
    group,
    make_domain,
    make_pool,
    pair,
    proxy_of,
    set_pool_columns,
)

ERIN = "+15550100005"


async def _domain(engine: AsyncEngine, numbers: list[str] | None = None, **pool: object) -> Domain:
    d = make_domain(engine)
    await make_pool(d, numbers if numbers is not None else [US1, US2, US3, US4])
    if pool:
        await set_pool_columns(engine, **pool)
    return d


async def _events(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(Event.type, Event.participant, Event.proxy_number).order_by(Event.seq)
        )
        return [(t, p, v) for t, p, v in found]


async def _usage(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        found = await conn.execute(select(ProxyNumber.number, ProxyNumber.active_participants))
        return {number: used for number, used in found}


async def test_a_group_gets_distinct_numbers_while_the_pool_has_them(engine: AsyncEngine) -> None:
    d = await _domain(engine, [US1, US2, US3])
    session = await d.sessions.create_session(group(ALICE, BOB, CAROL))

    assert [p.number for p in session.participants] == [ALICE, BOB, CAROL]
    assert sorted(p.proxy_number for p in session.participants) == [US1, US2, US3]


async def test_a_group_larger_than_the_pool_shares_numbers_under_the_core_rule(
    engine: AsyncEngine,
) -> None:
    d = await _domain(engine, [US1, US2])
    session = await d.sessions.create_session(group(ALICE, BOB, CAROL, DAVE))
    # Different real numbers may share a proxy number; each still has exactly one session on it.
    assert {p.proxy_number for p in session.participants} == {US1, US2}
    assert sorted((await _usage(engine)).values()) == [2, 2]


@pytest.mark.parametrize(
    ("numbers", "reason"),
    [
        ([ALICE], "INVALID_PARTICIPANTS"),
        ([f"+1555010{n:04d}" for n in range(11)], "TOO_MANY_PARTICIPANTS"),
        ([ALICE, BOB, "+1 (555) 010-0001"], "SAME_PARTICIPANT_NUMBER"),
    ],
)
async def test_participant_count_and_duplicates(
    engine: AsyncEngine, numbers: list[str], reason: str
) -> None:
    d = await _domain(engine)
    with pytest.raises(InvalidArgument) as invalid:
        await d.sessions.create_session(group(*numbers))
    assert invalid.value.reason == reason


async def test_the_pools_max_participants_bounds_a_create(engine: AsyncEngine) -> None:
    d = await _domain(engine, max_participants=3)
    await d.sessions.create_session(group(ALICE, BOB, CAROL))
    with pytest.raises(InvalidArgument) as too_many:
        await d.sessions.create_session(group(ALICE, BOB, CAROL, DAVE))
    assert too_many.value.reason == "TOO_MANY_PARTICIPANTS"
    assert too_many.value.metadata["max_participants"] == "3"


async def test_open_notice_goes_to_those_without_a_greeting(engine: AsyncEngine) -> None:
    d = await _domain(engine, open_notice="You are in a group chat. Text #end to leave.")
    spec = SessionSpec(
        participants=[
            ParticipantSpec(ALICE, greeting="Hi Alice"),
            ParticipantSpec(BOB),
            ParticipantSpec(CAROL),
        ]
    )
    session = await d.sessions.create_session(spec)

    sent = [
        (i.direction, i.recipient_number, i.proxy_number, i.text)
        for i in await interactions(engine)
    ]
    notice = "You are in a group chat. Text #end to leave."
    assert sent == [
        ("OUTBOUND", ALICE, proxy_of(session, ALICE), "Hi Alice"),
        ("SYSTEM", BOB, proxy_of(session, BOB), notice),
        ("SYSTEM", CAROL, proxy_of(session, CAROL), notice),
    ]
    assert [e[0] for e in await _events(engine)] == ["SESSION_CREATED"] + ["OUTBOUND_QUEUED"] * 3
    assert d.notified == [1]


async def test_the_sessions_close_notice_is_kept_returned_and_sent_on_close(
    engine: AsyncEngine,
) -> None:
    d = await _domain(engine, close_notice="pool notice")
    own = await d.sessions.create_session(
        group(ALICE, BOB, CAROL, close_notice="This chat has ended.", request_id="r-1")
    )
    assert (own.close_notice, own.request_id) == ("This chat has ended.", "r-1")
    assert await d.sessions.get_session(own.id) == own
    pooled = await d.sessions.create_session(pair(DAVE, ERIN))
    assert pooled.close_notice == ""

    await d.sessions.update_session(own.id, ["status"], status="CLOSED")
    await d.sessions.update_session(pooled.id, ["status"], status="CLOSED")

    sent = [
        (i.direction, i.recipient_number, i.proxy_number, i.text)
        for i in await interactions(engine)
    ]
    assert sorted(sent) == sorted(
        [
            ("SYSTEM", ALICE, proxy_of(own, ALICE), "This chat has ended."),
            ("SYSTEM", BOB, proxy_of(own, BOB), "This chat has ended."),
            ("SYSTEM", CAROL, proxy_of(own, CAROL), "This chat has ended."),
            ("SYSTEM", DAVE, proxy_of(pooled, DAVE), "pool notice"),
            ("SYSTEM", ERIN, proxy_of(pooled, ERIN), "pool notice"),
        ]
    )


async def test_a_close_notice_is_part_of_the_request_id_payload(engine: AsyncEngine) -> None:
    d = await _domain(engine)
    await d.sessions.create_session(pair(ALICE, BOB, request_id="r-1"))
    with pytest.raises(AlreadyExists) as reused:
        await d.sessions.create_session(pair(ALICE, BOB, request_id="r-1", close_notice="bye"))
    assert reused.value.reason == "REQUEST_ID_REUSED"


async def test_add_participant_allocates_greets_and_records_the_event(
    engine: AsyncEngine,
) -> None:
    d = await _domain(engine, [US1, US2, US3], open_notice="Welcome to the chat")
    session = await d.sessions.create_session(pair(ALICE, BOB))
    d.clock.advance(5)

    grown = await d.membership.add_participant(
        f"sessions/{session.id}", ParticipantSpec(CAROL, "Carol")
    )

    assert [(p.number, p.display_name) for p in grown.participants] == [
        (ALICE, ""),
        (BOB, ""),
        (CAROL, "Carol"),
    ]
    carol_proxy = proxy_of(grown, CAROL)
    # The one number neither Alice nor Bob holds.
    assert carol_proxy not in {proxy_of(session, ALICE), proxy_of(session, BOB)}
    assert grown.updated_at > session.updated_at
    notices = [
        (i.recipient_number, i.proxy_number)
        for i in await interactions(engine)
        if i.recipient_number == CAROL
    ]
    assert notices == [(CAROL, carol_proxy)]
    assert (("PARTICIPANT_ADDED", CAROL, carol_proxy)) in await _events(engine)
    assert await d.sessions.get_session(session.id) == grown


async def test_add_participant_refusals(engine: AsyncEngine) -> None:
    d = await _domain(engine, max_participants=3)
    session = await d.sessions.create_session(pair(ALICE, BOB))

    with pytest.raises(AlreadyExists) as present:
        await d.membership.add_participant(session.id, ParticipantSpec(BOB))
    assert present.value.reason == "PARTICIPANT_ALREADY_EXISTS"
    with pytest.raises(InvalidArgument) as bad:
        await d.membership.add_participant(session.id, ParticipantSpec("123"))
    assert (bad.value.reason, bad.value.metadata["field"]) == (
        "INVALID_NUMBER",
        "participant.number",
    )
    await d.membership.add_participant(session.id, ParticipantSpec(CAROL))
    with pytest.raises(FailedPrecondition) as full:
        await d.membership.add_participant(session.id, ParticipantSpec(DAVE))
    assert full.value.reason == "TOO_MANY_PARTICIPANTS"
    await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    with pytest.raises(FailedPrecondition) as closed:
        await d.membership.add_participant(session.id, ParticipantSpec(ERIN))
    assert closed.value.reason == "SESSION_CLOSED"


async def test_remove_participant_frees_its_number_and_keeps_two(engine: AsyncEngine) -> None:
    d = await _domain(engine, [US1, US2, US3])
    session = await d.sessions.create_session(group(ALICE, BOB, CAROL))
    carol_proxy = proxy_of(session, CAROL)

    smaller = await d.membership.remove_participant(session.id, "+1 555 010 0003")

    assert [p.number for p in smaller.participants] == [ALICE, BOB]
    assert (await _usage(engine))[carol_proxy] == 0
    assert ("PARTICIPANT_REMOVED", CAROL, carol_proxy) in await _events(engine)
    with pytest.raises(NotFound) as gone:
        await d.messaging.send_message(session.id, CAROL, "still there?")
    assert gone.value.reason == "PARTICIPANT_NOT_FOUND"
    with pytest.raises(NotFound) as unknown:
        await d.membership.remove_participant(session.id, DAVE)
    assert unknown.value.reason == "PARTICIPANT_NOT_FOUND"
    with pytest.raises(FailedPrecondition) as too_few:
        await d.membership.remove_participant(session.id, BOB)
    assert too_few.value.reason == "TOO_FEW_PARTICIPANTS"

    # Closed, the session still lists who was in it at the end, not who left before.
    closed = await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    assert [p.number for p in closed.participants] == [ALICE, BOB]
    # Carol can join again later (a new participant row).
    again = await d.sessions.create_session(pair(CAROL, DAVE))
    assert again.status == "OPEN"


async def test_a_removed_participant_can_be_added_back(engine: AsyncEngine) -> None:
    d = await _domain(engine, [US1, US2, US3])
    session = await d.sessions.create_session(group(ALICE, BOB, CAROL))
    await d.membership.remove_participant(session.id, CAROL)
    back = await d.membership.add_participant(session.id, ParticipantSpec(CAROL))
    assert [p.number for p in back.participants] == [ALICE, BOB, CAROL]
