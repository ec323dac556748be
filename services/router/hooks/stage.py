"""Stages: the pool's hooks, after keywords (numproxy answers those, never an app).

``consult_hooks``: a text in a live session of a pool that intercepts messages, or from
someone without one to a pool that resolves such texts, needs the hook's decision. Without one
attached the message is set aside (``Batch.defer``: its result is the HookCall the pipeline's
``receive`` makes, pipeline.py); with one, the decision is applied here:

    ResolveOutOfSession  DROP -> DROPPED; REPLY -> REPLIED (from the number texted, within
                         the automatic-reply budget, never to a sender who opted out of it);
                         CREATE_SESSION -> SESSION_CREATED (opened by decider.py), DROPPED
                         if it could not be (also for a retry of the message that opened the
                         session, which finds itself in it)
    InterceptMessage     ALLOW -> fan-out; REWRITE -> fan-out of the new text (the inbound
                         interaction keeps the original); BLOCK -> BLOCKED: recorded, not
                         forwarded, MESSAGE_BLOCKED, an optional reply to the sender
    failure modes        FAIL_OPEN -> as without a hook (fan-out, or the pool's static
                         policy); FAIL_CLOSED -> recorded in session (RECORDED) or DROPPED

``forget_deferred``, the batch's last stage: a message set aside leaves no trace in the
batch's transaction (its dedupe record and its stored part are deleted, its group's parts not
marked completed by multipart.complete_parts), so its next pass, or a retry of its webhook
after a crash, runs as if it were the first.

Pools without hooks pay nothing here: their hooks are None (read with the session lookup and
the pool policy, store/queries.py), checked once per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.decisions import SESSION_REQUEST_PREFIX, Decision, session_request_id
from numproxy.router.inbound.batch import Batch, Item, LiveSession
from numproxy.router.inbound.message import Outcome, TimedOutGroup
from numproxy.router.inbound.multipart import group_key
from numproxy.router.inbound.reply_budget import claim_replies
from numproxy.router.store import queries
from numproxy.router.store.queries import PoolHooks
from numproxy.router.store.states import EventType, HookAction, HookKind


@dataclass(frozen=True, slots=True)
class _Reply:
    """A reply a decision asks for, queued unless the sender opted out of the number or
    its automatic-reply budget refuses it (inbound/reply_budget.py)."""

    item: Item
    text: str
    pool_id: int
    outcome: Outcome
    # The least seconds since the previous automatic reply to the sender on the number; None:
    # the app decided this reply, it keeps to the budget only (inbound/reply_budget.py).
    interval: float | None
    session_id: str | None = None
    cause_id: str | None = None


async def consult_hooks(batch: Batch) -> None:
    replies: list[_Reply] = []
    for index, item in enumerate(batch.items):
        if item.result is not None or item.binary:
            continue
        decisions = item.source.decisions
        if decisions and _opened_session(batch, item, decisions):
            continue
        live = item.live
        hooks: PoolHooks | None
        if live is not None and batch.is_open_for(index, live.session_id):
            if live.request_id is not None and _opened_by(item, live.request_id):
                batch.decide(item, Outcome.SESSION_CREATED, live.session_id)
                continue
            hooks = live.hooks
            if hooks is None or not hooks.intercept:
                continue
            kind = HookKind.INTERCEPT_MESSAGE
        else:
            live = None
            hooks = item.pool.hooks if item.pool is not None else None
            if hooks is None or not hooks.resolve:
                continue
            kind = HookKind.RESOLVE_OUT_OF_SESSION
        decision = next((d for d in decisions if d.kind is kind), None)
        if decision is None:
            batch.defer(item, _call(item, kind, hooks, live))
        elif live is None:
            _resolve(batch, item, decision, replies)
        else:
            _intercept(batch, item, live, decision, replies)
    if replies:
        await _queue_replies(batch, replies)


async def forget_deferred(batch: Batch) -> None:
    if not batch.deferred:
        return
    ids: list[tuple[str, str]] = []
    parts: list[tuple[str, str, str, int]] = []
    for item in batch.deferred:
        sms = item.sms
        if sms is None:
            continue
        ids.append((sms.api_key, sms.message_id))
        key = group_key(item)
        if key is not None:
            parts.append((*key, sms.concat_part))
    await queries.forget_messages(batch.conn, ids, parts)


def message_key(item: Item) -> str:
    """The key of ``item``'s hook decisions: stable across every delivery of one message."""
    if isinstance(item.source, TimedOutGroup):
        return item.group_key
    return f"sms:{item.source.api_key}:{item.source.message_id}"


def _call(item: Item, kind: HookKind, hooks: PoolHooks, live: LiveSession | None) -> HookCall:
    if live is not None:
        pool_id, session_id = live.pool_id, live.session_id
    else:
        assert item.pool is not None
        pool_id, session_id = item.pool.pool_id, ""
    return HookCall(
        kind, message_key(item), hooks, pool_id, item.sender, item.proxy, item.text, session_id
    )


def _opened_session(batch: Batch, item: Item, decisions: tuple[Decision, ...]) -> bool:
    """A session its hook opened for ``item``: that is the message's outcome."""
    for decision in decisions:
        if decision.action is HookAction.CREATE_SESSION and decision.session_id:
            batch.decide(item, Outcome.SESSION_CREATED, decision.session_id)
            return True
    return False


def _opened_by(item: Item, request_id: str) -> bool:
    """Whether a hook opened the session with ``request_id`` for ``item``: a retry of the
    message that opened it, after a crash before that message's outcome committed."""
    return request_id.startswith(SESSION_REQUEST_PREFIX) and request_id == session_request_id(
        message_key(item)
    )


def _resolve(batch: Batch, item: Item, decision: Decision, replies: list[_Reply]) -> None:
    action = decision.action
    if action is HookAction.FAIL_OPEN:
        return  # the pool's own out-of-session policy (policy.py)
    if action is HookAction.REPLY:
        assert item.pool is not None
        replies.append(
            _Reply(
                item,
                decision.text,
                item.pool.pool_id,
                Outcome.REPLIED,
                None,
            )
        )
        return
    # DROP, FAIL_CLOSED, or a session the hook asked for that could not be opened.
    batch.decide(item, Outcome.DROPPED)


def _intercept(
    batch: Batch, item: Item, live: LiveSession, decision: Decision, replies: list[_Reply]
) -> None:
    note = f"{item.note}; {decision.note}" if item.note else decision.note
    action = decision.action
    if action in (HookAction.ALLOW, HookAction.FAIL_OPEN, HookAction.REWRITE):
        item.note = note
        if action is HookAction.REWRITE:
            item.forward_text = decision.text
        return  # forwarded by fan-out
    if action is HookAction.FAIL_CLOSED:
        batch.record_inbound(item, live, note)
        batch.decide(item, Outcome.RECORDED, live.session_id)
        return
    inbound_id = batch.record_held_back(item, live, note, EventType.MESSAGE_BLOCKED, note)
    if decision.text:
        replies.append(
            _Reply(
                item,
                decision.text,
                live.pool_id,
                Outcome.BLOCKED,
                None,
                live.session_id,
                inbound_id,
            )
        )
    else:
        batch.decide(item, Outcome.BLOCKED, live.session_id)


async def _queue_replies(batch: Batch, replies: list[_Reply]) -> None:
    opted_out = await queries.opted_out(
        batch.conn, ((reply.item.sender, reply.item.proxy) for reply in replies)
    )
    granted = await claim_replies(
        batch,
        (
            ((reply.item.sender, reply.item.proxy), reply.interval)
            for reply in replies
            if (reply.item.sender, reply.item.proxy) not in opted_out
        ),
    )
    for reply in replies:
        item = reply.item
        if (item.sender, item.proxy) not in granted:
            outcome = Outcome.DROPPED if reply.outcome is Outcome.REPLIED else reply.outcome
            batch.decide(item, outcome, reply.session_id)
            continue
        batch.queue_outbound(
            pool_id=reply.pool_id,
            proxy_number=item.proxy,
            recipient_number=item.sender,
            text=reply.text,
            session_id=reply.session_id,
            cause_id=reply.cause_id,
            traceparent=item.traceparent,
        )
        batch.decide(item, reply.outcome, reply.session_id, 1)
