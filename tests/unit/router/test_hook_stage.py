"""The hook stage (router/hooks/stage.py) and the pipeline's passes, with a scripted decider,
on SQLite and PostgreSQL: which messages are set aside, that a message set aside leaves no
trace, and how each decision is applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.decisions import Decision
from numproxy.router.hooks.stage import consult_hooks, forget_deferred
from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.dedupe import dedupe
from numproxy.router.inbound.keywords import answer_keywords
from numproxy.router.inbound.lookup import find_pools, find_sessions
from numproxy.router.inbound.message import Inbound, Outcome, TimedOutGroup
from numproxy.router.inbound.multipart import complete_parts, reassemble
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import Event, InboundMessage, MessagePart, OptOut
from numproxy.router.store.states import HookAction, HookKind
from tests.support.router_inbound import (
    START,
    FakeClock,
    add_pool,
    add_session,
    factory,
    interactions,
    make_router,
    sms,
)

ALICE, BOB, STRANGER = "+15550100001", "+15550100002", "+15550100009"
V1, V2 = "+15557000001", "+15557000002"
HOOKS = {"hook_address": "127.0.0.1:1", "hook_resolve": True, "hook_intercept": True}
UP_TO_HOOKS = (dedupe, find_sessions, find_pools, reassemble, answer_keywords, consult_hooks)
RESOLVE, INTERCEPT = HookKind.RESOLVE_OUT_OF_SESSION, HookKind.INTERCEPT_MESSAGE


class ScriptedDecider:
    """Answers each kind with a scripted decision and counts the calls."""

    def __init__(self, **by_kind: Decision) -> None:
        self.by_kind = {decision.kind: decision for decision in by_kind.values()}
        self.calls: list[HookCall] = []

    async def decide(self, call: HookCall) -> Decision:
        self.calls.append(call)
        return self.by_kind[call.kind]


async def run(engine: AsyncEngine, messages: Sequence[Inbound], *stages: Any) -> Batch:
    items = [Item.of(m) for m in messages]
    async with engine.begin() as conn:
        batch = Batch(conn, RouterSettings(), START, items)
        for stage in stages:
            await stage(batch)
    return batch


async def count(engine: AsyncEngine, model: Any) -> int:
    async with factory(engine)() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_pools_without_hooks_set_nothing_aside(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2])
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    batch = await run(engine, [sms(ALICE, V1), sms(STRANGER, V1)], *UP_TO_HOOKS)

    assert batch.deferred == []
    assert [item.result for item in batch.items] == [None, None]
    assert batch.items[0].live is not None and batch.items[0].live.hooks is None


async def test_a_text_needing_a_hook_is_set_aside_without_a_trace(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2], hook_deadline_ms=700, **HOOKS)
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    batch = await run(
        engine,
        [sms(ALICE, V1, "hi", message_id="m1"), sms(STRANGER, V1, "who?", message_id="m2")],
        *UP_TO_HOOKS,
        forget_deferred,
    )

    intercept, resolve = (item.result for item in batch.items)
    assert isinstance(intercept, HookCall) and isinstance(resolve, HookCall)
    assert (intercept.kind, intercept.message_key, intercept.session_id, intercept.text) == (
        INTERCEPT,
        "sms:key1:m1",
        session_id,
        "hi",
    )
    assert (resolve.kind, resolve.message_key, resolve.session_id, resolve.pool_id) == (
        RESOLVE,
        "sms:key1:m2",
        "",
        pool,
    )
    assert (resolve.hooks.pool_name, resolve.deadline) == ("default", 0.7)
    assert await count(engine, InboundMessage) == 0  # a retry is not a duplicate
    assert await interactions(engine) == []
    assert await count(engine, Event) == 0


async def test_keywords_and_binary_never_reach_a_hook(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, [V1, V2], **HOOKS)
    await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])

    batch = await run(engine, [sms(ALICE, V1, "HELP"), sms(ALICE, V1, binary=True)], *UP_TO_HOOKS)

    assert batch.deferred == []
    assert getattr(batch.items[0].result, "outcome", None) is Outcome.KEYWORD
    assert batch.items[1].result is None  # recorded by fan-out, not forwarded


async def test_a_multipart_text_set_aside_leaves_its_group_waiting(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], **HOOKS)

    def part(n: int, text: str) -> Inbound:
        return sms(
            STRANGER, V1, text, message_id=f"p{n}", concat_ref="r", concat_total=2, concat_part=n
        )

    await run(engine, [part(1, "a")], *UP_TO_HOOKS, complete_parts, forget_deferred)
    batch = await run(engine, [part(2, "b")], *UP_TO_HOOKS, complete_parts, forget_deferred)

    call = batch.items[0].result
    assert isinstance(call, HookCall) and call.text == "ab"
    async with factory(engine)() as db:
        parts = (await db.execute(select(MessagePart.part, MessagePart.completed_at))).all()
        ids = set((await db.execute(select(InboundMessage.message_id))).scalars())
    assert parts == [(1, None)]  # part 2 forgotten, part 1 still waiting
    assert ids == {"p1"}

    again = await run(engine, [part(2, "b")], *UP_TO_HOOKS, complete_parts, forget_deferred)
    assert isinstance(again.items[0].result, HookCall)  # as if it were the first time


async def test_a_timed_out_group_set_aside_is_not_taken(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], **HOOKS)
    await run(
        engine,
        [sms(STRANGER, V1, "a", concat_ref="r", concat_total=3, concat_part=1)],
        *UP_TO_HOOKS,
        complete_parts,
    )
    group = TimedOutGroup(STRANGER, V1, "r", START)

    first = await run(engine, [group], *UP_TO_HOOKS, complete_parts, forget_deferred)
    second = await run(engine, [group], *UP_TO_HOOKS, complete_parts, forget_deferred)

    calls = [batch.items[0].result for batch in (first, second)]
    assert all(isinstance(call, HookCall) for call in calls)
    keys = {call.message_key for call in calls if isinstance(call, HookCall)}
    assert len(keys) == 1 and keys.pop().startswith(f"group:{STRANGER}:{V1}:r:")


def resolve(action: HookAction, **kw: Any) -> Decision:
    return Decision(RESOLVE, action, **kw)


def intercept(action: HookAction, **kw: Any) -> Decision:
    return Decision(INTERCEPT, action, **kw)


@pytest.mark.parametrize(
    ("decision", "outcome", "replies"),
    [
        (resolve(HookAction.DROP), Outcome.DROPPED, []),
        (
            resolve(HookAction.REPLY, text="Text SHOP to start"),
            Outcome.REPLIED,
            ["Text SHOP to start"],
        ),
        (resolve(HookAction.FAIL_OPEN, reason="timeout"), Outcome.REPLIED, ["Pool reply"]),
        (resolve(HookAction.FAIL_CLOSED, reason="timeout"), Outcome.DROPPED, []),
        (resolve(HookAction.CREATE_SESSION, reason="POOL_EXHAUSTED: no"), Outcome.DROPPED, []),
        (resolve(HookAction.CREATE_SESSION, session_id="s-1"), Outcome.SESSION_CREATED, []),
    ],
)
async def test_out_of_session_decisions(
    engine: AsyncEngine, decision: Decision, outcome: Outcome, replies: list[str]
) -> None:
    await add_pool(engine, [V1], policy="REPLY", reply="Pool reply", **HOOKS)
    decider = ScriptedDecider(resolve=decision)
    router, _ = make_router(engine, FakeClock(), hooks=decider)

    result = await router.receive(sms(STRANGER, V1, "hello"))

    assert result.outcome is outcome
    assert len(decider.calls) == 1
    sent = await interactions(engine, "OUTBOUND")
    assert [(o.proxy_number, o.recipient_number, o.text) for o in sent] == [
        (V1, STRANGER, text) for text in replies
    ]


async def test_a_hook_reply_keeps_to_the_reply_budget_and_skips_opted_out_senders(
    engine: AsyncEngine,
) -> None:
    await add_pool(engine, [V1, V2], **HOOKS)
    decider = ScriptedDecider(resolve=resolve(HookAction.REPLY, text="hi"))
    clock = FakeClock()
    # The app decided each reply: no least interval between them, only the budget (3 here).
    router, _ = make_router(engine, clock, RouterSettings(auto_reply_budget=3), hooks=decider)
    async with factory(engine)() as db, db.begin():
        db.add(OptOut(number=ALICE, proxy_number=V2, created_at=START))

    results = [await router.receive(sms(STRANGER, V1, "x")) for _ in range(4)]
    clock.advance(24 * 3600)  # a new budget window
    later = await router.receive(sms(STRANGER, V1, "x"))
    opted_out = await router.receive(sms(ALICE, V2, "x"))

    assert [r.outcome for r in results] == [Outcome.REPLIED] * 3 + [Outcome.DROPPED]
    assert later.outcome is Outcome.REPLIED
    assert opted_out.outcome is Outcome.DROPPED
    assert [o.recipient_number for o in await interactions(engine, "OUTBOUND")] == [STRANGER] * 4


@pytest.mark.parametrize(
    ("decision", "outcome", "forwarded", "note"),
    [
        (intercept(HookAction.ALLOW), Outcome.FORWARDED, ["my number is 555"], "hook: allow"),
        (
            intercept(HookAction.REWRITE, text="my number is ***"),
            Outcome.FORWARDED,
            ["my number is ***"],
            "hook: rewrite",
        ),
        (
            intercept(HookAction.FAIL_OPEN, reason="unavailable"),
            Outcome.FORWARDED,
            ["my number is 555"],
            "hook failed (unavailable): FAIL_OPEN",
        ),
        (
            intercept(HookAction.FAIL_CLOSED, reason="timeout"),
            Outcome.RECORDED,
            [],
            "hook failed (timeout): FAIL_CLOSED",
        ),
        (intercept(HookAction.BLOCK), Outcome.BLOCKED, [], "hook: block"),
    ],
)
async def test_in_session_decisions(
    engine: AsyncEngine, decision: Decision, outcome: Outcome, forwarded: list[str], note: str
) -> None:
    pool = await add_pool(engine, [V1, V2], **HOOKS)
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    router, _ = make_router(engine, FakeClock(), hooks=ScriptedDecider(intercept=decision))

    result = await router.receive(sms(ALICE, V1, "my number is 555"))

    assert (result.outcome, result.session_id) == (outcome, session_id)
    [received] = await interactions(engine, "INBOUND")
    assert (received.text, received.note) == ("my number is 555", note)
    sent = await interactions(engine, "OUTBOUND")
    assert [(o.proxy_number, o.recipient_number, o.text) for o in sent] == [
        (V2, BOB, text) for text in forwarded
    ]


async def test_a_block_with_a_reply_answers_the_sender_and_writes_an_event(
    engine: AsyncEngine,
) -> None:
    pool = await add_pool(engine, [V1, V2], **HOOKS)
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    decision = intercept(HookAction.BLOCK, text="Please keep it on the platform.")
    router, _ = make_router(engine, FakeClock(), hooks=ScriptedDecider(intercept=decision))

    result = await router.receive(sms(ALICE, V1, "pay me outside"))

    assert (result.outcome, result.queued) == (Outcome.BLOCKED, 1)
    [reply] = await interactions(engine, "OUTBOUND")
    assert (reply.proxy_number, reply.recipient_number, reply.text, reply.session_id) == (
        V1,
        ALICE,
        "Please keep it on the platform.",
        session_id,
    )
    async with factory(engine)() as db:
        types = list((await db.execute(select(Event.type).order_by(Event.seq))).scalars())
    assert types == ["MESSAGE_RECEIVED", "MESSAGE_BLOCKED", "OUTBOUND_QUEUED"]


async def test_the_decision_of_the_situation_a_message_is_in_applies(engine: AsyncEngine) -> None:
    """A session opened between passes: the message now needs the intercept hook too."""
    pool = await add_pool(engine, [V1, V2], **HOOKS)

    class OpensMeanwhile(ScriptedDecider):
        async def decide(self, call: HookCall) -> Decision:
            if call.kind is RESOLVE:
                await add_session(engine, pool, [(STRANGER, V1), (BOB, V2)])
            return await super().decide(call)

    decider = OpensMeanwhile(
        resolve=resolve(HookAction.DROP), intercept=intercept(HookAction.ALLOW)
    )
    router, _ = make_router(engine, FakeClock(), hooks=decider)

    result = await router.receive(sms(STRANGER, V1, "hello"))

    assert result.outcome is Outcome.FORWARDED
    assert [call.kind for call in decider.calls] == [RESOLVE, INTERCEPT]


async def test_without_a_decider_the_pools_failure_mode_applies(engine: AsyncEngine) -> None:
    await add_pool(engine, [V1], hook_failure_mode="FAIL_CLOSED", **HOOKS)
    router, _ = make_router(engine, FakeClock())

    assert (await router.receive(sms(STRANGER, V1, "hi"))).outcome is Outcome.DROPPED
