"""A pool's daily send budget, charged when the dispatcher claims rows (outbox/dispatcher.py).

A pool with ``daily_send_budget`` N sends at most N new outbound SMS per UTC day; rows beyond
it are FAILED with reason POOL_DAILY_BUDGET (each with its OUTBOUND_FAILED event) rather than
held: a held backlog would all go out at midnight, and an app learns at once from the event.
The pool's POOL_SEND_BUDGET_SPENT event marks the moment the budget ran out. Counted per
(pool, day) in ``pool_send_count`` by one upsert per claim that holds such rows; retries are
not charged again. The inbound pipeline does not hand rows of budgeted pools to the
dispatcher in memory (inbound/pipeline.py), so every send of theirs passes a claim.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.store import dialect, rows
from numproxy.router.store.models import PoolSendCount
from numproxy.router.store.queries import ClaimedRow
from numproxy.router.store.rows import Row
from numproxy.router.store.states import EventType, MessageStatus

_COUNT = PoolSendCount.__table__


def day_of(now: datetime) -> str:
    return now.date().isoformat()


async def charge(
    conn: AsyncConnection, claimed: Sequence[ClaimedRow], now: datetime
) -> tuple[set[str], list[Row]]:
    """Charge the first sends of budgeted pools among ``claimed``; the ids of the rows over
    their pool's budget (to be failed), and the events of budgets that ran out."""
    charged = [
        row
        for row in claimed
        if row.status == MessageStatus.QUEUED
        and row.attempts == 1
        and row.pool_id is not None
        and row.daily_send_budget > 0
    ]
    if not charged:
        return set(), []
    wanted = Counter(row.pool_id for row in charged)
    day = day_of(now)
    base = dialect.upsert(_COUNT, conn)  # type: ignore[arg-type]
    statement = (
        base.values(
            [{"pool_id": pool, "day": day, "sent": count} for pool, count in sorted(wanted.items())]
        )
        .on_conflict_do_update(
            index_elements=[_COUNT.c.pool_id, _COUNT.c.day],
            set_={"sent": _COUNT.c.sent + base.excluded.sent},
        )
        .returning(_COUNT.c.pool_id, _COUNT.c.sent)
    )
    totals = {row[0]: row[1] for row in await conn.execute(statement)}
    over: set[str] = set()
    spent: list[Row] = []
    allowed: dict[int, int] = {}
    for row in charged:
        assert row.pool_id is not None
        pool, budget = row.pool_id, row.daily_send_budget
        if pool not in allowed:
            before = totals[pool] - wanted[pool]
            allowed[pool] = max(0, budget - before)
            if before < budget <= totals[pool]:
                spent.append(
                    rows.event(
                        type=EventType.POOL_SEND_BUDGET_SPENT,
                        now=now,
                        pool_id=pool,
                        reason=f"{budget} outbound SMS sent on {day} (UTC)",
                    )
                )
        if allowed[pool] > 0:
            allowed[pool] -= 1
        else:
            over.add(row.claimed.id)
    return over, spent
