"""Reading the event table in tests: what was committed, in cursor order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store.models import Event


@dataclass(frozen=True)
class Written:
    seq: int
    type: str
    pool_id: int | None
    session_id: str | None
    interaction_id: str | None
    participant: str
    proxy_number: str
    reason: str
    direction: str


async def written(engine: AsyncEngine, *types: str) -> list[Written]:
    """The committed events (of ``types``, all when none), in cursor order."""
    query = select(
        Event.seq,
        Event.type,
        Event.pool_id,
        Event.session_id,
        Event.interaction_id,
        Event.participant,
        Event.proxy_number,
        Event.reason,
        Event.direction,
    ).order_by(Event.seq)
    if types:
        query = query.where(Event.type.in_(types))
    async with engine.connect() as conn:
        return [Written(*row) for row in await conn.execute(query)]


async def kinds(engine: AsyncEngine) -> list[str]:
    """The types of the committed events, in cursor order."""
    return [event.type for event in await written(engine)]
