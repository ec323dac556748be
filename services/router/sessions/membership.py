"""AddParticipant and RemoveParticipant: who is in a live session.

An added participant gets a proxy number as on create (sessions/allocation.py: the core rule,
preferring a number no other participant of the session holds), then their greeting or the
pool's open notice; the session may not grow past its pool's max_participants. A removed
participant is deactivated (their proxy number is free again for them) and left out of the
session's participant list; at least two must remain (close the session instead). Each writes
its event (PARTICIPANT_ADDED / PARTICIPANT_REMOVED) in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import AlreadyExists, FailedPrecondition, NotFound
from numproxy.common.numbers import mask, normalize
from numproxy.router.clock import Clock
from numproxy.router.sessions import lifecycle, names
from numproxy.router.sessions.allocation import (
    choose_proxy_numbers,
    close_expired_sessions_of,
    retrying_races,
)
from numproxy.router.sessions.sessions import (
    ParticipantSpec,
    SessionView,
    load_session,
    queue_opening_text,
    session_view,
    validate_participant,
)
from numproxy.router.store import rows
from numproxy.router.store.models import MAX_PARTICIPANTS, Participant, Pool, Session
from numproxy.router.store.states import EventType
from numproxy.router.store.transactions import SessionFactory, writing
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)

MIN_PARTICIPANTS = 2


class Membership:
    def __init__(
        self,
        factory: SessionFactory,
        clock: Clock,
        on_queued: Callable[[], None] | None = None,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._on_queued = on_queued
        self._on_events = on_events

    async def add_participant(self, session: str, participant: ParticipantSpec) -> SessionView:
        session_id = names.session_id(session, field="session")
        spec = validate_participant(participant, field="participant")

        async def attempt() -> tuple[SessionView, bool]:
            async with writing(self._factory) as db:
                return await self._add(db, session_id, spec)

        view, queued = await retrying_races(attempt, "add_participant")
        self._on_events()
        if queued and self._on_queued is not None:
            self._on_queued()
        return view

    async def _add(
        self, db: AsyncSession, session_id: str, spec: ParticipantSpec
    ) -> tuple[SessionView, bool]:
        now = self._clock.now()
        session = await load_session(db, session_id, for_update=True)
        await lifecycle.require_live(db, session, now)
        active = [p for p in session.participants if p.active]
        if any(p.number == spec.number for p in active):
            raise AlreadyExists(
                f"{mask(spec.number)} is already a participant of session {session_id}",
                reason="PARTICIPANT_ALREADY_EXISTS",
                metadata={
                    "session": names.session_name(session_id),
                    "participant": mask(spec.number),
                },
            )
        pool = await db.get(Pool, session.pool_id)
        assert pool is not None, "a session's pool cannot be deleted"
        most = min(pool.max_participants, MAX_PARTICIPANTS)
        if len(active) >= most:
            raise FailedPrecondition(
                f"session {session_id} already has {len(active)} participants, the most its "
                "pool allows",
                reason="TOO_MANY_PARTICIPANTS",
                metadata={"session": names.session_name(session_id), "max_participants": str(most)},
            )
        writes = Writes()
        await close_expired_sessions_of(db, spec.number, now, writes)
        [proxy] = await choose_proxy_numbers(
            db,
            pool,
            [spec.number],
            held_in_session=[p.proxy_number_id for p in active],
            first_index=len(session.participants),
        )
        db.add(
            Participant(
                session_id=session.id,
                position=max(p.position for p in session.participants) + 1,
                number=spec.number,
                proxy_number_id=proxy.id,
                display_name=spec.display_name,
                active=True,
            )
        )
        session.updated_at = now
        await db.flush()
        writes.event(
            _participant_event(EventType.PARTICIPANT_ADDED, session, spec.number, proxy.number, now)
        )
        queue_opening_text(writes, session, pool, spec, proxy.number, now)
        await writes.flush(await db.connection())
        await db.refresh(session, ["participants"])
        log.info("session %s: %s added on %s", session_id, mask(spec.number), proxy.number)
        return await session_view(db, session, now), bool(writes.outbound)

    async def remove_participant(self, session: str, number: str) -> SessionView:
        session_id = names.session_id(session, field="session")
        removed = normalize(number, field="number")
        async with writing(self._factory) as db:
            now = self._clock.now()
            row = await load_session(db, session_id, for_update=True)
            await lifecycle.require_live(db, row, now)
            active = [p for p in row.participants if p.active]
            target = next((p for p in active if p.number == removed), None)
            if target is None:
                raise NotFound(
                    f"{mask(removed)} is not a participant of session {session_id}",
                    reason="PARTICIPANT_NOT_FOUND",
                    metadata={
                        "session": names.session_name(session_id),
                        "participant": mask(removed),
                    },
                )
            if len(active) - 1 < MIN_PARTICIPANTS:
                raise FailedPrecondition(
                    f"a session keeps at least {MIN_PARTICIPANTS} participants; close it instead",
                    reason="TOO_FEW_PARTICIPANTS",
                    metadata={"session": names.session_name(session_id)},
                )
            target.active = False
            target.removed_at = now
            row.updated_at = now
            await db.flush()
            writes = Writes()
            writes.event(
                _participant_event(
                    EventType.PARTICIPANT_REMOVED, row, removed, target.proxy_number.number, now
                )
            )
            await writes.flush(await db.connection())
            log.info("session %s: %s removed", session_id, mask(removed))
            view = await session_view(db, row, now)
        self._on_events()
        return view


def _participant_event(
    type: EventType, session: Session, number: str, proxy: str, now: datetime
) -> rows.Row:
    return rows.event(
        type=type,
        now=now,
        pool_id=session.pool_id,
        session_id=session.id,
        participant=number,
        proxy_number=proxy,
    )
