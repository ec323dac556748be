"""The inbound pipeline: every inbound SMS runs the same stages, a lone message as a batch of one.

    dedupe -> session lookup (locked) -> pool of the number -> multipart reassembly
    -> keywords -> end command -> hooks -> out-of-session policy -> session rate cap
    -> fan-out to the outbox
    -> routed parts -> messages set aside forgotten -> write -> commit -> hand-off

Concurrent calls share a transaction (group commit, common/group_commit.py): one transaction
per batch, a constant number of statements per batch on the busy path (dedupe, lookup, the
interaction rows, the session activity). Each caller is answered only after the commit
holding its message. With a hand-off (the dispatcher), the outbound rows it has room for are
written already leased to this process and handed to it in memory after the commit, so they
are sent without a claim; the others are written due now and claimed by its loop. A crash
between commit and send leaves leased rows that any replica sends once the lease ran out.

A message whose pool's hook must decide it is set aside by its batch, untouched
(router/hooks/stage.py); ``receive`` gets the decision outside any transaction
(router/hooks/decider.py) and puts the message through again with it attached, so a slow
hook never holds a batch other pools' messages share.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common import tracing
from numproxy.common.group_commit import GroupCommit
from numproxy.common.numbers import mask
from numproxy.router.clock import Clock
from numproxy.router.hooks import decisions
from numproxy.router.hooks.calls import HookCall
from numproxy.router.hooks.decisions import Decision
from numproxy.router.hooks.stage import consult_hooks, forget_deferred
from numproxy.router.inbound.batch import Batch, Item
from numproxy.router.inbound.dedupe import dedupe
from numproxy.router.inbound.end_command import end_sessions
from numproxy.router.inbound.fanout import fan_out
from numproxy.router.inbound.keywords import answer_keywords
from numproxy.router.inbound.lookup import find_pools, find_sessions
from numproxy.router.inbound.message import Inbound, InboundResult, IncomingSms, TimedOutGroup
from numproxy.router.inbound.multipart import complete_parts, reassemble
from numproxy.router.inbound.policy import out_of_session
from numproxy.router.inbound.session_rate import cap_session_rate
from numproxy.router.metrics import RouterMetrics
from numproxy.router.settings import RouterSettings
from numproxy.router.store import queries, rows
from numproxy.router.store.queries import Claimed
from numproxy.router.store.states import HookKind

log = logging.getLogger(__name__)

Stage = Callable[[Batch], Awaitable[None]]

STAGES: tuple[Stage, ...] = (
    dedupe,
    find_sessions,
    find_pools,
    reassemble,
    answer_keywords,
    end_sessions,
    consult_hooks,
    out_of_session,
    cap_session_rate,
    fan_out,
    complete_parts,
    forget_deferred,
)
# Passes of one message at most: each pass but the last gets the decision of one hook kind
# (a message the stage sets aside has none of that kind; once attached, it is applied).
PASSES = len(HookKind) + 1


class Handoff(Protocol):
    """Takes committed outbound rows in memory (the dispatcher): room is reserved before the
    commit, the rows submitted after it, or the room released if the transaction failed."""

    def reserve(self, count: int) -> int: ...

    def release(self, count: int) -> None: ...

    async def submit(self, rows: Iterable[Claimed]) -> None: ...

    def notify(self) -> None: ...


class Decider(Protocol):
    """Decides a message a hook is consulted on (router/hooks/decider.py)."""

    async def decide(self, call: HookCall) -> Decision: ...


class InboundPipeline:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: RouterSettings,
        clock: Clock,
        handoff: Handoff,
        *,
        concurrency: int,
        on_events: Callable[[], None] = lambda: None,
        hooks: Decider | None = None,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._settings = settings
        self._clock = clock
        self._handoff = handoff
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events
        self._hooks = hooks
        self._batches: GroupCommit[Inbound, InboundResult | HookCall] = GroupCommit(
            self._write,
            batch_max=settings.inbound_batch_max,
            concurrency=concurrency,
            name="inbound-batch",
        )

    async def receive(self, message: Inbound) -> InboundResult:
        """Route ``message``; returns once its effects are committed."""
        for _ in range(PASSES):
            answer = await self._batches.submit(message)
            if isinstance(answer, InboundResult):
                return answer
            decision = await self._decide(answer)
            kept = tuple(d for d in message.decisions if d.kind is not decision.kind)
            message = dataclasses.replace(message, decisions=(*kept, decision))
        raise AssertionError(f"a message still needs a hook after {PASSES} passes")

    async def _decide(self, call: HookCall) -> Decision:
        if self._hooks is None:  # a pipeline wired without hooks (some tests)
            return decisions.failed(call.kind, call.hooks.failure_mode, "no hook client")
        return await self._hooks.decide(call)

    async def _write(self, messages: Sequence[Inbound]) -> list[InboundResult | HookCall]:
        now = self._clock.now()
        started = time.perf_counter()
        items = [Item.of(message) for message in messages]
        reserved = 0
        sends: list[Claimed] = []
        try:
            async with self._engine.begin() as conn:
                batch = Batch(conn, self._settings, now, items)
                await _run_stages(batch, messages)
                outbound = batch.writes.outbound
                # A pool's daily send budget is charged, and an opted-out pair refused, when
                # the dispatcher claims the row.
                leasable = [
                    row
                    for row, pool in zip(outbound, batch.writes.outbound_pools, strict=True)
                    if pool not in batch.budgeted_pools and row["id"] not in batch.claim_only
                ]
                if leasable:
                    reserved = self._handoff.reserve(len(leasable))
                    until = rows.lease_until(now, self._settings.dispatch_lease)
                    for row in leasable[:reserved]:
                        rows.leased(row, until)
                        sends.append(_claimed(row))
                await queries.record_activity(conn, batch.activities(), now)
                await batch.writes.flush(conn)
        except BaseException:
            self._handoff.release(reserved)
            raise
        if batch.writes.events:
            self._on_events()
        results = [_result(item) for item in items]
        for item, result in zip(items, results, strict=True):
            _log(item, result)
        if self._metrics is not None:
            self._count(results, time.perf_counter() - started)
        if len(batch.writes.outbound) > len(sends):
            self._handoff.notify()  # rows written due now, for the dispatcher's loop
        if sends:
            await self._handoff.submit(sends)
        return results

    def _count(self, results: Sequence[InboundResult | HookCall], seconds: float) -> None:
        metrics = self._metrics
        assert metrics is not None
        metrics.batch_size.observe(len(results))
        metrics.commit_seconds.observe(seconds)
        for result in results:
            outcome = "hook" if isinstance(result, HookCall) else result.outcome.value
            metrics.inbound.labels(outcome).inc()


async def _run_stages(batch: Batch, messages: Sequence[Inbound]) -> None:
    """The stages in order; traced, a span each under one span of the batch: a child of its
    first message's span, linked to the others' (a batch is shared; each message keeps one
    trace). Off, the spans are nothing to enter."""
    traces = (
        [m.traceparent for m in messages if isinstance(m, IncomingSms) and m.traceparent]
        if tracing.enabled()
        else []
    )
    with tracing.span(
        "numproxy.router/inbound-batch",
        parent=traces[0] if traces else None,
        links=traces[1:],
        attributes={"numproxy.batch_size": len(messages)},
    ):
        for stage in STAGES:
            with tracing.span(_span_name(stage)):
                await stage(batch)


@functools.cache
def _span_name(stage: Stage) -> str:
    return f"numproxy.router/stage/{stage.__name__}"


def _claimed(row: rows.Row) -> Claimed:
    return Claimed(
        row["id"], row["proxy_number"], row["recipient_number"], row["text"], row["trace_context"]
    )


def _result(item: Item) -> InboundResult | HookCall:
    assert item.result is not None, "every stage path decides an outcome"
    return item.result


def _log(item: Item, result: InboundResult | HookCall) -> None:
    if isinstance(result, HookCall):
        log.debug(
            "text from %s to %s waits for the %s hook",
            mask(item.sender),
            mask(item.proxy),
            result.kind.value,
        )
        return
    if isinstance(item.source, TimedOutGroup):
        log.info(
            "multipart from %s to %s timed out (%s): %s",
            mask(item.sender),
            mask(item.proxy),
            item.note,
            result.outcome.value,
        )
        return
    log.info(
        "inbound %s from %s to %s: %s",
        item.source.message_id,
        mask(item.sender),
        mask(item.proxy),
        result.outcome.value,
    )
