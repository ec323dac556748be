"""An in-memory stand-in for the router, with the calls the console makes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from numproxy.client import NotFoundError
from numproxy.console.router_api import SessionPage
from numproxy.v1 import event_pb2, pool_pb2, session_pb2

ANN, BOB = "+15551230001", "+15551230002"
PROXY_A, PROXY_B = "+12025550101", "+12025550102"
SESSION_ID = "0b5f7a52-0000-4000-8000-000000000001"
SECRET_TEXT = "meet at the blue door"


def _time(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=1_800_000_000 + seconds)


def not_found(what: str) -> NotFoundError:
    return NotFoundError(grpc.StatusCode.NOT_FOUND, f"{what} not found", "NOT_FOUND", {})


class FakeRouter:
    def __init__(self) -> None:
        self.session = session_pb2.Session(
            name=f"sessions/{SESSION_ID}",
            pool="pools/chat",
            status=session_pb2.SESSION_STATUS_IN_PROGRESS,
            participants=[
                session_pb2.Participant(number=ANN, proxy_number=PROXY_A),
                session_pb2.Participant(number=BOB, proxy_number=PROXY_B),
            ],
            create_time=_time(0),
        )
        self.interactions = [
            session_pb2.Interaction(
                name=f"sessions/{SESSION_ID}/interactions/1",
                direction=session_pb2.DIRECTION_INBOUND,
                sender_number=ANN,
                proxy_number=PROXY_A,
                text=SECRET_TEXT,
                status=session_pb2.INTERACTION_STATUS_RECEIVED,
                create_time=_time(1),
            ),
            session_pb2.Interaction(
                name=f"sessions/{SESSION_ID}/interactions/2",
                direction=session_pb2.DIRECTION_OUTBOUND,
                sender_number=ANN,
                recipient_number=BOB,
                proxy_number=PROXY_B,
                text=SECRET_TEXT,
                status=session_pb2.INTERACTION_STATUS_FAILED,
                failure_reason=f"DELIVERY_FAILED: handset {BOB} unreachable",
                create_time=_time(2),
            ),
        ]
        self.numbers = [
            pool_pb2.ProxyNumber(
                number=PROXY_A,
                pool="pools/chat",
                state=pool_pb2.NUMBER_STATE_ACTIVE,
                active_participants=1,
            ),
            pool_pb2.ProxyNumber(
                number=PROXY_B,
                pool="pools/chat",
                state=pool_pb2.NUMBER_STATE_ACTIVE,
                active_participants=1,
            ),
        ]
        self.closed: list[str] = []
        self.sent: list[tuple[str, str, str]] = []
        self.drained: list[tuple[str, str]] = []
        self.watched: list[tuple[int, str]] = []

    async def ready(self) -> bool:
        return True

    async def list_pools(self) -> list[pool_pb2.Pool]:
        return [pool_pb2.Pool(name="pools/chat", end_command="#end", number_count=2)]

    async def list_numbers(self, pool: str) -> list[pool_pb2.ProxyNumber]:
        return list(self.numbers)

    async def active_sessions(
        self, pool: str, limit: int
    ) -> tuple[list[session_pb2.Session], bool]:
        return [self.session], False

    async def list_sessions(
        self, *, pool: str, status: str, participant: str, page_size: int, page_token: str
    ) -> SessionPage:
        matches = not participant or participant in (ANN, BOB)
        return SessionPage([self.session] if matches else [], "")

    def _check(self, session_id: str) -> None:
        if session_id != SESSION_ID:
            raise not_found("session")

    async def get_session(self, session_id: str) -> session_pb2.Session:
        self._check(session_id)
        return self.session

    async def list_interactions(self, session_id: str) -> list[session_pb2.Interaction]:
        self._check(session_id)
        return list(self.interactions)

    async def close_session(self, session_id: str) -> session_pb2.Session:
        self._check(session_id)
        self.closed.append(session_id)
        self.session.status = session_pb2.SESSION_STATUS_CLOSED
        return self.session

    async def send_message(
        self, session_id: str, to: str, text: str, request_id: str
    ) -> session_pb2.Interaction:
        self._check(session_id)
        self.sent.append((to, text, request_id))
        return session_pb2.Interaction(direction=session_pb2.DIRECTION_SYSTEM, text=text)

    async def drain_number(self, pool: str, number: str) -> pool_pb2.ProxyNumber:
        self.drained.append((pool, number))
        return self.numbers[0]

    async def watch_events(
        self, *, after_cursor: int, session_id: str = ""
    ) -> AsyncIterator[event_pb2.Event]:
        self.watched.append((after_cursor, session_id))
        for cursor in (after_cursor + 1, after_cursor + 2):
            yield event_pb2.Event(
                cursor=cursor,
                type=event_pb2.EVENT_TYPE_MESSAGE_RECEIVED,
                session=f"sessions/{SESSION_ID}",
                participant_number=ANN,
                proxy_number=PROXY_A,
            )
