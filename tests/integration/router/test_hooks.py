"""Hooks through the inbound pipeline with a real app HookService (grpc.aio on a free port),
on SQLite and PostgreSQL: each outcome, each failure mode, one decision per message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.client import HookClient
from numproxy.router.hooks.decider import HookDecider
from numproxy.router.hooks.decisions import Decision
from numproxy.router.inbound.message import Outcome
from numproxy.router.sessions.sessions import Sessions
from numproxy.router.settings import RouterSettings
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import Event, HookDecision, Participant, Session
from numproxy.v1 import hook_pb2, session_pb2
from tests.support.hook_server import ScriptedHooks, hook_server
from tests.support.postgres import free_port
from tests.support.router_inbound import (
    FakeClock,
    InboundUnderTest,
    add_pool,
    add_session,
    factory,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, STRANGER = "+15550100001", "+15550100002", "+15550100009"
V1, V2, V3, W1, W2 = (
    "+15557000001",
    "+15557000002",
    "+15557000003",
    "+15557000101",
    "+15557000102",
)


@dataclass
class Rig:
    engine: AsyncEngine
    hooks: ScriptedHooks
    address: str
    router: InboundUnderTest
    decider: HookDecider
    clock: FakeClock


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[Rig]:
    hooks = ScriptedHooks(delay=2.0)
    client = HookClient(None)
    clock = FakeClock()
    decider = HookDecider(engine, client, Sessions(session_factory(engine), clock), clock)
    router, _ = make_router(engine, clock, RouterSettings(dedupe_retention=3600), decider)
    async with hook_server(hooks) as address:
        yield Rig(engine, hooks, address, router, decider, clock)
    await client.close()


async def hooked_pool(rig: Rig, numbers: list[str], **columns: object) -> int:
    settings = {"hook_address": rig.address, "hook_resolve": True, "hook_intercept": True}
    return await add_pool(rig.engine, numbers, **{**settings, **columns})


async def events(engine: AsyncEngine, type_: str) -> list[Event]:
    async with factory(engine)() as db:
        return list((await db.scalars(select(Event).where(Event.type == type_))).all())


async def test_a_hook_opens_a_session_once_for_a_retried_message(rig: Rig) -> None:
    await hooked_pool(rig, [V1, V2, V3])
    ttl = Duration(seconds=600)
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        create_session=hook_pb2.CreateSessionAction(
            participants=[
                session_pb2.ParticipantSpec(number=r.sender_number, greeting="You're connected"),
                session_pb2.ParticipantSpec(number=BOB, greeting="A customer asks: " + r.text),
            ],
            ttl=ttl,
            metadata={"via": "directory"},
        )
    )

    class CrashOnce:
        """The decision is recorded, then the process dies before the message commits."""

        crashed = False

        async def decide(self, call: HookCall) -> Decision:
            decision = await rig.decider.decide(call)
            if not self.crashed:
                self.crashed = True
                raise ConnectionResetError("the router died")
            return decision

    crashing, _ = make_router(rig.engine, rig.clock, hooks=CrashOnce())
    with pytest.raises(ConnectionResetError):
        await crashing.receive(sms(STRANGER, V1, "pizza", message_id="m1"))
    retried = await rig.router.receive(sms(STRANGER, V1, "pizza", message_id="m1"))
    again = await rig.router.receive(sms(STRANGER, V1, "pizza", message_id="m1"))

    assert retried.outcome is Outcome.SESSION_CREATED and retried.session_id
    assert again.outcome is Outcome.DUPLICATE
    assert rig.hooks.calls("pizza") == 1
    [request] = rig.hooks.resolve_calls
    assert (request.pool, request.sender_number, request.proxy_number, request.message_key) == (
        "pools/default",
        STRANGER,
        V1,
        "sms:key1:m1",
    )
    async with factory(rig.engine)() as db:
        sessions = (await db.scalars(select(Session))).all()
        numbers = (await db.scalars(select(Participant.number))).all()
    assert [(s.id, s.ttl_seconds, s.attributes) for s in sessions] == [
        (retried.session_id, 600, {"via": "directory"})
    ]
    assert sorted(numbers) == sorted([STRANGER, BOB])
    greetings = {(o.recipient_number, o.text) for o in await interactions(rig.engine, "OUTBOUND")}
    assert greetings == {(STRANGER, "You're connected"), (BOB, "A customer asks: pizza")}


async def test_a_session_that_cannot_be_opened_drops_the_text(rig: Rig) -> None:
    await hooked_pool(rig, [V1])
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        create_session=hook_pb2.CreateSessionAction(
            participants=[
                session_pb2.ParticipantSpec(number=r.sender_number),
                session_pb2.ParticipantSpec(number=r.sender_number),
            ]
        )
    )

    result = await rig.router.receive(sms(STRANGER, V1, "same twice", message_id="m1"))

    assert result.outcome is Outcome.DROPPED
    async with factory(rig.engine)() as db:
        [stored] = (await db.scalars(select(HookDecision.decision))).all()
    assert stored["action"] == "CREATE_SESSION"
    assert stored["reason"].startswith("SAME_PARTICIPANT_NUMBER")


async def test_a_hook_session_with_a_proxy_number_as_participant_is_refused(rig: Rig) -> None:
    await hooked_pool(rig, [V1, V2])
    # An app that "connects" the sender with the number it texted: a relay to itself.
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        create_session=hook_pb2.CreateSessionAction(
            participants=[
                session_pb2.ParticipantSpec(number=r.sender_number),
                session_pb2.ParticipantSpec(number=r.proxy_number),
            ]
        )
    )

    result = await rig.router.receive(sms(STRANGER, V1, "loop me", message_id="m1"))

    assert result.outcome is Outcome.DROPPED
    async with factory(rig.engine)() as db:
        [stored] = (await db.scalars(select(HookDecision.decision))).all()
        sessions = (await db.scalars(select(Session))).all()
    assert stored["reason"].startswith("PROXY_NUMBER_AS_PARTICIPANT")
    assert sessions == []


async def test_reply_and_drop(rig: Rig) -> None:
    await hooked_pool(rig, [V1])
    rig.hooks.resolve = lambda r: (
        hook_pb2.ResolveOutOfSessionResponse(reply=hook_pb2.ReplyAction(text="Text MENU"))
        if r.text == "hi"
        else hook_pb2.ResolveOutOfSessionResponse(drop=hook_pb2.DropAction())
    )

    replied = await rig.router.receive(sms(STRANGER, V1, "hi"))
    dropped = await rig.router.receive(sms(STRANGER, V1, "spam"))

    assert (replied.outcome, dropped.outcome) == (Outcome.REPLIED, Outcome.DROPPED)
    sent = await interactions(rig.engine, "OUTBOUND")
    assert [(o.proxy_number, o.recipient_number, o.text) for o in sent] == [
        (V1, STRANGER, "Text MENU")
    ]


async def test_intercept_allow_block_rewrite(rig: Rig) -> None:
    pool = await hooked_pool(rig, [V1, V2])
    session_id = await add_session(rig.engine, pool, [(ALICE, V1), (BOB, V2)])
    answers = {
        "hello": hook_pb2.InterceptMessageResponse(allow=hook_pb2.AllowAction()),
        "call me at 555": hook_pb2.InterceptMessageResponse(
            rewrite=hook_pb2.RewriteAction(text="call me at [removed]")
        ),
        "pay outside": hook_pb2.InterceptMessageResponse(
            block=hook_pb2.BlockAction(reply_text="Not allowed here.")
        ),
    }
    rig.hooks.intercept = lambda r: answers[r.text]

    results = [await rig.router.receive(sms(ALICE, V1, text)) for text in answers]

    assert [r.outcome for r in results] == [Outcome.FORWARDED, Outcome.FORWARDED, Outcome.BLOCKED]
    assert {r.session_id for r in results} == {session_id}
    assert [r.session for r in rig.hooks.intercept_calls] == [f"sessions/{session_id}"] * 3
    received = await interactions(rig.engine, "INBOUND")
    assert [(i.text, i.note) for i in received] == [
        ("hello", "hook: allow"),
        ("call me at 555", "hook: rewrite"),
        ("pay outside", "hook: block"),
    ]
    sent = await interactions(rig.engine, "OUTBOUND")
    assert [(o.recipient_number, o.text) for o in sent] == [
        (BOB, "hello"),
        (BOB, "call me at [removed]"),
        (ALICE, "Not allowed here."),
    ]
    assert len(await events(rig.engine, "MESSAGE_BLOCKED")) == 1


@pytest.mark.parametrize("mode", ["FAIL_OPEN", "FAIL_CLOSED"])
async def test_a_hook_that_is_down_applies_the_failure_mode(rig: Rig, mode: str) -> None:
    pool = await add_pool(
        rig.engine,
        [V1, V2],
        hook_address=f"127.0.0.1:{free_port()}",
        hook_intercept=True,
        hook_resolve=True,
        hook_failure_mode=mode,
        policy="REPLY",
        reply="No conversation here.",
    )
    await add_session(rig.engine, pool, [(ALICE, V1), (BOB, V2)])

    in_session = await rig.router.receive(sms(ALICE, V1, "hi Bob"))
    stranger = await rig.router.receive(sms(STRANGER, V1, "hi?"))

    if mode == "FAIL_OPEN":
        assert (in_session.outcome, stranger.outcome) == (Outcome.FORWARDED, Outcome.REPLIED)
    else:
        assert (in_session.outcome, stranger.outcome) == (Outcome.RECORDED, Outcome.DROPPED)
    failed = await events(rig.engine, "HOOK_FAILED")
    assert sorted(e.reason for e in failed) == sorted(
        [f"INTERCEPT unavailable: {mode}", f"RESOLVE unavailable: {mode}"]
    )
    assert {e.pool_id for e in failed} == {pool}


async def test_a_hook_past_its_deadline_times_out_and_other_pools_go_on(rig: Rig) -> None:
    hooked = await hooked_pool(rig, [V1, V2], hook_deadline_ms=600, hook_failure_mode="FAIL_CLOSED")
    plain = await add_pool(rig.engine, [W1, W2], name="plain")
    await add_session(rig.engine, hooked, [(ALICE, V1), (BOB, V2)])
    await add_session(rig.engine, plain, [(ALICE, W1), (BOB, W2)])
    loop = asyncio.get_running_loop()

    started = loop.time()
    hanging = asyncio.create_task(rig.router.receive(sms(ALICE, V1, "hang")))
    await asyncio.sleep(0.1)  # the hook is being called
    other = await rig.router.receive(sms(ALICE, W1, "meanwhile"))
    other_done = loop.time() - started
    timed_out = await hanging

    assert other.outcome is Outcome.FORWARDED
    assert other_done < 0.5, "another pool's text waited for the hook"
    assert timed_out.outcome is Outcome.RECORDED
    assert 0.6 <= loop.time() - started < 1.5
    [failed] = await events(rig.engine, "HOOK_FAILED")
    assert failed.reason == "INTERCEPT timeout: FAIL_CLOSED"


async def test_an_answer_without_an_action_is_a_failure(rig: Rig) -> None:
    await hooked_pool(rig, [V1], policy="REPLY", reply="Static reply")
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse()

    result = await rig.router.receive(sms(STRANGER, V1, "hi"))

    assert result.outcome is Outcome.REPLIED  # FAIL_OPEN: the pool's static policy
    [failed] = await events(rig.engine, "HOOK_FAILED")
    assert failed.reason == "RESOLVE bad answer: no action: FAIL_OPEN"


async def test_concurrent_deliveries_of_one_message_apply_one_decision(rig: Rig) -> None:
    await hooked_pool(rig, [V1])
    answers = iter(["first", "second"])
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        reply=hook_pb2.ReplyAction(text=next(answers))
    )
    results = await asyncio.gather(
        *(rig.router.receive(sms(STRANGER, V1, "x", message_id="same")) for _ in range(2))
    )

    assert sorted(r.outcome.value for r in results) == ["DUPLICATE", "REPLIED"]
    [sent] = await interactions(rig.engine, "OUTBOUND")
    async with factory(rig.engine)() as db:
        [stored] = (await db.scalars(select(HookDecision.decision))).all()
    assert sent.text == stored["text"]  # whichever answer was recorded first, and only it


async def test_a_timed_out_multipart_group_asks_the_hook_once(rig: Rig) -> None:
    await hooked_pool(rig, [V1])
    rig.hooks.resolve = lambda r: hook_pb2.ResolveOutOfSessionResponse(
        reply=hook_pb2.ReplyAction(text=f"got {r.text}")
    )
    await rig.router.receive(
        sms(STRANGER, V1, "part one ", concat_ref="r", concat_total=3, concat_part=1)
    )
    rig.clock.advance(RouterSettings().multipart_timeout + 1)

    assert await rig.router.flush_incomplete() == 1
    assert await rig.router.flush_incomplete() == 0

    [request] = rig.hooks.resolve_calls
    assert request.text == "part one " and request.message_key.startswith("group:")
    sent = await interactions(rig.engine, "OUTBOUND")
    assert [o.text for o in sent] == ["got part one "]


async def test_decisions_are_purged_with_the_dedupe_records(rig: Rig) -> None:
    await hooked_pool(rig, [V1])
    await rig.router.receive(sms(STRANGER, V1, "hi"))
    rig.clock.advance(timedelta(hours=2).total_seconds())

    await rig.router.purge()

    async with factory(rig.engine)() as db:
        assert await db.scalar(select(func.count()).select_from(HookDecision)) == 0
