"""Proxied sessions: create (allocation, greetings and open notices), read, list, update,
delete. A session has 2 to its pool's max_participants participants (at most 10); texting one
participant (sessions/messaging.py) and adding or removing one (sessions/membership.py) live
beside this module.

Every operation is one transaction. A session past its idle TTL or absolute expiry reads as
CLOSED everywhere here even before the sweeper has written that down (store/expiry.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PoolExhausted,
)
from numproxy.common.numbers import mask, normalize
from numproxy.router.clock import as_utc
from numproxy.router.sessions import lifecycle, names
from numproxy.router.sessions.allocation import (
    choose_proxy_numbers,
    close_expired_sessions_of,
    retrying_races,
)
from numproxy.router.sessions.domain import Domain
from numproxy.router.sessions.pagination import Page, decode_token, page_size, paginate
from numproxy.router.sessions.pools import get_pool
from numproxy.router.sessions.validation import bounded_text, duration_seconds
from numproxy.router.store import events, rows
from numproxy.router.store.dialect import json_text_equals
from numproxy.router.store.expiry import live_sql, ran_out_sql, session_ran_out
from numproxy.router.store.ids import new_id
from numproxy.router.store.models import (
    MAX_PARTICIPANTS,
    Interaction,
    Participant,
    Pool,
    Session,
)
from numproxy.router.store.states import (
    CloseReason,
    Direction,
    EventType,
    SessionStatus,
)
from numproxy.router.store.transactions import reading, writing
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)

STATUSES = tuple(SessionStatus)
UPDATABLE_PATHS = ("ttl", "expire_time", "status")
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 1024
MAX_DISPLAY_NAME = 200
MAX_GREETING = 1600
MAX_NOTICE = 1600
MAX_REQUEST_ID = 128
# ListSessions' metadata filter: at most this many key/value pairs, all of which must match.
MAX_METADATA_FILTERS = 8

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ParticipantSpec:
    number: str
    display_name: str = ""
    greeting: str = ""


@dataclass(frozen=True)
class SessionSpec:
    """A CreateSession request. ``ttl``/``expire_time`` None: the pool's defaults."""

    participants: Sequence[ParticipantSpec]
    pool: str = ""
    ttl: timedelta | None = None
    expire_time: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""
    # Sent to every participant on close; "" for the pool's close_notice.
    close_notice: str = ""


@dataclass(frozen=True)
class ParticipantView:
    number: str
    proxy_number: str
    display_name: str


@dataclass(frozen=True)
class SessionView:
    id: str
    pool_id: str
    status: str
    closed_reason: str | None
    participants: tuple[ParticipantView, ...]
    ttl_seconds: int
    expire_time: datetime | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    last_interaction_at: datetime | None
    closed_at: datetime | None
    close_notice: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class InteractionView:
    id: str
    session_id: str
    direction: str
    sender_number: str
    recipient_number: str
    proxy_number: str
    text: str
    status: str
    failure_reason: str
    provider_message_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class _CreateRequest:
    participants: tuple[ParticipantSpec, ...]
    pool_id: str
    ttl_seconds: int | None
    expire_time: datetime | None
    metadata: dict[str, str]
    request_id: str
    close_notice: str

    def fingerprint(self) -> str:
        payload: dict[str, object] = {
            "participants": [[p.number, p.display_name, p.greeting] for p in self.participants],
            "pool": self.pool_id,
            "ttl": self.ttl_seconds,
            "expire_time": self.expire_time.isoformat() if self.expire_time else None,
            "metadata": sorted(self.metadata.items()),
        }
        if self.close_notice:  # only when set: fingerprints of earlier requests stay as they were
            payload["close_notice"] = self.close_notice
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


class Sessions(Domain):
    async def create_session(self, spec: SessionSpec) -> SessionView:
        request = _validate(spec)
        fingerprint = request.fingerprint()

        async def attempt() -> tuple[SessionView, bool]:
            async with writing(self._factory) as db:
                return await self._create(db, request, fingerprint)

        try:
            # A racing create may take the chosen number, or the request_id: choose again.
            view, queued = await retrying_races(
                attempt, "create_session", also=("uq_session_request_id", "session.request_id")
            )
        except PoolExhausted as exc:
            await self._pool_exhausted(request, exc)
            raise
        self._committed(queued=queued)
        return view

    async def _pool_exhausted(self, request: _CreateRequest, exc: PoolExhausted) -> None:
        """Record POOL_EXHAUSTED for a create that was rolled back, in a transaction of its
        own; failing to record it does not hide the create's own error."""
        index = int(exc.metadata.get("participant_index", "0"))
        try:
            async with writing(self._factory) as db:
                pool_key = await db.scalar(select(Pool.id).where(Pool.name == request.pool_id))
                event = rows.event(
                    type=EventType.POOL_EXHAUSTED,
                    now=self._clock.now(),
                    pool_id=pool_key,
                    participant=request.participants[index].number,
                    reason=exc.message,
                )
                await events.append(await db.connection(), [event])
        except Exception:
            log.warning(
                "recording POOL_EXHAUSTED for pool %s failed", request.pool_id, exc_info=True
            )
            return
        self._committed()

    async def _create(
        self, db: AsyncSession, request: _CreateRequest, fingerprint: str
    ) -> tuple[SessionView, bool]:
        now = self._clock.now()
        if request.request_id:
            existing = await _session_by_request_id(db, request.request_id)
            if existing is not None:
                if existing.request_fingerprint != fingerprint:
                    raise AlreadyExists(
                        "request_id was already used for a different CreateSession request",
                        reason="REQUEST_ID_REUSED",
                        metadata={"request_id": request.request_id},
                    )
                return await session_view(db, existing, now), False
        pool = await get_pool(db, request.pool_id)
        check_participant_count(len(request.participants), pool.max_participants)
        if request.expire_time is not None and request.expire_time <= now:
            raise InvalidArgument(
                "expire_time must be in the future",
                reason="INVALID_EXPIRE_TIME",
                metadata={"field": "expire_time"},
            )
        ttl = pool.default_ttl_seconds if request.ttl_seconds is None else request.ttl_seconds
        expires_at = request.expire_time
        if expires_at is None and pool.default_lifetime_seconds > 0:
            expires_at = now + timedelta(seconds=pool.default_lifetime_seconds)

        numbers = [p.number for p in request.participants]
        writes = Writes()
        for number in numbers:
            await close_expired_sessions_of(db, number, now, writes)
        proxies = await choose_proxy_numbers(db, pool, numbers)

        session = Session(
            id=new_id(),
            pool_id=pool.id,
            status=SessionStatus.OPEN,
            closed_reason=None,
            ttl_seconds=ttl,
            expires_at=expires_at,
            last_interaction_at=None,
            attributes=dict(request.metadata),
            request_id=request.request_id or None,
            request_fingerprint=fingerprint,
            close_notice=request.close_notice,
            created_at=now,
            updated_at=now,
            closed_at=None,
        )
        lifecycle.reset_idle_expiry(session, now)
        db.add(session)
        participant_rows = [
            Participant(
                session_id=session.id,
                position=position,
                number=spec.number,
                proxy_number_id=proxy.id,
                display_name=spec.display_name,
                active=True,
            )
            for position, (spec, proxy) in enumerate(
                zip(request.participants, proxies, strict=True)
            )
        ]
        # Inserted in proxy-number order so racing creates lock usage counters in one order.
        for row in sorted(participant_rows, key=lambda r: r.proxy_number_id):
            db.add(row)
            await db.flush()
        writes.event(
            rows.event(
                type=EventType.SESSION_CREATED, now=now, pool_id=pool.id, session_id=session.id
            )
        )
        for spec, proxy in zip(request.participants, proxies, strict=True):
            queue_opening_text(writes, session, pool, spec, proxy.number, now)
        await db.flush()
        await writes.flush(await db.connection())
        log.info(
            "session %s created in pool %s: %s",
            session.id,
            pool.name,
            ", ".join(f"{mask(n)} on {p.number}" for n, p in zip(numbers, proxies, strict=True)),
        )
        participants = tuple(
            ParticipantView(spec.number, proxy.number, spec.display_name)
            for spec, proxy in zip(request.participants, proxies, strict=True)
        )
        return _to_view(session, pool.name, participants, now), bool(writes.outbound)

    async def get_session(self, name: str) -> SessionView:
        session_id = names.session_id(name)
        async with reading(self._factory) as db:
            return await session_view(db, await load_session(db, session_id), self._clock.now())

    async def list_sessions(
        self,
        *,
        size: int = 0,
        token: str = "",
        participant_number: str = "",
        status: str = "",
        pool: str = "",
        request_id: str = "",
        metadata: Mapping[str, str] | None = None,
        within: Collection[str] | None = None,
    ) -> Page[SessionView]:
        """A page of sessions in creation order; every filter given must hold (``metadata``:
        each of its key/value pairs is in the session's metadata; ``within``: the session's
        pool is one of these)."""
        size = page_size(size)
        number = (
            normalize(participant_number, field="participant_number") if participant_number else ""
        )
        bounded_text(
            request_id, field="request_id", limit=MAX_REQUEST_ID, reason="INVALID_REQUEST_ID"
        )
        wanted = _validate_metadata(metadata or {}, max_entries=MAX_METADATA_FILTERS)
        if status and status not in STATUSES:
            raise InvalidArgument(
                f"status must be one of {', '.join(STATUSES)}",
                reason="INVALID_STATUS",
                metadata={"field": "status"},
            )
        pool_id = names.pool_id(pool) if pool else ""
        scope = ["sessions", number, status, pool_id, request_id, sorted(wanted.items())]
        if within is not None:
            scope.append(sorted(within))
        after = decode_token(token, scope)
        now = self._clock.now()
        query = (
            select(Session, Pool.name)
            .join(Pool, Pool.id == Session.pool_id)
            .order_by(Session.created_at, Session.id)
            .limit(size + 1)
        )
        if number:
            query = query.where(
                Session.id.in_(select(Participant.session_id).where(Participant.number == number))
            )
        if status:
            query = query.where(_effective_status_is(status, now))
        if request_id:
            query = query.where(Session.request_id == request_id)
        if within is not None:
            query = query.where(Pool.name.in_(sorted(within)))
        for key, value in sorted(wanted.items()):
            query = query.where(json_text_equals(Session.attributes, key, value))
        if after:
            created, last_id = _datetime_from_key(after[0]), str(after[-1])
            query = query.where(tuple_(Session.created_at, Session.id) > (created, last_id))
        async with reading(self._factory) as db:
            if pool_id:
                query = query.where(Session.pool_id == (await get_pool(db, pool_id)).id)
            found = (await db.execute(query)).all()
            views = [_to_view(s, pool_name, _participants(s), now) for s, pool_name in found]
        return paginate(views, size, lambda v: [_key_from_datetime(v.created_at), v.id], scope)

    async def update_session(
        self,
        name: str,
        paths: Sequence[str],
        *,
        ttl: timedelta | None = None,
        expire_time: datetime | None = None,
        status: str = "",
    ) -> SessionView:
        """Apply the fields named by ``paths`` ("ttl", "expire_time", "status").

        ttl None clears the idle TTL and expire_time None the absolute expiry; the only status
        a caller can set is CLOSED (closed_reason API).
        """
        session_id = names.session_id(name, field="session.name")
        fields = _validate_paths(paths)
        ttl_seconds = 0
        if "ttl" in fields and ttl is not None:
            ttl_seconds = duration_seconds(ttl, field="session.ttl", reason="INVALID_TTL")
        if "status" in fields and status != SessionStatus.CLOSED:
            raise InvalidArgument(
                "status can only be set to CLOSED",
                reason="INVALID_STATUS",
                metadata={"field": "session.status"},
            )
        writes = Writes()
        async with writing(self._factory) as db:
            now = self._clock.now()
            if "expire_time" in fields and expire_time is not None and as_utc(expire_time) <= now:
                raise InvalidArgument(
                    "expire_time must be in the future",
                    reason="INVALID_EXPIRE_TIME",
                    metadata={"field": "session.expire_time"},
                )
            session = await load_session(db, session_id, for_update=True)
            await lifecycle.close_if_ran_out(db, session, now, writes)
            if session.status == SessionStatus.CLOSED and fields - {"status"}:
                raise FailedPrecondition(
                    "the session is closed; its ttl and expire_time can no longer change",
                    reason="SESSION_CLOSED",
                    metadata={"session": names.session_name(session_id)},
                )
            if "ttl" in fields:
                session.ttl_seconds = ttl_seconds
                # The idle TTL counts from the last interaction (or the creation).
                lifecycle.reset_idle_expiry(
                    session, as_utc(session.last_interaction_at or session.created_at)
                )
            if "expire_time" in fields:
                session.expires_at = as_utc(expire_time) if expire_time is not None else None
            if changed := sorted(fields - {"status"}):
                session.updated_at = now
                writes.event(
                    rows.event(
                        type=EventType.SESSION_UPDATED,
                        now=now,
                        pool_id=session.pool_id,
                        session_id=session.id,
                        reason=",".join(changed),
                    )
                )
                await lifecycle.close_if_ran_out(db, session, now, writes)
            if "status" in fields:
                await lifecycle.close(db, session, CloseReason.API, now, writes)
            await db.flush()
            view = await session_view(db, session, now)
            await writes.flush(await db.connection())
        if writes.events:
            self._committed()
        return view

    async def delete_session(self, name: str) -> None:
        """Erase the session, its participants and every interaction (sent or queued)."""
        session_id = names.session_id(name)
        async with writing(self._factory) as db:
            session = await load_session(db, session_id, for_update=True)
            event = rows.event(
                type=EventType.SESSION_DELETED,
                now=self._clock.now(),
                pool_id=session.pool_id,
                session_id=session_id,
            )
            await db.execute(delete(Interaction).where(Interaction.session_id == session_id))
            await db.execute(delete(Participant).where(Participant.session_id == session_id))
            await db.execute(delete(Session).where(Session.id == session_id))
            await events.append(await db.connection(), [event])
        self._committed()
        log.info("session %s deleted", session_id)

    async def list_interactions(
        self, parent: str, size: int = 0, token: str = ""
    ) -> Page[InteractionView]:
        session_id = names.session_id(parent, field="parent")
        size = page_size(size)
        scope = ["interactions", session_id]
        after = decode_token(token, scope)
        query = (
            select(Interaction)
            .where(Interaction.session_id == session_id)
            .order_by(Interaction.created_at, Interaction.id)
            .limit(size + 1)
        )
        if after:
            created, last_id = _datetime_from_key(after[0]), str(after[-1])
            query = query.where(tuple_(Interaction.created_at, Interaction.id) > (created, last_id))
        async with reading(self._factory) as db:
            await load_session(db, session_id)
            found = (await db.scalars(query)).all()
            views = [interaction_view(row) for row in found]
        return paginate(views, size, lambda v: [_key_from_datetime(v.created_at), v.id], scope)


def check_participant_count(count: int, most: int = MAX_PARTICIPANTS) -> None:
    """A session has 2 to ``most`` (its pool's max_participants, at most 10) participants."""
    if count < 2:
        raise InvalidArgument(
            f"a session has at least two participants, got {count}",
            reason="INVALID_PARTICIPANTS",
            metadata={"field": "participants"},
        )
    most = min(most, MAX_PARTICIPANTS)
    if count > most:
        raise InvalidArgument(
            f"a session of this pool has at most {most} participants, got {count}",
            reason="TOO_MANY_PARTICIPANTS",
            metadata={"field": "participants", "max_participants": str(most)},
        )


def validate_participant(spec: ParticipantSpec, *, field: str) -> ParticipantSpec:
    """``spec`` with its number normalized, its display name and greeting within bounds."""
    return ParticipantSpec(
        number=normalize(spec.number, field=f"{field}.number"),
        display_name=bounded_text(
            spec.display_name,
            field=f"{field}.display_name",
            limit=MAX_DISPLAY_NAME,
            reason="INVALID_DISPLAY_NAME",
        ),
        greeting=bounded_text(
            spec.greeting, field=f"{field}.greeting", limit=MAX_GREETING, reason="INVALID_GREETING"
        ),
    )


def _validate(spec: SessionSpec) -> _CreateRequest:
    check_participant_count(len(spec.participants))
    participants = tuple(
        validate_participant(p, field=f"participants[{i}]") for i, p in enumerate(spec.participants)
    )
    seen: set[str] = set()
    for i, p in enumerate(participants):
        if p.number in seen:
            raise InvalidArgument(
                "every participant must have a different number",
                reason="SAME_PARTICIPANT_NUMBER",
                metadata={"field": f"participants[{i}].number"},
            )
        seen.add(p.number)
    bounded_text(
        spec.request_id, field="request_id", limit=MAX_REQUEST_ID, reason="INVALID_REQUEST_ID"
    )
    return _CreateRequest(
        participants=participants,
        pool_id=names.pool_id(spec.pool or names.DEFAULT_POOL),
        ttl_seconds=None
        if spec.ttl is None
        else duration_seconds(spec.ttl, field="ttl", reason="INVALID_TTL"),
        expire_time=as_utc(spec.expire_time) if spec.expire_time is not None else None,
        metadata=_validate_metadata(spec.metadata),
        request_id=spec.request_id,
        close_notice=bounded_text(
            spec.close_notice, field="close_notice", limit=MAX_NOTICE, reason="INVALID_NOTICE"
        ),
    )


def _validate_metadata(
    metadata: Mapping[str, str], *, max_entries: int = MAX_METADATA_ENTRIES
) -> dict[str, str]:
    """CreateSession's metadata, or ListSessions' filter (fewer entries, same key and value
    bounds)."""
    problem = ""
    if len(metadata) > max_entries:
        problem = f"at most {max_entries} entries"
    elif any(not key or len(key) > MAX_METADATA_KEY for key in metadata):
        problem = f"keys must be 1-{MAX_METADATA_KEY} characters"
    elif any(len(value) > MAX_METADATA_VALUE for value in metadata.values()):
        problem = f"values must be at most {MAX_METADATA_VALUE} characters"
    if problem:
        raise InvalidArgument(
            f"metadata: {problem}", reason="INVALID_METADATA", metadata={"field": "metadata"}
        )
    return dict(metadata)


def _validate_paths(paths: Sequence[str]) -> frozenset[str]:
    if not paths:
        raise InvalidArgument(
            f"update_mask is required; updatable fields: {', '.join(UPDATABLE_PATHS)}",
            reason="INVALID_UPDATE_MASK",
            metadata={"field": "update_mask"},
        )
    for path in paths:
        if path not in UPDATABLE_PATHS:
            raise InvalidArgument(
                f"update_mask path {path[:80]!r} is not updatable "
                f"(updatable: {', '.join(UPDATABLE_PATHS)})",
                reason="INVALID_UPDATE_MASK",
                metadata={"field": "update_mask", "path": path[:80]},
            )
    return frozenset(paths)


def _effective_status_is(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL form of the status a session reads as at ``now`` (ran out means CLOSED)."""
    if status == SessionStatus.CLOSED:
        return or_(Session.status == SessionStatus.CLOSED, ran_out_sql(now))
    if status in (SessionStatus.OPEN, SessionStatus.IN_PROGRESS):
        return and_(Session.status == status, live_sql(now))
    return false() if status else true()


async def _session_by_request_id(db: AsyncSession, request_id: str) -> Session | None:
    session: Session | None = await db.scalar(
        select(Session).where(Session.request_id == request_id)
    )
    return session


def queue_opening_text(
    writes: Writes,
    session: Session,
    pool: Pool,
    participant: ParticipantSpec,
    proxy_number: str,
    now: datetime,
) -> None:
    """A new participant's first text, from their own proxy number: their greeting, or else the
    pool's open notice (a system text); nothing when neither is set."""
    if participant.greeting.strip():
        direction, text = Direction.OUTBOUND, participant.greeting
    elif pool.open_notice.strip():
        direction, text = Direction.SYSTEM, pool.open_notice
    else:
        return
    writes.interaction(
        rows.outbound(
            now=now,
            direction=direction,
            proxy_number=proxy_number,
            recipient_number=participant.number,
            text=text,
            session_id=session.id,
        ),
        pool_id=pool.id,
    )


async def load_session(db: AsyncSession, session_id: str, *, for_update: bool = False) -> Session:
    query = select(Session).where(Session.id == session_id)
    if for_update:
        query = query.with_for_update()
    session: Session | None = await db.scalar(query)
    if session is None:
        raise NotFound(
            f"session {session_id} does not exist",
            reason="SESSION_NOT_FOUND",
            metadata={"session": names.session_name(session_id)},
        )
    return session


async def session_view(db: AsyncSession, session: Session, now: datetime) -> SessionView:
    pool_name = await db.scalar(select(Pool.name).where(Pool.id == session.pool_id))
    return _to_view(session, str(pool_name), _participants(session), now)


def _participants(session: Session) -> tuple[ParticipantView, ...]:
    """Its participants, those removed from it left out (a closed session's are inactive but
    listed: they were in it at the end)."""
    return tuple(
        ParticipantView(p.number, p.proxy_number.number, p.display_name)
        for p in session.participants
        if p.removed_at is None
    )


def _to_view(
    session: Session, pool_id: str, participants: tuple[ParticipantView, ...], now: datetime
) -> SessionView:
    status, reason = session.status, session.closed_reason
    closed_at = as_utc(session.closed_at) if session.closed_at else None
    over = session_ran_out(session, now)
    if over is not None:
        status, reason, closed_at = SessionStatus.CLOSED, over.reason, over.at
    return SessionView(
        id=session.id,
        pool_id=pool_id,
        status=status,
        closed_reason=reason,
        participants=participants,
        ttl_seconds=session.ttl_seconds,
        expire_time=as_utc(session.expires_at) if session.expires_at else None,
        metadata=dict(session.attributes),
        created_at=as_utc(session.created_at),
        updated_at=as_utc(session.updated_at),
        last_interaction_at=as_utc(session.last_interaction_at)
        if session.last_interaction_at
        else None,
        closed_at=closed_at,
        close_notice=session.close_notice,
        request_id=session.request_id or "",
    )


def interaction_view(row: Interaction) -> InteractionView:
    return InteractionView(
        id=row.id,
        session_id=row.session_id or "",
        direction=row.direction,
        sender_number=row.sender_number,
        recipient_number=row.recipient_number,
        proxy_number=row.proxy_number,
        text=row.text,
        status=row.status,
        failure_reason=row.failure_reason,
        provider_message_ids=tuple(row.provider_message_ids),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _key_from_datetime(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // timedelta(microseconds=1)


def _datetime_from_key(value: str | int) -> datetime:
    if not isinstance(value, int):
        raise InvalidArgument(
            "page_token is invalid", reason="INVALID_PAGE_TOKEN", metadata={"field": "page_token"}
        )
    return _EPOCH + timedelta(microseconds=value)
