"""Keywords and opt-outs (docs/concepts.md, the inbound pipeline) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.keywords import Keyword, classify
from numproxy.router.inbound.message import Outcome
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    get_session,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, STRANGER = "+15550100001", "+15550100002", "+15550100009"
V1, V2, V3 = "+15557000001", "+15557000002", "+15557000003"
SETTINGS = RouterSettings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP),
        ("  stop \n", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("quit", Keyword.STOP),
        ("StopAll", Keyword.STOP),
        ("start", Keyword.START),
        ("UNSTOP", Keyword.START),
        ("help", Keyword.HELP),
        ("stop it", None),
        ("please stop", None),
        ("", None),
        ("hello", None),
    ],
)
def test_classify_matches_the_whole_trimmed_message(text: str, expected: Keyword | None) -> None:
    assert classify(text, SETTINGS) is expected


def test_keyword_lists_are_configurable() -> None:
    settings = RouterSettings(stop_keywords=("ARRET",), help_keywords=("AIDE", "INFO"))

    assert classify("arret", settings) is Keyword.STOP
    assert classify("stop", settings) is None
    assert classify("Info", settings) is Keyword.HELP


async def opted_out(engine: AsyncEngine) -> set[tuple[str, str]]:
    """Which of every (number, proxy number) pair of this test opted out."""
    pairs = [(n, v) for n in (ALICE, BOB, STRANGER) for v in (V1, V2, V3)]
    async with engine.connect() as conn:
        return await queries.opted_out(conn, pairs)


async def _session(engine: AsyncEngine, **pool: str) -> str:
    pool_id = await add_pool(engine, [V1, V2, V3], **pool)  # type: ignore[arg-type]
    return await add_session(engine, pool_id, [(ALICE, V1), (BOB, V2)])


async def test_stop_opts_out_closes_the_session_and_confirms_once(engine: AsyncEngine) -> None:
    session_id = await _session(engine)
    router, notes = make_router(engine, FakeClock())

    result = await router.receive(sms(ALICE, V1, "Stop"))
    repeated = await router.receive(sms(ALICE, V1, "STOP"))

    assert (result.outcome, result.session_id) == (Outcome.KEYWORD, session_id)
    assert repeated.outcome is Outcome.KEYWORD
    session = await get_session(engine, session_id)
    assert (session.status, session.closed_reason) == ("CLOSED", "OPT_OUT")
    assert all(not p.active for p in session.participants)
    outbound = await interactions(engine, "OUTBOUND")
    # One confirmation to Alice from V1; nothing reaches Bob.
    assert [(o.proxy_number, o.recipient_number, o.text, o.session_id) for o in outbound] == [
        (V1, ALICE, SETTINGS.stop_reply, None)
    ]
    assert await opted_out(engine) == {(ALICE, V1)}
    assert notes.count == 1


async def test_stop_only_affects_the_number_it_was_sent_to(engine: AsyncEngine) -> None:
    pool_id = await add_pool(engine, [V1, V2, V3])
    first = await add_session(engine, pool_id, [(ALICE, V1), (BOB, V2)])
    second = await add_session(engine, pool_id, [(ALICE, V3), (STRANGER, V1)])
    router, _ = make_router(engine, FakeClock())

    await router.receive(sms(ALICE, V1, "STOP"))
    forwarded = await router.receive(sms(ALICE, V3, "still talking"))

    assert (await get_session(engine, first)).status == "CLOSED"
    assert forwarded.outcome is Outcome.FORWARDED
    assert forwarded.session_id == second


async def test_start_removes_the_opt_out_and_confirms(engine: AsyncEngine) -> None:
    await _session(engine)
    clock = FakeClock()
    router, _ = make_router(engine, clock)
    await router.receive(sms(ALICE, V1, "STOP"))
    clock.advance(1)

    result = await router.receive(sms(ALICE, V1, " start "))

    assert result.outcome is Outcome.KEYWORD
    assert (ALICE, V1) not in await opted_out(engine)
    texts = [o.text for o in await interactions(engine, "OUTBOUND")]
    assert texts == [SETTINGS.stop_reply, SETTINGS.start_reply]


async def test_help_answers_and_keeps_the_session(engine: AsyncEngine) -> None:
    session_id = await _session(engine)
    router, _ = make_router(engine, FakeClock(), RouterSettings(help_reply="Call 555."))

    result = await router.receive(sms(BOB, V2, "HELP"))

    assert (result.outcome, result.session_id) == (Outcome.KEYWORD, session_id)
    assert (await get_session(engine, session_id)).status != "CLOSED"
    outbound = await interactions(engine, "OUTBOUND")
    assert [(o.proxy_number, o.recipient_number, o.text) for o in outbound] == [
        (V2, BOB, "Call 555.")
    ]
    [inbound] = await interactions(engine, "INBOUND")
    assert inbound.note == "keyword HELP"


async def test_keyword_from_a_stranger_is_handled_without_a_session(engine: AsyncEngine) -> None:
    await _session(engine)
    router, _ = make_router(engine, FakeClock())

    result = await router.receive(sms(STRANGER, V3, "stop"))

    assert (result.outcome, result.session_id) == (Outcome.KEYWORD, None)
    assert (STRANGER, V3) in await opted_out(engine)
    assert [o.recipient_number for o in await interactions(engine, "OUTBOUND")] == [STRANGER]


async def test_opted_out_sender_gets_no_out_of_session_reply(engine: AsyncEngine) -> None:
    await _session(engine, policy="REPLY", reply="Conversation ended.")
    router, _ = make_router(engine, FakeClock())
    await router.receive(sms(STRANGER, V3, "STOP"))

    result = await router.receive(sms(STRANGER, V3, "hello?"))

    assert result.outcome is Outcome.DROPPED
    assert [o.text for o in await interactions(engine, "OUTBOUND")] == [SETTINGS.stop_reply]
