"""numproxy.v1.EventService: proto <-> the event stream (events/stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from numproxy.common.errors import Context
from numproxy.router.api import convert
from numproxy.router.api.access import SessionAccess, allowed_pools, check_pool
from numproxy.router.events.stream import EventQuery, Events
from numproxy.router.sessions import names
from numproxy.router.store.events import StoredEvent
from numproxy.v1 import event_pb2, event_pb2_grpc, session_pb2

_TYPE_PREFIX = "EVENT_TYPE_"


class EventServicer(event_pb2_grpc.EventServiceServicer):
    """A pool-limited caller gets only its pools' events."""

    def __init__(self, events: Events, access: SessionAccess) -> None:
        self._events = events
        self._access = access

    async def _query(
        self, request: event_pb2.WatchEventsRequest | event_pb2.ListEventsRequest
    ) -> EventQuery:
        if request.pool:
            check_pool(request.pool)
        if request.session:
            await self._access.check(request.session, field="session")
        return EventQuery(
            after_cursor=request.after_cursor,
            pool=request.pool,
            session=request.session,
            types=type_names(request.types),
            within=allowed_pools(),
        )

    async def WatchEvents(
        self, request: event_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[event_pb2.WatchEventsResponse]:
        query = await self._query(request)
        async for found in self._events.watch(query):
            yield event_pb2.WatchEventsResponse(events=[event_message(e) for e in found])

    async def ListEvents(
        self, request: event_pb2.ListEventsRequest, context: Context
    ) -> event_pb2.ListEventsResponse:
        query = await self._query(request)
        page = await self._events.list_events(query, request.page_size, request.page_token)
        return event_pb2.ListEventsResponse(
            events=[event_message(event) for event in page.items],
            next_page_token=page.next_page_token,
        )


def type_names(values: Iterable[int]) -> list[str]:
    """The stored names of API event types ("SESSION_CLOSED"); an unknown or unspecified
    value keeps a name the stream's check rejects."""
    known = set(event_pb2.EventType.values())
    return [
        event_pb2.EventType.Name(value).removeprefix(_TYPE_PREFIX)  # type: ignore[arg-type]
        if value in known
        else f"{value}"
        for value in values
    ]


def event_message(event: StoredEvent) -> event_pb2.Event:
    interaction = ""
    if event.interaction_id:
        interaction = (
            names.interaction_name(event.session_id, event.interaction_id)
            if event.session_id
            else f"interactions/{event.interaction_id}"
        )
    return event_pb2.Event(
        cursor=event.seq,
        type=event_pb2.EventType.Value(_TYPE_PREFIX + event.type),
        create_time=convert.timestamp(event.created_at),
        pool=names.pool_name(event.pool_name) if event.pool_name else "",
        session=names.session_name(event.session_id) if event.session_id else "",
        interaction=interaction,
        participant_number=event.participant,
        proxy_number=event.proxy_number,
        reason=event.reason,
        direction=session_pb2.Direction.Value("DIRECTION_" + event.direction)
        if event.direction
        else session_pb2.DIRECTION_UNSPECIFIED,
    )
