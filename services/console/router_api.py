"""What the console asks the router, over the public gRPC API only.

Calls go through :class:`numproxy.client.NumproxyClient`. Every list is bounded; every call
has the client's deadline except the event stream, which lives as long as the page watching
it (and resumes by itself when the router restarts).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import grpc

from numproxy.client import NumproxyClient
from numproxy.common.grpc_client import is_serving
from numproxy.v1 import event_pb2, event_pb2_grpc, pool_pb2, session_pb2

MAX_POOLS = 200
MAX_NUMBERS_PER_POOL = 1000
MAX_INTERACTIONS = 500
LIST_PAGE = 200
ACTIVE_STATUSES = ("open", "in_progress")


@dataclass(frozen=True)
class SessionPage:
    sessions: list[session_pb2.Session]
    next_page_token: str


class Router(Protocol):
    """The calls the console makes (a fake implements it in tests)."""

    async def ready(self) -> bool: ...
    async def list_pools(self) -> list[pool_pb2.Pool]: ...
    async def list_numbers(self, pool: str) -> list[pool_pb2.ProxyNumber]: ...
    async def active_sessions(
        self, pool: str, limit: int
    ) -> tuple[list[session_pb2.Session], bool]: ...
    async def list_sessions(
        self, *, pool: str, status: str, participant: str, page_size: int, page_token: str
    ) -> SessionPage: ...
    async def get_session(self, session_id: str) -> session_pb2.Session: ...
    async def list_interactions(self, session_id: str) -> list[session_pb2.Interaction]: ...
    async def close_session(self, session_id: str) -> session_pb2.Session: ...
    async def send_message(
        self, session_id: str, to: str, text: str, request_id: str
    ) -> session_pb2.Interaction: ...
    async def drain_number(self, pool: str, number: str) -> pool_pb2.ProxyNumber: ...
    def watch_events(
        self, *, after_cursor: int, session_id: str = ""
    ) -> AsyncIterator[event_pb2.Event]: ...


class GrpcRouter:
    """The router over one gRPC channel (owned by the composition root)."""

    def __init__(self, channel: grpc.aio.Channel, target: str, timeout: float) -> None:
        self._channel = channel
        self._target = target
        self._timeout = timeout
        self._client = NumproxyClient(target, timeout=timeout, channel=channel)
        self._events = event_pb2_grpc.EventServiceStub(channel)

    async def ready(self) -> bool:
        return await is_serving(self._channel, deadline=min(self._timeout, 2.0))

    async def list_pools(self) -> list[pool_pb2.Pool]:
        pools: list[pool_pb2.Pool] = []
        async for pool in self._client.iter_pools():
            pools.append(pool)
            if len(pools) >= MAX_POOLS:
                break
        return pools

    async def list_numbers(self, pool: str) -> list[pool_pb2.ProxyNumber]:
        numbers: list[pool_pb2.ProxyNumber] = []
        async for number in self._client.iter_numbers(pool):
            numbers.append(number)
            if len(numbers) >= MAX_NUMBERS_PER_POOL:
                break
        return numbers

    async def active_sessions(
        self, pool: str, limit: int
    ) -> tuple[list[session_pb2.Session], bool]:
        """Up to ``limit`` live sessions of ``pool``; True when there were more."""
        found: list[session_pb2.Session] = []
        for status in ACTIVE_STATUSES:
            token = ""
            while True:
                page = await self._client.list_sessions(
                    pool=pool, status=status, page_size=LIST_PAGE, page_token=token
                )
                found.extend(page.sessions)
                if len(found) >= limit:
                    return found[:limit], True
                token = page.next_page_token
                if not token:
                    break
        return found, False

    async def list_sessions(
        self, *, pool: str, status: str, participant: str, page_size: int, page_token: str
    ) -> SessionPage:
        page = await self._client.list_sessions(
            pool=pool,
            status=status,
            participant_number=participant,
            page_size=page_size,
            page_token=page_token,
        )
        return SessionPage(list(page.sessions), page.next_page_token)

    async def get_session(self, session_id: str) -> session_pb2.Session:
        return await self._client.get_session(session_id)

    async def list_interactions(self, session_id: str) -> list[session_pb2.Interaction]:
        found: list[session_pb2.Interaction] = []
        async for interaction in self._client.iter_interactions(session_id):
            found.append(interaction)
            if len(found) >= MAX_INTERACTIONS:
                break
        return found

    async def close_session(self, session_id: str) -> session_pb2.Session:
        return await self._client.close_session(session_id)

    async def send_message(
        self, session_id: str, to: str, text: str, request_id: str
    ) -> session_pb2.Interaction:
        return await self._client.send_message(
            session_id, to, text, request_id=request_id or str(uuid.uuid4())
        )

    async def drain_number(self, pool: str, number: str) -> pool_pb2.ProxyNumber:
        return await self._client.remove_number(pool, number)

    async def watch_events(
        self, *, after_cursor: int, session_id: str = ""
    ) -> AsyncIterator[event_pb2.Event]:
        async for event in self._client.watch_events(
            after_cursor=after_cursor, session=session_id, reconnect=True
        ):
            yield event
