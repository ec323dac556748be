"""Pools of proxy numbers: create, inspect, add numbers, drain them.

A removed number is drained (state DRAINING): allocation skips it, sessions already on it run
to their end; adding it to its pool again re-activates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import AlreadyExists, InvalidArgument, NotFound
from numproxy.common.numbers import country_calling_code, normalize
from numproxy.router.clock import Clock, as_utc
from numproxy.router.sessions import names
from numproxy.router.sessions.pagination import Page, decode_token, page_size, paginate
from numproxy.router.sessions.validation import bounded_text, duration_seconds
from numproxy.router.store import events
from numproxy.router.store.dialect import violates
from numproxy.router.store.models import Pool, ProxyNumber
from numproxy.router.store.rows import event as event_row
from numproxy.router.store.states import EventType, NumberState, OutOfSessionPolicy
from numproxy.router.store.transactions import SessionFactory, reading, writing

POLICIES = tuple(OutOfSessionPolicy)

DEFAULT_REPLY_INTERVAL = timedelta(hours=1)
MAX_REPLY_TEXT = 1600
MAX_NUMBERS_PER_CALL = 1000
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class PoolSpec:
    """A new pool's settings. ``reply_interval`` None means the default (one hour)."""

    default_ttl: timedelta = timedelta(0)
    default_lifetime: timedelta = timedelta(0)
    out_of_session_policy: str = OutOfSessionPolicy.DROP
    out_of_session_reply: str = ""
    reply_interval: timedelta | None = None


@dataclass(frozen=True)
class PoolInfo:
    id: str
    default_ttl_seconds: int
    default_lifetime_seconds: int
    out_of_session_policy: str
    out_of_session_reply: str
    reply_interval_seconds: int
    created_at: datetime
    number_count: int


@dataclass(frozen=True)
class NumberInfo:
    number: str
    pool_id: str
    state: str
    active_participants: int
    created_at: datetime


class Pools:
    def __init__(
        self,
        factory: SessionFactory,
        clock: Clock,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        # Told after a commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events

    async def create_pool(self, pool_id: str, spec: PoolSpec) -> PoolInfo:
        pool_id = names.validate_pool_id(pool_id)
        policy = spec.out_of_session_policy or OutOfSessionPolicy.DROP
        if policy not in POLICIES:
            raise InvalidArgument(
                f"out_of_session_policy must be one of {', '.join(POLICIES)}",
                reason="INVALID_POLICY",
                metadata={"field": "out_of_session_policy"},
            )
        reply = bounded_text(
            spec.out_of_session_reply,
            field="out_of_session_reply",
            limit=MAX_REPLY_TEXT,
            reason="INVALID_POLICY",
        )
        if policy == OutOfSessionPolicy.REPLY and not reply.strip():
            raise InvalidArgument(
                "out_of_session_reply is required with the REPLY policy",
                reason="INVALID_POLICY",
                metadata={"field": "out_of_session_reply"},
            )
        interval = duration_seconds(
            spec.reply_interval if spec.reply_interval is not None else DEFAULT_REPLY_INTERVAL,
            field="reply_interval",
        )
        if interval == 0:
            # A zero interval would let two auto-responders reply to each other forever.
            raise InvalidArgument(
                "reply_interval must be positive",
                reason="INVALID_DURATION",
                metadata={"field": "reply_interval"},
            )
        pool = Pool(
            name=pool_id,
            default_ttl_seconds=duration_seconds(spec.default_ttl, field="default_ttl"),
            default_lifetime_seconds=duration_seconds(
                spec.default_lifetime, field="default_lifetime"
            ),
            out_of_session_policy=policy,
            out_of_session_reply=reply,
            reply_interval_seconds=interval,
            created_at=self._clock.now(),
        )
        try:
            async with writing(self._factory) as db:
                if await _find_pool(db, pool_id) is not None:
                    raise _pool_exists(pool_id)
                db.add(pool)
                await db.flush()
                return _pool_info(pool, 0)
        except IntegrityError as exc:  # a concurrent create of the same id won
            if violates(exc, "uq_pool_name", "pool.name"):
                raise _pool_exists(pool_id) from None
            raise

    async def get_pool(self, name: str) -> PoolInfo:
        async with reading(self._factory) as db:
            pool = await get_pool(db, names.pool_id(name, field="name"))
            return _pool_info(pool, await _number_count(db, pool.id))

    async def list_pools(self, size: int = 0, token: str = "") -> Page[PoolInfo]:
        size = page_size(size)
        scope = ["pools"]
        after = decode_token(token, scope)
        count = (
            select(func.count(ProxyNumber.id))
            .where(ProxyNumber.pool_id == Pool.id)
            .correlate(Pool)
            .scalar_subquery()
        )
        query = select(Pool, count).order_by(Pool.name).limit(size + 1)
        if after:
            query = query.where(Pool.name > str(after[0]))
        async with reading(self._factory) as db:
            rows = (await db.execute(query)).all()
        infos = [_pool_info(pool, number_count) for pool, number_count in rows]
        return paginate(infos, size, lambda p: [p.id], scope)

    async def add_numbers(self, pool: str, numbers: list[str]) -> list[NumberInfo]:
        """Add ``numbers`` to the pool (all or none); re-activates draining ones."""
        pool_id = names.pool_id(pool)
        if not numbers:
            raise InvalidArgument(
                "numbers is required", reason="INVALID_ARGUMENT", metadata={"field": "numbers"}
            )
        if len(numbers) > MAX_NUMBERS_PER_CALL:
            raise InvalidArgument(
                f"at most {MAX_NUMBERS_PER_CALL} numbers per call",
                reason="INVALID_ARGUMENT",
                metadata={"field": "numbers"},
            )
        wanted = list(
            dict.fromkeys(normalize(n, field=f"numbers[{i}]") for i, n in enumerate(numbers))
        )
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with writing(self._factory) as db:
                    return await self._add_numbers(db, pool_id, wanted)
            except IntegrityError as exc:  # a concurrent AddNumbers inserted one of them
                if attempt + 1 == _WRITE_ATTEMPTS or not violates(
                    exc, "uq_proxy_number_number", "proxy_number.number"
                ):
                    raise
        raise AssertionError("unreachable")

    async def _add_numbers(
        self, db: AsyncSession, pool_id: str, wanted: list[str]
    ) -> list[NumberInfo]:
        pool = await get_pool(db, pool_id)
        now = self._clock.now()
        rows = await db.scalars(select(ProxyNumber).where(ProxyNumber.number.in_(wanted)))
        existing = {row.number: row for row in rows}
        result: list[ProxyNumber] = []
        for number in wanted:
            row = existing.get(number)
            if row is None:
                row = ProxyNumber(
                    pool_id=pool.id,
                    number=number,
                    country_code=country_calling_code(number),
                    state=NumberState.ACTIVE,
                    active_participants=0,
                    created_at=now,
                )
                db.add(row)
            elif row.pool_id != pool.id:
                raise AlreadyExists(
                    f"number {number} already belongs to another pool",
                    reason="NUMBER_IN_OTHER_POOL",
                    metadata={"number": number},
                )
            else:
                row.state = NumberState.ACTIVE
            result.append(row)
        await db.flush()
        return [_number_info(row, pool_id) for row in result]

    async def remove_number(self, pool: str, number: str) -> NumberInfo:
        """Drain ``number``: no new sessions on it; existing ones run to their end."""
        pool_id = names.pool_id(pool)
        number = normalize(number)
        async with writing(self._factory) as db:
            pool_row = await get_pool(db, pool_id)
            row = await db.scalar(
                select(ProxyNumber)
                .where(ProxyNumber.number == number, ProxyNumber.pool_id == pool_row.id)
                # Locked: of two concurrent drains, one changes the state (and says so).
                .with_for_update()
            )
            if row is None:
                raise NotFound(
                    f"number {number} is not in pool {pool_id}",
                    reason="NUMBER_NOT_FOUND",
                    metadata={"number": number, "pool": names.pool_name(pool_id)},
                )
            drained = row.state != NumberState.DRAINING
            row.state = NumberState.DRAINING
            info = _number_info(row, pool_id)
            if drained:
                await db.flush()
                event = event_row(
                    type=EventType.NUMBER_DRAINED,
                    now=self._clock.now(),
                    pool_id=pool_row.id,
                    proxy_number=number,
                )
                await events.append(await db.connection(), [event])
        if drained:
            self._on_events()
        return info

    async def list_numbers(
        self, pool: str = "", size: int = 0, token: str = ""
    ) -> Page[NumberInfo]:
        pool_id = names.pool_id(pool) if pool else ""
        size = page_size(size)
        scope = ["numbers", pool_id]
        after = decode_token(token, scope)
        query = (
            select(ProxyNumber, Pool.name)
            .join(Pool, Pool.id == ProxyNumber.pool_id)
            .order_by(ProxyNumber.number)
            .limit(size + 1)
        )
        if after:
            query = query.where(ProxyNumber.number > str(after[0]))
        async with reading(self._factory) as db:
            if pool_id:
                query = query.where(ProxyNumber.pool_id == (await get_pool(db, pool_id)).id)
            rows = (await db.execute(query)).all()
        infos = [_number_info(row, name) for row, name in rows]
        return paginate(infos, size, lambda n: [n.number], scope)


async def get_pool(db: AsyncSession, pool_id: str) -> Pool:
    pool = await _find_pool(db, pool_id)
    if pool is None:
        raise NotFound(
            f"pool {pool_id!r} does not exist",
            reason="POOL_NOT_FOUND",
            metadata={"pool": names.pool_name(pool_id)},
        )
    return pool


async def _find_pool(db: AsyncSession, pool_id: str) -> Pool | None:
    pool: Pool | None = await db.scalar(select(Pool).where(Pool.name == pool_id))
    return pool


async def _number_count(db: AsyncSession, pool_key: int) -> int:
    count = await db.scalar(
        select(func.count(ProxyNumber.id)).where(ProxyNumber.pool_id == pool_key)
    )
    return int(count or 0)


def _pool_exists(pool_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"pool {pool_id!r} already exists",
        reason="POOL_ALREADY_EXISTS",
        metadata={"pool": names.pool_name(pool_id)},
    )


def _pool_info(pool: Pool, number_count: int) -> PoolInfo:
    return PoolInfo(
        id=pool.name,
        default_ttl_seconds=pool.default_ttl_seconds,
        default_lifetime_seconds=pool.default_lifetime_seconds,
        out_of_session_policy=pool.out_of_session_policy,
        out_of_session_reply=pool.out_of_session_reply,
        reply_interval_seconds=pool.reply_interval_seconds,
        created_at=as_utc(pool.created_at),
        number_count=number_count,
    )


def _number_info(row: ProxyNumber, pool_id: str) -> NumberInfo:
    return NumberInfo(
        number=row.number,
        pool_id=pool_id,
        state=row.state,
        active_participants=row.active_participants,
        created_at=as_utc(row.created_at),
    )
