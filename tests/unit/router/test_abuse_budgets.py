"""The automatic-reply budget (one rule for keyword answers, confirmations and out-of-session
replies) and the session rate cap, through the inbound pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.message import Outcome
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import ReplyLog
from tests.support.events import written
from tests.support.router_inbound import (
    FakeClock,
    add_pool,
    add_session,
    factory,
    get_session,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, STRANGER = "+15550100001", "+15550100002", "+15550100009"
V1, V2 = "+15557000001", "+15557000002"


async def replies_to(engine: AsyncEngine, number: str) -> list[str]:
    return [o.text for o in await interactions(engine, "OUTBOUND") if o.recipient_number == number]


async def test_keyword_answers_keep_to_the_interval_and_the_budget(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1])
    clock = FakeClock()
    settings = RouterSettings(auto_reply_interval=60, auto_reply_budget=3, auto_reply_window=3600)
    router, _ = make_router(engine, clock, settings)

    outcomes = []
    for _ in range(6):  # a HELP every 30 s: every other one is within the interval
        outcomes.append((await router.receive(sms(STRANGER, V1, "HELP"))).queued)
        clock.advance(30)
    # Three answers spent the window's budget: a minute later still nothing.
    clock.advance(60)
    outcomes.append((await router.receive(sms(STRANGER, V1, "HELP"))).queued)
    # A new window, a new budget.
    clock.advance(3600)
    outcomes.append((await router.receive(sms(STRANGER, V1, "HELP"))).queued)

    assert outcomes == [1, 0, 1, 0, 1, 0, 0, 1]
    assert await replies_to(engine, STRANGER) == [settings.help_reply] * 4


async def test_every_kind_of_automatic_reply_draws_on_one_budget(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], policy="REPLY", reply="No chat here", reply_interval=60)
    clock = FakeClock()
    settings = RouterSettings(auto_reply_interval=60, auto_reply_budget=3)
    router, _ = make_router(engine, clock, settings)

    help_answer = await router.receive(sms(STRANGER, V1, "HELP"))
    too_soon = await router.receive(sms(STRANGER, V1, "hello?"))  # within 60 s of the HELP
    clock.advance(61)
    replied = await router.receive(sms(STRANGER, V1, "hello?"))
    stopped = await router.receive(sms(STRANGER, V1, "STOP"))  # confirmed at once
    started = await router.receive(sms(STRANGER, V1, "START"))  # budget spent
    clock.advance(61)
    out_of_budget = await router.receive(sms(STRANGER, V1, "hello?"))

    assert [r.queued for r in (help_answer, too_soon, replied, stopped, started)] == [1, 0, 1, 1, 0]
    assert (too_soon.outcome, out_of_budget.outcome) == (Outcome.DROPPED, Outcome.DROPPED)
    assert await replies_to(engine, STRANGER) == [
        settings.help_reply,
        "No chat here",
        settings.stop_reply,
    ]
    async with factory(engine)() as db:
        [log] = (await db.scalars(select(ReplyLog))).all()
    assert (log.sender_number, log.proxy_number, log.window_replies) == (STRANGER, V1, 3)


async def test_opt_out_confirmations_start_no_interval(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1])
    settings = RouterSettings(auto_reply_interval=60)
    router, _ = make_router(engine, FakeClock(), settings)

    answered = [
        (await router.receive(sms(STRANGER, V1, text))).queued
        for text in ("STOP", "START", "HELP", "HELP")
    ]

    assert answered == [1, 1, 1, 0]  # the second HELP is within the first one's interval
    assert await replies_to(engine, STRANGER) == [
        settings.stop_reply,
        settings.start_reply,
        settings.help_reply,
    ]


async def test_a_runaway_session_is_closed_rate_limited_with_its_event(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    clock = FakeClock()
    settings = RouterSettings(session_rate_max_messages=4, session_rate_window=60)
    router, _ = make_router(engine, clock, settings)

    outcomes = []
    for n in range(3):  # a new window each minute: 3 messages are within the cap
        outcomes.append((await router.receive(sms(ALICE, V1, f"slow {n}"))).outcome)
        clock.advance(61)
    for n in range(5):  # 5 in one window: the fifth goes over
        sender, proxy = (ALICE, V1) if n % 2 == 0 else (BOB, V2)
        outcomes.append((await router.receive(sms(sender, proxy, f"fast {n}"))).outcome)
    after = await router.receive(sms(BOB, V2, "after"))

    assert outcomes == [Outcome.FORWARDED] * 7 + [Outcome.RECORDED]
    assert after.outcome is Outcome.DROPPED  # the session is closed: out of session
    session = await get_session(engine, session_id)
    assert (session.status, session.closed_reason) == ("CLOSED", "RATE_LIMITED")
    forwarded = [o.text for o in await interactions(engine, "OUTBOUND")]
    assert forwarded == ["slow 0", "slow 1", "slow 2", "fast 0", "fast 1", "fast 2", "fast 3"]
    events = await written(engine, "SESSION_RATE_LIMITED", "SESSION_CLOSED")
    assert [(e.type, e.session_id, e.reason) for e in events] == [
        ("SESSION_RATE_LIMITED", session_id, "more than 4 messages in 60 s"),
        ("SESSION_CLOSED", session_id, "RATE_LIMITED"),
    ]
    assert events[0].participant == ALICE


async def test_the_cap_counts_across_batches_and_zero_turns_it_off(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    capped = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    free = await add_session(engine, pool, [(STRANGER, V1), (BOB, V1)])
    clock = FakeClock()
    router, _ = make_router(engine, clock, RouterSettings(session_rate_max_messages=2))
    unlimited, _ = make_router(engine, clock, RouterSettings(session_rate_max_messages=0))

    first = [(await router.receive(sms(ALICE, V1, f"m{n}"))).outcome for n in range(3)]
    many = [(await unlimited.receive(sms(STRANGER, V1, f"m{n}"))).outcome for n in range(10)]

    assert first == [Outcome.FORWARDED, Outcome.FORWARDED, Outcome.RECORDED]
    assert (await get_session(engine, capped)).closed_reason == "RATE_LIMITED"
    assert many == [Outcome.FORWARDED] * 10
    assert (await get_session(engine, free)).status != "CLOSED"
