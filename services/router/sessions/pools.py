"""Pools of proxy numbers: create, inspect, update settings, add numbers, drain them.

A removed number is drained (state DRAINING): allocation skips it, sessions already on it run
to their end; adding it to its pool again re-activates it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import AlreadyExists, InvalidArgument, NotFound
from numproxy.common.numbers import country_calling_code, normalize
from numproxy.router.clock import Clock, as_utc
from numproxy.router.sessions import names, pool_settings
from numproxy.router.sessions.pagination import Page, decode_token, page_size, paginate
from numproxy.router.sessions.pool_settings import PoolSpec
from numproxy.router.store import events
from numproxy.router.store.dialect import violates
from numproxy.router.store.models import Pool, ProxyNumber
from numproxy.router.store.rows import event as event_row
from numproxy.router.store.states import EventType, NumberState
from numproxy.router.store.transactions import SessionFactory, reading, writing

MAX_NUMBERS_PER_CALL = 1000
_WRITE_ATTEMPTS = 3


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
    max_participants: int
    hook_address: str
    hook_deadline_ms: int
    hook_failure_mode: str
    hook_resolve: bool
    hook_intercept: bool
    end_command: str
    open_notice: str
    close_notice: str
    prefix_display_name: bool


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
        pool = Pool(name=pool_id, created_at=self._clock.now(), **pool_settings.columns(spec))
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

    async def update_pool(self, name: str, paths: Sequence[str], update: PoolSpec) -> PoolInfo:
        """Change the settings named by the mask ``paths`` to ``update``'s values (unset ones
        to their defaults, as on create)."""
        pool_id = names.pool_id(name, field="pool.name")
        async with writing(self._factory) as db:
            pool = await get_pool(db, pool_id, for_update=True)
            merged = pool_settings.merge(pool_settings.stored(pool), update, paths)
            for column, value in pool_settings.columns(merged).items():
                setattr(pool, column, value)
            await db.flush()
            return _pool_info(pool, await _number_count(db, pool.id))

    async def get_pool(self, name: str) -> PoolInfo:
        async with reading(self._factory) as db:
            pool = await get_pool(db, names.pool_id(name, field="name"))
            return _pool_info(pool, await _number_count(db, pool.id))

    async def list_pools(
        self, size: int = 0, token: str = "", within: Collection[str] | None = None
    ) -> Page[PoolInfo]:
        """A page of pools by name; ``within``: only these."""
        size = page_size(size)
        scope: list[object] = ["pools"] if within is None else ["pools", sorted(within)]
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
        if within is not None:
            query = query.where(Pool.name.in_(sorted(within)))
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
        self,
        pool: str = "",
        size: int = 0,
        token: str = "",
        within: Collection[str] | None = None,
    ) -> Page[NumberInfo]:
        """A page of numbers by number, of one pool or all; ``within``: only these pools'."""
        pool_id = names.pool_id(pool) if pool else ""
        size = page_size(size)
        scope: list[object] = ["numbers", pool_id]
        if within is not None:
            scope.append(sorted(within))
        after = decode_token(token, scope)
        query = (
            select(ProxyNumber, Pool.name)
            .join(Pool, Pool.id == ProxyNumber.pool_id)
            .order_by(ProxyNumber.number)
            .limit(size + 1)
        )
        if after:
            query = query.where(ProxyNumber.number > str(after[0]))
        if within is not None:
            query = query.where(Pool.name.in_(sorted(within)))
        async with reading(self._factory) as db:
            if pool_id:
                query = query.where(ProxyNumber.pool_id == (await get_pool(db, pool_id)).id)
            rows = (await db.execute(query)).all()
        infos = [_number_info(row, name) for row, name in rows]
        return paginate(infos, size, lambda n: [n.number], scope)


async def get_pool(db: AsyncSession, pool_id: str, *, for_update: bool = False) -> Pool:
    pool = await _find_pool(db, pool_id, for_update=for_update)
    if pool is None:
        raise NotFound(
            f"pool {pool_id!r} does not exist",
            reason="POOL_NOT_FOUND",
            metadata={"pool": names.pool_name(pool_id)},
        )
    return pool


async def _find_pool(db: AsyncSession, pool_id: str, *, for_update: bool = False) -> Pool | None:
    query = select(Pool).where(Pool.name == pool_id)
    if for_update:
        query = query.with_for_update()
    pool: Pool | None = await db.scalar(query)
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
        max_participants=pool.max_participants,
        hook_address=pool.hook_address,
        hook_deadline_ms=pool.hook_deadline_ms,
        hook_failure_mode=pool.hook_failure_mode,
        hook_resolve=pool.hook_resolve,
        hook_intercept=pool.hook_intercept,
        end_command=pool.end_command,
        open_notice=pool.open_notice,
        close_notice=pool.close_notice,
        prefix_display_name=pool.prefix_display_name,
    )


def _number_info(row: ProxyNumber, pool_id: str) -> NumberInfo:
    return NumberInfo(
        number=row.number,
        pool_id=pool_id,
        state=row.state,
        active_participants=row.active_participants,
        created_at=as_utc(row.created_at),
    )
