"""Choosing proxy numbers for a new session's participants (the core rule: docs/concepts.md).

For each participant: a number of the pool, not draining, on which that real number has no
active participant row. Preference order: numbers the participant has not opted out of, then
numbers in the participant's country calling code, then the number held by the fewest of the
session's other participants (those chosen before, or already in it), then the least used,
then the oldest.

Participants of one session may share a proxy number: the rule is per real number, and they
are different real numbers, so an inbound SMS on that number still identifies exactly one
session for each of them. They get distinct numbers whenever the pool has an equally
preferred alternative, which spreads load across the pool.

The partial unique index ``uq_participant_active_number_proxy`` is what makes the choice
safe under concurrency: a racing create (or AddParticipant) that picked the same number fails
on insert and ``retrying_races`` runs the caller's transaction again with a fresh choice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, case, exists, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import Aborted, PoolExhausted
from numproxy.common.numbers import country_calling_code, mask
from numproxy.router.sessions import names
from numproxy.router.store import closing
from numproxy.router.store.dialect import is_retryable, violates
from numproxy.router.store.expiry import ran_out_sql
from numproxy.router.store.models import OptOut, Participant, Pool, ProxyNumber, Session
from numproxy.router.store.states import NumberState
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)
T = TypeVar("T")

# Racing writes that pick the same number: the loser retries with a fresh choice. Each
# conflict means a racing write committed, so a handful of attempts is plenty.
ALLOCATION_ATTEMPTS = 5
# The core rule's index, and the columns SQLite names in its constraint error.
CORE_RULE = (
    "uq_participant_active_number_proxy",
    "participant.number, participant.proxy_number_id",
)


async def retrying_races(
    attempt: Callable[[], Awaitable[T]],
    operation: str,
    *,
    also: tuple[str, str] | None = None,
) -> T:
    """Run ``attempt`` (one whole transaction that allocates proxy numbers) until it commits:
    again when the core rule's index (or ``also``: another unique index and its SQLite
    columns) rejected a racing choice, or the database asked for a retry; ALLOCATION_CONFLICT
    after ALLOCATION_ATTEMPTS."""
    for number in range(1, ALLOCATION_ATTEMPTS + 1):
        try:
            return await attempt()
        except IntegrityError as exc:
            if not violates(exc, *CORE_RULE) and not (also and violates(exc, *also)):
                raise
            log.info("%s attempt %d lost a race, retrying", operation, number)
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            log.info("%s attempt %d: %s, retrying", operation, number, exc.orig)
    raise Aborted(
        f"could not allocate proxy numbers after {ALLOCATION_ATTEMPTS} attempts "
        "(concurrent writes for the same participants); retry the request",
        reason="ALLOCATION_CONFLICT",
    )


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
    db: AsyncSession,
    pool: Pool,
    numbers: Sequence[str],
    *,
    held_in_session: Sequence[int] = (),
    first_index: int = 0,
) -> list[ProxyNumber]:
    """One proxy number per real number in ``numbers`` (in order), or PoolExhausted.
    ``held_in_session``: proxy number ids of the session's participants already in it (to be
    avoided like those chosen here); ``first_index``: the position of ``numbers[0]`` in the
    session, as error metadata names it."""
    chosen: list[ProxyNumber] = []
    for offset, number in enumerate(numbers):
        index = first_index + offset
        avoid = [*held_in_session, *(p.id for p in chosen)]
        proxy = await db.scalar(_best_candidate(pool.id, number, avoid))
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
        # Fewest of the session's other participants first: distinct numbers while the pool
        # has them, then spread evenly.
        order.append(case(Counter(avoid), value=ProxyNumber.id, else_=0))
    return (
        select(ProxyNumber)
        .where(ProxyNumber.pool_id == pool_key, ProxyNumber.state == NumberState.ACTIVE, ~held)
        .order_by(*order, ProxyNumber.active_participants, ProxyNumber.id)
        .limit(1)
    )
