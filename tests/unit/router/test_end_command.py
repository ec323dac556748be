"""In-session end command and display-name prefixes in the inbound pipeline (SQLite and
PostgreSQL), and the busy path's statements staying what they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.end_command import END_NOTE, is_end_command
from numproxy.router.inbound.message import Outcome
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import Event, Participant
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    get_session,
    interactions,
    make_router,
    sms,
)
from tests.support.router_sessions import set_pool_columns

ALICE, BOB, CAROL, STRANGER = "+15550100001", "+15550100002", "+15550100003", "+15550100009"
V1, V2, V3 = "+15557000001", "+15557000002", "+15557000003"
NOTICE = "This conversation has ended."


async def _group(engine: AsyncEngine, **pool: object) -> str:
    pool_id = await add_pool(engine, [V1, V2, V3])
    if pool:
        await set_pool_columns(engine, **pool)
    return await add_session(engine, pool_id, [(ALICE, V1), (BOB, V2), (CAROL, V3)])


@pytest.mark.parametrize(
    ("text", "command", "expected"),
    [
        ("#end", "#end", True),
        ("  #END \n", "#end", True),
        ("#end now", "#end", False),
        ("end", "#end", False),
        ("#end", "", False),
        ("", "", False),
    ],
)
def test_the_whole_trimmed_text_any_case(text: str, command: str, expected: bool) -> None:
    assert is_end_command(text, command) is expected


async def test_end_command_closes_for_everyone_with_the_notice(engine: AsyncEngine) -> None:
    session_id = await _group(engine, end_command=" #End ", close_notice=NOTICE)
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(BOB, V2, " #END"))

    assert (result.outcome, result.session_id, result.queued) == (Outcome.KEYWORD, session_id, 0)
    session = await get_session(engine, session_id)
    assert (session.status, session.closed_reason) == ("CLOSED", "PARTICIPANT_ENDED")
    assert not any(p.active for p in session.participants)
    [inbound] = await interactions(engine, "INBOUND")
    assert (inbound.sender_number, inbound.text, inbound.note) == (BOB, " #END", END_NOTE)
    assert await interactions(engine, "OUTBOUND") == []  # never forwarded
    notices = [
        (i.proxy_number, i.recipient_number, i.text) for i in await interactions(engine, "SYSTEM")
    ]
    assert sorted(notices) == [(V1, ALICE, NOTICE), (V2, BOB, NOTICE), (V3, CAROL, NOTICE)]
    async with engine.connect() as conn:
        closed = (
            await conn.execute(select(Event.reason).where(Event.type == "SESSION_CLOSED"))
        ).all()
    assert [r for (r,) in closed] == ["PARTICIPANT_ENDED"]

    # Afterwards the number is out of session for them: nothing is forwarded.
    late = await router.receive(sms(ALICE, V1, "hello?"))
    assert late.outcome is Outcome.DROPPED


async def test_without_an_end_command_the_text_is_forwarded(engine: AsyncEngine) -> None:
    await _group(engine, close_notice=NOTICE)
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(ALICE, V1, "#end"))

    assert (result.outcome, result.queued) == (Outcome.FORWARDED, 2)
    assert await interactions(engine, "SYSTEM") == []


async def test_stop_stays_a_keyword_even_when_it_is_the_end_command(engine: AsyncEngine) -> None:
    session_id = await _group(engine, end_command="stop")
    router, _ = make_router(engine, FakeClock())
    await router.receive(sms(ALICE, V1, "STOP"))
    assert (await get_session(engine, session_id)).closed_reason == "OPT_OUT"


async def test_a_message_after_the_end_in_one_batch_is_not_forwarded(engine: AsyncEngine) -> None:
    await _group(engine, end_command="#end")
    router, _ = make_router(engine, FakeClock(), RouterSettings(inbound_batch_max=10))
    first = router.receive(sms(ALICE, V1, "#end"))
    second = router.receive(sms(BOB, V2, "wait"))
    import asyncio

    results = await asyncio.gather(first, second)
    assert [r.outcome for r in results] == [Outcome.KEYWORD, Outcome.DROPPED]
    assert await interactions(engine, "OUTBOUND") == []


async def test_forwarded_texts_carry_the_senders_name_when_the_pool_says_so(
    engine: AsyncEngine,
) -> None:
    session_id = await _group(engine, prefix_display_name=True)
    async with engine.begin() as conn:
        await conn.execute(
            update(Participant)
            .where(Participant.session_id == session_id, Participant.number == ALICE)
            .values(display_name="Ann")
        )
    router, _ = make_router(engine, FakeClock())

    await router.receive(sms(ALICE, V1, "hello all"))
    await router.receive(sms(BOB, V2, "hi Ann"))  # Bob has no display name: no prefix

    sent = [
        (o.recipient_number, o.proxy_number, o.text) for o in await interactions(engine, "OUTBOUND")
    ]
    assert sent == [
        (BOB, V2, "Ann: hello all"),
        (CAROL, V3, "Ann: hello all"),
        (ALICE, V1, "hi Ann"),
        (CAROL, V3, "hi Ann"),
    ]
    inbound = [i.text for i in await interactions(engine, "INBOUND")]
    assert inbound == ["hello all", "hi Ann"]  # recorded as written


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_the_busy_path_reads_the_pool_only_with_the_lookup(engine: AsyncEngine) -> None:
    """A forwarded message in a group whose pool has an end command and prefixes costs the
    statements of a plain pair: the pool's settings come with the session lookup."""
    pool_id = await add_pool(engine, [V1, V2, V3])
    await add_session(engine, pool_id, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock())
    with statements(engine) as plain:
        assert (await router.receive(sms(ALICE, V1, "hi"))).outcome is Outcome.FORWARDED

    await set_pool_columns(engine, end_command="#end", prefix_display_name=True)
    await add_session(engine, pool_id, [(STRANGER, V1), (BOB, V1), (CAROL, V3)])
    with statements(engine) as configured:
        assert (await router.receive(sms(STRANGER, V1, "hi"))).outcome is Outcome.FORWARDED

    assert len(configured) == len(plain)
    assert sum(" pool " in s.lower().replace("\n", " ") for s in configured) == 1
