"""SendMessage: a system text to one participant of a live session, sent **from that
participant's own proxy number** through the outbox like every SMS (same guarantees), and
listed among the session's interactions with direction SYSTEM.

Idempotent with a request_id: the interaction's id is derived from it, so a retry finds the
row the first call queued and returns it; the same request_id with another session, recipient
or text is REQUEST_ID_REUSED. A system text is not session activity: the idle TTL keeps
counting from the participants' last message. Nobody is texted on a proxy number they opted
out of.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from numproxy.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from numproxy.common.input_text import text_problem
from numproxy.common.numbers import mask, normalize
from numproxy.router.sessions import lifecycle, names
from numproxy.router.sessions.domain import Domain
from numproxy.router.sessions.sessions import (
    MAX_REQUEST_ID,
    InteractionView,
    interaction_view,
    load_session,
)
from numproxy.router.sessions.validation import bounded_text
from numproxy.router.store import queries, rows
from numproxy.router.store.dialect import violates
from numproxy.router.store.models import Interaction
from numproxy.router.store.states import Direction
from numproxy.router.store.transactions import writing
from numproxy.router.store.writes import Writes

log = logging.getLogger(__name__)

MAX_TEXT = 1600
# Interaction ids of SendMessage calls with a request_id: uuid5 of the request_id in this
# namespace (a fixed, random uuid).
REQUEST_ID_NAMESPACE = uuid.UUID("6b0d3f57-2f8e-4d8a-9c54-3f1f5b0c9e21")


def interaction_id_for(request_id: str) -> str:
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, "SendMessage/" + request_id))


def validate_text(text: str, *, field: str = "text") -> str:
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidArgument(
            f"{field} must be 1-{MAX_TEXT} characters and not blank, got {len(text)}",
            reason="INVALID_TEXT",
            metadata={"field": field},
        )
    problem = text_problem(text, MAX_TEXT)
    if problem:
        raise InvalidArgument(
            f"{field} {problem}", reason="INVALID_TEXT", metadata={"field": field}
        )
    return text


class SessionMessaging(Domain):
    async def send_message(
        self, session: str, to: str, text: str, *, request_id: str = ""
    ) -> InteractionView:
        session_id = names.session_id(session, field="session")
        recipient = normalize(to, field="to")
        validate_text(text)
        bounded_text(
            request_id, field="request_id", limit=MAX_REQUEST_ID, reason="INVALID_REQUEST_ID"
        )
        fixed_id = interaction_id_for(request_id) if request_id else None

        async def attempt() -> tuple[InteractionView, bool]:
            async with writing(self._factory) as db:
                return await self._send(db, session_id, recipient, text, request_id, fixed_id)

        try:
            view, queued = await attempt()
        except IntegrityError as exc:
            if fixed_id is None or not violates(exc, "pk_interaction", "interaction.id"):
                raise
            # A call with the same request_id (for another session) committed first: this
            # attempt finds its row and answers like a retry.
            view, queued = await attempt()
        self._committed(queued=queued)
        return view

    async def _send(
        self,
        db: AsyncSession,
        session_id: str,
        recipient: str,
        text: str,
        request_id: str,
        fixed_id: str | None,
    ) -> tuple[InteractionView, bool]:
        now = self._clock.now()
        session = await load_session(db, session_id, for_update=True)
        if fixed_id is not None:
            existing = await db.get(Interaction, fixed_id)
            if existing is not None:
                same = (existing.session_id, existing.recipient_number, existing.text) == (
                    session_id,
                    recipient,
                    text,
                )
                if not same:
                    raise AlreadyExists(
                        "request_id was already used for a different SendMessage request",
                        reason="REQUEST_ID_REUSED",
                        metadata={"request_id": request_id},
                    )
                return interaction_view(existing), False
        await lifecycle.require_live(db, session, now)
        participant = next(
            (p for p in session.participants if p.active and p.number == recipient), None
        )
        if participant is None:
            raise NotFound(
                f"{mask(recipient)} is not a participant of session {session_id}",
                reason="PARTICIPANT_NOT_FOUND",
                metadata={
                    "session": names.session_name(session_id),
                    "participant": mask(recipient),
                },
            )
        proxy = participant.proxy_number.number
        conn = await db.connection()
        if await queries.opted_out(conn, [(recipient, proxy)]):
            raise FailedPrecondition(
                f"{mask(recipient)} opted out of texts from their proxy number {proxy}",
                reason="OPTED_OUT",
                metadata={"participant": mask(recipient), "proxy_number": proxy},
            )
        row = rows.outbound(
            now=now,
            direction=Direction.SYSTEM,
            proxy_number=proxy,
            recipient_number=recipient,
            text=text,
            session_id=session_id,
        )
        if fixed_id is not None:
            row["id"] = fixed_id
        writes = Writes()
        writes.interaction(row, pool_id=session.pool_id)
        await writes.flush(conn)
        log.info("system text %s queued to %s on %s", row["id"], mask(recipient), proxy)
        return interaction_view(Interaction(**row)), True
