"""Deciding a message a hook is consulted on: once, whoever asks.

The decision recorded for (message key, kind) wins: a retried webhook, or the same message
delivered to two replicas at once, applies the one decision recorded first, so an app's hook
never has two outcomes for one message. Otherwise the app is asked (outside any transaction)
and its answer recorded with insert-or-ignore, reading back the winner. A failure is recorded
the same way, with its HOOK_FAILED event in the same transaction.

One process asks the app once per message: concurrent deliveries of a message join the
decision under way, and a delivery whose webhook gave up (the gateway's deadline) does not
cancel it, so the webhook's retry finds it recorded.

CREATE_SESSION opens the session here, before the message goes through the pipeline again,
with a request_id derived from the message key: a retry finds the same session instead of
opening a second one. The session's id (or why it could not be opened) is recorded with the
decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import Aborted, DomainError, Unavailable
from numproxy.common.numbers import mask, mask_numbers_in
from numproxy.router.clock import Clock
from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.client import HookClient
from numproxy.router.hooks.decisions import Decision, session_request_id
from numproxy.router.sessions.sessions import ParticipantSpec, Sessions, SessionSpec
from numproxy.router.store import events, queries, rows
from numproxy.router.store.dialect import READ_ONLY
from numproxy.router.store.states import EventType, HookAction

log = logging.getLogger(__name__)


class HookDecider:
    def __init__(
        self,
        engine: AsyncEngine,
        client: HookClient,
        sessions: Sessions,
        clock: Clock,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._sessions = sessions
        self._clock = clock
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events
        # Decisions under way, by (message key, kind); each lasts one hook deadline or so.
        self._under_way: dict[tuple[str, str], asyncio.Task[Decision]] = {}

    async def decide(self, call: HookCall) -> Decision:
        key = (call.message_key, call.kind)
        task = self._under_way.get(key)
        if task is None:
            task = asyncio.create_task(self._decide(call), name="hook-decision")
            self._under_way[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: tuple[str, str], task: asyncio.Task[Decision]) -> None:
        self._under_way.pop(key, None)
        if not task.cancelled():
            task.exception()  # the callers that still wait get it; none left: not an error

    async def _decide(self, call: HookCall) -> Decision:
        decision = await self._recorded(call)
        if decision is None:
            decision = await self._record(call, await self._client.ask(call))
        if not decision.settled:
            decision = await self._open_session(call, decision)
        return decision

    async def _recorded(self, call: HookCall) -> Decision | None:
        async with self._engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                found = await queries.hook_decision(conn, call.message_key, call.kind)
        return Decision.from_json(call.kind, found) if found is not None else None

    async def _record(self, call: HookCall, decision: Decision) -> Decision:
        """Record ``decision`` unless one was recorded meanwhile; the one recorded."""
        now = self._clock.now()
        row = rows.hook_decision(
            message_key=call.message_key, kind=call.kind, decision=decision.to_json(), now=now
        )
        failed = decision.action in (HookAction.FAIL_OPEN, HookAction.FAIL_CLOSED)
        async with self._engine.begin() as conn:
            if not await queries.record_hook_decision(conn, row):
                found = await queries.hook_decision(conn, call.message_key, call.kind)
                assert found is not None, "a conflicting decision is committed"
                return Decision.from_json(call.kind, found)
            if failed:
                await events.append(conn, [_hook_failed(call, decision, now)])
        if failed:
            self._on_events()
        return decision

    async def _open_session(self, call: HookCall, decision: Decision) -> Decision:
        create = decision.create
        ttl_ms = create.get("ttl_ms")
        spec = SessionSpec(
            participants=[
                ParticipantSpec(p["number"], p.get("display_name", ""), p.get("greeting", ""))
                for p in create.get("participants", [])
            ],
            pool=create.get("pool") or call.hooks.pool_name,
            ttl=timedelta(milliseconds=ttl_ms) if ttl_ms is not None else None,
            metadata=create.get("metadata", {}),
            request_id=session_request_id(call.message_key),
            close_notice=create.get("close_notice", ""),
        )
        try:
            session = await self._sessions.create_session(spec)
        except (Aborted, Unavailable):
            raise  # transient: the webhook is answered 503 and retried, and with it this
        except DomainError as exc:
            reason = mask_numbers_in(f"{exc.reason}: {exc.message}")
            log.warning(
                "hook session for a text from %s to %s not opened: %s",
                mask(call.sender),
                mask(call.proxy),
                reason,
            )
            settled = Decision(decision.kind, decision.action, reason=reason, create=create)
        else:
            settled = Decision(decision.kind, decision.action, session_id=session.id, create=create)
        return await self._settle(call, settled)

    async def _settle(self, call: HookCall, settled: Decision) -> Decision:
        """Record how a CREATE_SESSION went, unless a concurrent attempt did first."""
        async with self._engine.begin() as conn:
            found = await queries.hook_decision(conn, call.message_key, call.kind, for_update=True)
            if found is not None:
                stored = Decision.from_json(call.kind, found)
                if stored.settled:
                    return stored
            await queries.save_hook_decision(conn, call.message_key, call.kind, settled.to_json())
        return settled


def _hook_failed(call: HookCall, decision: Decision, now: datetime) -> rows.Row:
    return rows.event(
        type=EventType.HOOK_FAILED,
        now=now,
        pool_id=call.pool_id,
        session_id=call.session_id or None,
        participant=call.sender,
        proxy_number=call.proxy,
        reason=f"{call.kind.value} {decision.reason}: {decision.action.value}",
    )
