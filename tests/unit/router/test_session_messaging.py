"""SendMessage (domain layer) on SQLite and PostgreSQL: a system text from the recipient's own
proxy number through the outbox, idempotency, and every refusal with its reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from numproxy.router.store import queries, rows
from numproxy.router.store.models import Event, Interaction
from tests.support.router_inbound import START, interactions
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    US3,
    Domain,
    group,
    make_domain,
    make_pool,
    pair,
    proxy_of,
)

UNKNOWN_SESSION = "sessions/00000000-0000-4000-8000-000000000000"


async def _domain(engine: AsyncEngine) -> Domain:
    d = make_domain(engine)
    await make_pool(d, [US1, US2, US3])
    return d


async def test_the_text_goes_from_the_recipients_proxy_as_system(engine: AsyncEngine) -> None:
    d = await _domain(engine)
    session = await d.sessions.create_session(group(ALICE, BOB, CAROL))

    sent = await d.messaging.send_message(session.id, "1-555-010-0002", "Your order shipped")

    assert (sent.direction, sent.status) == ("SYSTEM", "QUEUED")
    assert (sent.recipient_number, sent.sender_number) == (BOB, "")
    assert sent.proxy_number == proxy_of(session, BOB)
    assert sent.session_id == session.id and sent.created_at == START
    page = await d.sessions.list_interactions(session.id)
    assert page.items == [sent]
    [row] = await interactions(engine)
    assert row.next_attempt_at is not None  # due now: the dispatcher sends it like any SMS
    assert d.notified == [1]
    async with engine.connect() as conn:
        events = (await conn.execute(select(Event.type, Event.interaction_id))).all()
    assert [tuple(e) for e in events] == [("SESSION_CREATED", None), ("OUTBOUND_QUEUED", sent.id)]
    # A system text is not the participants' activity: the session is still OPEN.
    assert (await d.sessions.get_session(session.id)).status == "OPEN"


async def test_a_retry_with_the_request_id_queues_once(engine: AsyncEngine) -> None:
    d = await _domain(engine)
    session = await d.sessions.create_session(pair(ALICE, BOB))

    first = await d.messaging.send_message(session.id, BOB, "hello", request_id="m-1")
    d.clock.advance(3)
    again = await d.messaging.send_message(f"sessions/{session.id}", BOB, "hello", request_id="m-1")

    assert again == first
    assert len(await interactions(engine)) == 1
    assert d.notified == [1]
    with pytest.raises(AlreadyExists) as reused:
        await d.messaging.send_message(session.id, BOB, "another text", request_id="m-1")
    assert reused.value.reason == "REQUEST_ID_REUSED"
    other = await d.messaging.send_message(session.id, BOB, "hello", request_id="m-2")
    assert other.id != first.id
    assert len(await interactions(engine)) == 2


@pytest.mark.parametrize(
    ("to", "text", "error", "reason"),
    [
        (CAROL, "hi", NotFound, "PARTICIPANT_NOT_FOUND"),
        ("12", "hi", InvalidArgument, "INVALID_NUMBER"),
        (BOB, "", InvalidArgument, "INVALID_TEXT"),
        (BOB, "   ", InvalidArgument, "INVALID_TEXT"),
        (BOB, "x" * 1601, InvalidArgument, "INVALID_TEXT"),
        (BOB, "nul \x00 inside", InvalidArgument, "INVALID_TEXT"),
    ],
)
async def test_bad_input_is_refused_with_its_reason(
    engine: AsyncEngine, to: str, text: str, error: type[Exception], reason: str
) -> None:
    d = await _domain(engine)
    session = await d.sessions.create_session(pair(ALICE, BOB))
    with pytest.raises(error) as refused:
        await d.messaging.send_message(session.id, to, text)
    assert refused.value.reason == reason  # type: ignore[attr-defined]
    assert await interactions(engine) == []
    assert d.notified == []


async def test_unknown_session_closed_session_and_longest_text(engine: AsyncEngine) -> None:
    d = await _domain(engine)
    with pytest.raises(NotFound) as unknown:
        await d.messaging.send_message(UNKNOWN_SESSION, BOB, "hi")
    assert unknown.value.reason == "SESSION_NOT_FOUND"

    session = await d.sessions.create_session(pair(ALICE, BOB))
    longest = await d.messaging.send_message(session.id, ALICE, "y" * 1600)
    assert len(longest.text) == 1600
    await d.sessions.update_session(session.id, ["status"], status="CLOSED")
    with pytest.raises(FailedPrecondition) as closed:
        await d.messaging.send_message(session.id, ALICE, "too late")
    assert closed.value.reason == "SESSION_CLOSED"


async def test_never_texts_a_participant_who_opted_out_of_their_proxy(
    engine: AsyncEngine,
) -> None:
    d = await _domain(engine)
    session = await d.sessions.create_session(pair(ALICE, BOB))
    async with engine.begin() as conn:
        await queries.opt_out(
            conn, rows.opt_out(number=BOB, proxy=proxy_of(session, BOB), now=START)
        )
    with pytest.raises(FailedPrecondition) as opted_out:
        await d.messaging.send_message(session.id, BOB, "hi")
    assert opted_out.value.reason == "OPTED_OUT"
    async with engine.connect() as conn:
        assert (await conn.execute(select(Interaction.id))).all() == []
    # Alice did not opt out: she can still be texted.
    assert (await d.messaging.send_message(session.id, ALICE, "hi")).recipient_number == ALICE
