"""Choosing proxy numbers for a new session's participants (the core rule: README, How it works).

For each participant: a number of the pool, not draining, on which that real number has no
active participant row. Preference order: numbers the participant has not opted out of, then
numbers in the participant's country calling code, then (second participant only) a number
other than the first participant's, then the least used, then the oldest.

Both participants may share one proxy number: the rule is per real number, and the two
participants are different real numbers, so an inbound SMS on that number still identifies
exactly one session for each of them. They get distinct numbers whenever the pool has an
equally preferred alternative, which spreads load across the pool.

The partial unique index ``uq_participant_active_number_proxy`` is what makes the choice
safe under concurrency: a racing create that picked the same number fails on insert and the
caller retries with a fresh choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, case, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import PoolExhausted
from numproxy.common.numbers import country_calling_code, mask
from numproxy.router.sessions import names
from numproxy.router.store import closing
from numproxy.router.store.expiry import ran_out_sql
from numproxy.router.store.models import OptOut, Participant, Pool, ProxyNumber, Session
from numproxy.router.store.states import NumberState
from numproxy.router.store.writes import Writes


async def close_expired_sessions_of(
    db: AsyncSession, number: str, now: datetime, writes: Writes
) -> int:
    """Close the sessions of real ``number`` that ran out, freeing their proxy numbers (their
    notices and events go to ``writes``)."""
    query = (
        select(*closing.RAN_OUT_COLUMNS)
        .join(Participant, Participant.session_id == Session.id)
        .where(Participant.number == number, Participant.active, ran_out_sql(now))
        .with_for_update(of=Session)
    )
    conn = await db.connection()
    return len(await closing.close_ran_out(conn, (await conn.execute(query)).all(), now, writes))


async def choose_proxy_numbers(
    db: AsyncSession, pool: Pool, numbers: Sequence[str]
) -> list[ProxyNumber]:
    """One proxy number per real number in ``numbers`` (in order), or PoolExhausted."""
    chosen: list[ProxyNumber] = []
    for index, number in enumerate(numbers):
        proxy = await db.scalar(_best_candidate(pool.id, number, [p.id for p in chosen]))
        if proxy is None:
            raise PoolExhausted(
                f"pool {pool.name!r} has no proxy number free for participant {index} "
                f"({mask(number)}): that number already has an active session on each of "
                "the pool's numbers",
                metadata={
                    "pool": names.pool_name(pool.name),
                    "participant": mask(number),
                    "participant_index": str(index),
                },
            )
        chosen.append(proxy)
    return chosen


def _best_candidate(pool_key: int, number: str, avoid: list[int]) -> Select[ProxyNumber]:
    held = exists().where(
        Participant.proxy_number_id == ProxyNumber.id,
        Participant.number == number,
        Participant.active,
    )
    opted_out = exists().where(OptOut.number == number, OptOut.proxy_number == ProxyNumber.number)
    order = [
        case((opted_out, 1), else_=0),
        case((ProxyNumber.country_code == country_calling_code(number), 0), else_=1),
    ]
    if avoid:
        order.append(case((ProxyNumber.id.in_(avoid), 1), else_=0))
    return (
        select(ProxyNumber)
        .where(ProxyNumber.pool_id == pool_key, ProxyNumber.state == NumberState.ACTIVE, ~held)
        .order_by(*order, ProxyNumber.active_participants, ProxyNumber.id)
        .limit(1)
    )
