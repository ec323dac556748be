"""Typed async client for numproxy's public gRPC API (sessions, pools and events).

    async with NumproxyClient("router:50051") as np:
        await np.add_numbers("default", ["+15550100001", "+15550100002"])
        session = await np.create_session("+15551230001", "+15551230002", ttl=3600)
        print(session.participants[0].proxy_number)

Every method returns the protobuf resource (``numproxy.v1.*_pb2``). Failures raise
:class:`NumproxyError` subclasses carrying the server's ErrorInfo ``reason``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from numproxy.common.errors import error_info
from numproxy.common.grpc_client import open_channel
from numproxy.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
    pool_pb2,
    pool_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

Seconds = float | timedelta


class NumproxyError(Exception):
    """A failed call: gRPC ``code``, ErrorInfo ``reason`` and ``metadata``, and the message."""

    def __init__(
        self, code: grpc.StatusCode, message: str, reason: str, metadata: Mapping[str, str]
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata)

    def __str__(self) -> str:
        return f"{self.message} ({self.reason})" if self.reason else self.message


class InvalidArgumentError(NumproxyError):
    pass


class NotFoundError(NumproxyError):
    pass


class AlreadyExistsError(NumproxyError):
    pass


class FailedPreconditionError(NumproxyError):
    """The request is valid but the state refuses it: a closed session, an opted-out
    participant, a full session; CURSOR_EXPIRED (the events after the cursor were pruned:
    re-sync)."""


class PoolExhaustedError(NumproxyError):
    pass


class UnavailableError(NumproxyError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[NumproxyError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: PoolExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
}
# A watch that ends with these is resumed (with reconnect=True): the router went away.
_RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
# Waits before resuming a watch: doubling from the first to the last.
_RESUME_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)


def translate(error: grpc.aio.AioRpcError, target: str) -> NumproxyError:
    """The typed exception for a failed call."""
    info = error_info(error)
    code = error.code()
    message = error.details() or code.name
    if info is None and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        message = f"router at {target} is unreachable"
    reason = info.reason if info is not None else code.name
    metadata = dict(info.metadata) if info is not None else {}
    return _BY_CODE.get(code, NumproxyError)(code, message, reason, metadata)


def pool_name(pool: str) -> str:
    return pool if pool.startswith("pools/") else f"pools/{pool}"


def session_name(session: str) -> str:
    return session if session.startswith("sessions/") else f"sessions/{session}"


def event_type(value: str | int) -> event_pb2.EventType.ValueType:
    """An API event type from its number or name ("session_closed", "SESSION_CLOSED",
    "EVENT_TYPE_SESSION_CLOSED")."""
    if isinstance(value, int):
        return event_pb2.EventType.ValueType(value)
    name = value.strip().upper()
    if not name.startswith("EVENT_TYPE_"):
        name = "EVENT_TYPE_" + name
    try:
        return event_pb2.EventType.Value(name)
    except ValueError:
        raise ValueError(f"unknown event type {value!r}") from None


def event_type_name(value: event_pb2.EventType.ValueType) -> str:
    """The short name of an API event type ("SESSION_CLOSED")."""
    return event_pb2.EventType.Name(value).removeprefix("EVENT_TYPE_")


def _duration(value: Seconds) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromTimedelta(value if isinstance(value, timedelta) else timedelta(seconds=value))
    return result


# Keyword of create_pool/update_pool -> update-mask path of the API's Pool.
_POOL_PATHS = {
    "hook_address": "hooks.address",
    "hook_deadline": "hooks.deadline",
    "hook_failure_mode": "hooks.failure_mode",
    "resolve_out_of_session": "hooks.resolve_out_of_session",
    "intercept_messages": "hooks.intercept_messages",
}


def _pool_fields(**values: Any) -> tuple[pool_pb2.Pool, list[str]]:
    """A Pool message with the values given (None: not given) and their update-mask paths."""
    pool = pool_pb2.Pool()
    paths = []
    for key, value in values.items():
        if value is None:
            continue
        paths.append(_POOL_PATHS.get(key, key))
        if key in ("default_ttl", "default_lifetime", "reply_interval"):
            getattr(pool, key).CopyFrom(_duration(value))
        elif key == "hook_deadline":
            pool.hooks.deadline.CopyFrom(_duration(value))
        elif key == "out_of_session_policy":
            name = "OUT_OF_SESSION_POLICY_" + (value.upper() or "UNSPECIFIED")
            pool.out_of_session_policy = pool_pb2.OutOfSessionPolicy.Value(name)
        elif key == "hook_failure_mode":
            name = "HOOK_FAILURE_MODE_" + (value.upper().replace("-", "_") or "UNSPECIFIED")
            pool.hooks.failure_mode = pool_pb2.HookFailureMode.Value(name)
        elif key in _POOL_PATHS:
            setattr(pool.hooks, _POOL_PATHS[key].removeprefix("hooks."), value)
        else:
            setattr(pool, key, value)
    return pool, paths


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value)
    return result


class NumproxyClient:
    """One channel to a router; use as an async context manager or call :meth:`close`."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        timeout: float = 10.0,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._own_channel = channel is None
        self._channel = channel or open_channel(target)
        self._sessions = session_pb2_grpc.SessionServiceStub(self._channel)
        self._pools = pool_pb2_grpc.PoolServiceStub(self._channel)
        self._events = event_pb2_grpc.EventServiceStub(self._channel)
        self._audit = audit_pb2_grpc.AuditServiceStub(self._channel)

    async def __aenter__(self) -> NumproxyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_channel:
            await self._channel.close(None)

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, self.target) from None

    # --- pools -------------------------------------------------------------------------

    async def create_pool(
        self,
        pool_id: str,
        *,
        default_ttl: Seconds | None = None,
        default_lifetime: Seconds | None = None,
        out_of_session_policy: str | None = None,
        out_of_session_reply: str = "",
        reply_interval: Seconds | None = None,
        max_participants: int = 0,
        hook_address: str = "",
        hook_deadline: Seconds | None = None,
        hook_failure_mode: str | None = None,
        resolve_out_of_session: bool = False,
        intercept_messages: bool = False,
        end_command: str = "",
        open_notice: str = "",
        close_notice: str = "",
        prefix_display_name: bool = False,
    ) -> pool_pb2.Pool:
        """Create a pool. ``out_of_session_policy``: "drop" or "reply"; ``hook_failure_mode``:
        "fail_open" (the default) or "fail_closed"; ``max_participants`` 0 means 10."""
        pool, _ = _pool_fields(
            default_ttl=default_ttl,
            default_lifetime=default_lifetime,
            out_of_session_policy=out_of_session_policy,
            out_of_session_reply=out_of_session_reply,
            reply_interval=reply_interval,
            max_participants=max_participants,
            hook_address=hook_address,
            hook_deadline=hook_deadline,
            hook_failure_mode=hook_failure_mode,
            resolve_out_of_session=resolve_out_of_session,
            intercept_messages=intercept_messages,
            end_command=end_command,
            open_notice=open_notice,
            close_notice=close_notice,
            prefix_display_name=prefix_display_name,
        )
        request = pool_pb2.CreatePoolRequest(pool_id=pool_id, pool=pool)
        reply = await self._call(self._pools.CreatePool, request)
        result: pool_pb2.Pool = reply.pool
        return result

    async def update_pool(
        self,
        pool: str,
        *,
        default_ttl: Seconds | None = None,
        default_lifetime: Seconds | None = None,
        out_of_session_policy: str | None = None,
        out_of_session_reply: str | None = None,
        reply_interval: Seconds | None = None,
        max_participants: int | None = None,
        hook_address: str | None = None,
        hook_deadline: Seconds | None = None,
        hook_failure_mode: str | None = None,
        resolve_out_of_session: bool | None = None,
        intercept_messages: bool | None = None,
        end_command: str | None = None,
        open_notice: str | None = None,
        close_notice: str | None = None,
        prefix_display_name: bool | None = None,
    ) -> pool_pb2.Pool:
        """Change the settings given (None: unchanged), as create_pool takes them."""
        target, paths = _pool_fields(
            default_ttl=default_ttl,
            default_lifetime=default_lifetime,
            out_of_session_policy=out_of_session_policy,
            out_of_session_reply=out_of_session_reply,
            reply_interval=reply_interval,
            max_participants=max_participants,
            hook_address=hook_address,
            hook_deadline=hook_deadline,
            hook_failure_mode=hook_failure_mode,
            resolve_out_of_session=resolve_out_of_session,
            intercept_messages=intercept_messages,
            end_command=end_command,
            open_notice=open_notice,
            close_notice=close_notice,
            prefix_display_name=prefix_display_name,
        )
        target.name = pool_name(pool)
        request = pool_pb2.UpdatePoolRequest(
            pool=target, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        reply = await self._call(self._pools.UpdatePool, request)
        result: pool_pb2.Pool = reply.pool
        return result

    async def get_pool(self, pool: str) -> pool_pb2.Pool:
        reply = await self._call(self._pools.GetPool, pool_pb2.GetPoolRequest(name=pool_name(pool)))
        result: pool_pb2.Pool = reply.pool
        return result

    async def list_pools(
        self, *, page_size: int = 0, page_token: str = ""
    ) -> pool_pb2.ListPoolsResponse:
        request = pool_pb2.ListPoolsRequest(page_size=page_size, page_token=page_token)
        result: pool_pb2.ListPoolsResponse = await self._call(self._pools.ListPools, request)
        return result

    async def iter_pools(self) -> AsyncIterator[pool_pb2.Pool]:
        token = ""
        while True:
            page = await self.list_pools(page_token=token)
            for pool in page.pools:
                yield pool
            token = page.next_page_token
            if not token:
                return

    async def add_numbers(self, pool: str, numbers: Iterable[str]) -> list[pool_pb2.ProxyNumber]:
        request = pool_pb2.AddNumbersRequest(pool=pool_name(pool), numbers=list(numbers))
        reply = await self._call(self._pools.AddNumbers, request)
        return list(reply.numbers)

    async def remove_number(self, pool: str, number: str) -> pool_pb2.ProxyNumber:
        """Drain ``number``: no new sessions on it; existing ones run to their end."""
        request = pool_pb2.RemoveNumberRequest(pool=pool_name(pool), number=number)
        reply = await self._call(self._pools.RemoveNumber, request)
        result: pool_pb2.ProxyNumber = reply.number
        return result

    async def list_numbers(
        self, pool: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> pool_pb2.ListNumbersResponse:
        request = pool_pb2.ListNumbersRequest(
            pool=pool_name(pool) if pool else "", page_size=page_size, page_token=page_token
        )
        result: pool_pb2.ListNumbersResponse = await self._call(self._pools.ListNumbers, request)
        return result

    async def iter_numbers(self, pool: str = "") -> AsyncIterator[pool_pb2.ProxyNumber]:
        token = ""
        while True:
            page = await self.list_numbers(pool, page_token=token)
            for number in page.numbers:
                yield number
            token = page.next_page_token
            if not token:
                return

    # --- sessions ----------------------------------------------------------------------

    async def create_session(
        self,
        *numbers: str,
        pool: str = "default",
        ttl: Seconds | None = None,
        expire_time: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str = "",
        display_names: Sequence[str] = (),
        greetings: Sequence[str] = (),
        close_notice: str = "",
    ) -> session_pb2.Session:
        """Open a session between 2 to 10 real numbers (at most the pool's
        max_participants); each gets a proxy number from ``pool``. ``display_names`` and
        ``greetings``: one per number, in order, or empty for none; ``close_notice``: sent
        to every participant when the session closes (empty: the pool's)."""
        participants = [
            session_pb2.ParticipantSpec(number=number, display_name=name, greeting=greeting)
            for number, name, greeting in zip(
                numbers,
                _one_each(display_names, numbers, "display_names"),
                _one_each(greetings, numbers, "greetings"),
                strict=True,
            )
        ]
        request = session_pb2.CreateSessionRequest(
            participants=participants,
            pool=pool_name(pool),
            metadata=dict(metadata or {}),
            request_id=request_id,
            close_notice=close_notice,
        )
        if ttl is not None:
            request.ttl.CopyFrom(_duration(ttl))
        if expire_time is not None:
            request.expire_time.CopyFrom(_timestamp(expire_time))
        reply = await self._call(self._sessions.CreateSession, request)
        result: session_pb2.Session = reply.session
        return result

    async def get_session(self, session: str) -> session_pb2.Session:
        request = session_pb2.GetSessionRequest(name=session_name(session))
        reply = await self._call(self._sessions.GetSession, request)
        result: session_pb2.Session = reply.session
        return result

    async def list_sessions(
        self,
        *,
        participant_number: str = "",
        status: str = "",
        pool: str = "",
        request_id: str = "",
        metadata: Mapping[str, str] | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> session_pb2.ListSessionsResponse:
        """One page of sessions. ``status``: "open", "in_progress" or "closed";
        ``request_id``: the session created with it; ``metadata``: sessions whose metadata
        has every one of these pairs (at most 8)."""
        request = session_pb2.ListSessionsRequest(
            participant_number=participant_number,
            pool=pool_name(pool) if pool else "",
            request_id=request_id,
            metadata=dict(metadata or {}),
            page_size=page_size,
            page_token=page_token,
        )
        if status:
            request.status = session_pb2.SessionStatus.Value(f"SESSION_STATUS_{status.upper()}")
        result: session_pb2.ListSessionsResponse = await self._call(
            self._sessions.ListSessions, request
        )
        return result

    async def iter_sessions(
        self,
        *,
        participant_number: str = "",
        status: str = "",
        pool: str = "",
        request_id: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> AsyncIterator[session_pb2.Session]:
        token = ""
        while True:
            page = await self.list_sessions(
                participant_number=participant_number,
                status=status,
                pool=pool,
                request_id=request_id,
                metadata=metadata,
                page_token=token,
            )
            for session in page.sessions:
                yield session
            token = page.next_page_token
            if not token:
                return

    async def update_session(
        self,
        session: str,
        *,
        ttl: Seconds | None = None,
        expire_time: datetime | None = None,
        close: bool = False,
    ) -> session_pb2.Session:
        """Change the idle TTL and/or absolute expiry, or close the session."""
        target = session_pb2.Session(name=session_name(session))
        paths = []
        if ttl is not None:
            target.ttl.CopyFrom(_duration(ttl))
            paths.append("ttl")
        if expire_time is not None:
            target.expire_time.CopyFrom(_timestamp(expire_time))
            paths.append("expire_time")
        if close:
            target.status = session_pb2.SESSION_STATUS_CLOSED
            paths.append("status")
        request = session_pb2.UpdateSessionRequest(
            session=target, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        reply = await self._call(self._sessions.UpdateSession, request)
        result: session_pb2.Session = reply.session
        return result

    async def close_session(self, session: str) -> session_pb2.Session:
        return await self.update_session(session, close=True)

    async def delete_session(self, session: str) -> None:
        """Erase the session and all its interactions."""
        request = session_pb2.DeleteSessionRequest(name=session_name(session))
        await self._call(self._sessions.DeleteSession, request)

    async def list_interactions(
        self, session: str, *, page_size: int = 0, page_token: str = ""
    ) -> session_pb2.ListInteractionsResponse:
        request = session_pb2.ListInteractionsRequest(
            parent=session_name(session), page_size=page_size, page_token=page_token
        )
        result: session_pb2.ListInteractionsResponse = await self._call(
            self._sessions.ListInteractions, request
        )
        return result

    async def iter_interactions(self, session: str) -> AsyncIterator[session_pb2.Interaction]:
        token = ""
        while True:
            page = await self.list_interactions(session, page_token=token)
            for interaction in page.interactions:
                yield interaction
            token = page.next_page_token
            if not token:
                return

    async def send_message(
        self, session: str, to: str, text: str, *, request_id: str = ""
    ) -> session_pb2.Interaction:
        """Text participant ``to`` (their real number) of an open session from their own
        proxy number (a SYSTEM interaction). With ``request_id``, a retry queues it once."""
        request = session_pb2.SendMessageRequest(
            session=session_name(session), to=to, text=text, request_id=request_id
        )
        reply = await self._call(self._sessions.SendMessage, request)
        result: session_pb2.Interaction = reply.interaction
        return result

    async def add_participant(
        self, session: str, number: str, *, display_name: str = "", greeting: str = ""
    ) -> session_pb2.Session:
        """Add ``number`` to an open session; it gets a proxy number, then ``greeting`` (or
        the pool's open notice)."""
        request = session_pb2.AddParticipantRequest(
            session=session_name(session),
            participant=session_pb2.ParticipantSpec(
                number=number, display_name=display_name, greeting=greeting
            ),
        )
        reply = await self._call(self._sessions.AddParticipant, request)
        result: session_pb2.Session = reply.session
        return result

    async def remove_participant(self, session: str, number: str) -> session_pb2.Session:
        """Take ``number`` out of an open session (at least two participants remain)."""
        request = session_pb2.RemoveParticipantRequest(session=session_name(session), number=number)
        reply = await self._call(self._sessions.RemoveParticipant, request)
        result: session_pb2.Session = reply.session
        return result

    # --- events ------------------------------------------------------------------------

    async def list_events(
        self,
        *,
        after_cursor: int = 0,
        pool: str = "",
        session: str = "",
        types: Iterable[str | int] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> event_pb2.ListEventsResponse:
        """One page of stored events after ``after_cursor`` (0: from the oldest retained)."""
        request = event_pb2.ListEventsRequest(
            after_cursor=after_cursor,
            pool=pool_name(pool) if pool else "",
            session=session_name(session) if session else "",
            types=[event_type(t) for t in types],
            page_size=page_size,
            page_token=page_token,
        )
        result: event_pb2.ListEventsResponse = await self._call(self._events.ListEvents, request)
        return result

    async def iter_events(
        self,
        *,
        after_cursor: int = 0,
        pool: str = "",
        session: str = "",
        types: Iterable[str | int] = (),
    ) -> AsyncIterator[event_pb2.Event]:
        """Every stored event after ``after_cursor``, page by page, then stop."""
        wanted = [event_type(t) for t in types]
        token = ""
        while True:
            page = await self.list_events(
                after_cursor=after_cursor,
                pool=pool,
                session=session,
                types=wanted,
                page_token=token,
            )
            for event in page.events:
                yield event
            token = page.next_page_token
            if not token:
                return

    async def watch_events(
        self,
        *,
        after_cursor: int = 0,
        pool: str = "",
        session: str = "",
        types: Iterable[str | int] = (),
        reconnect: bool = False,
    ) -> AsyncIterator[event_pb2.Event]:
        """Every event after ``after_cursor`` in cursor order, then each new one as it is
        committed, until the caller stops iterating.

        Keep the cursor of the last event handled to resume after a crash (an event may then
        be seen again, never missed). With ``reconnect``, a stream the router ended (shut
        down, crashed, database unavailable) is resumed from the last cursor by itself.
        """
        request = event_pb2.WatchEventsRequest(
            after_cursor=after_cursor,
            pool=pool_name(pool) if pool else "",
            session=session_name(session) if session else "",
            types=[event_type(t) for t in types],
        )
        failures = 0
        while True:
            call = self._events.WatchEvents(request)
            try:
                async for reply in call:
                    failures = 0
                    for event in reply.events:
                        request.after_cursor = event.cursor
                        yield event
            except grpc.aio.AioRpcError as exc:
                if not reconnect or exc.code() not in _RESUMABLE:
                    raise translate(exc, self.target) from None
            finally:
                call.cancel()
            if not reconnect:
                return
            await asyncio.sleep(_RESUME_DELAYS[min(failures, len(_RESUME_DELAYS) - 1)])
            failures += 1

    # --- audit -------------------------------------------------------------------------

    async def list_audit_entries(
        self,
        *,
        caller: str = "",
        method: str = "",
        session: str = "",
        pool: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> audit_pb2.ListAuditEntriesResponse:
        """One page of the audit trail, newest first (needs the audit:read scope)."""
        request = audit_pb2.ListAuditEntriesRequest(
            caller=caller,
            method=method,
            session=session_name(session) if session else "",
            pool=pool_name(pool) if pool else "",
            start_time=_timestamp(since) if since else None,
            end_time=_timestamp(until) if until else None,
            page_size=page_size,
            page_token=page_token,
        )
        result: audit_pb2.ListAuditEntriesResponse = await self._call(
            self._audit.ListAuditEntries, request
        )
        return result

    async def iter_audit_entries(self, **filters: Any) -> AsyncIterator[audit_pb2.AuditEntry]:
        """Every audit entry matching ``filters`` (those of list_audit_entries), newest first."""
        token = ""
        while True:
            page = await self.list_audit_entries(**filters, page_token=token)
            for entry in page.entries:
                yield entry
            token = page.next_page_token
            if not token:
                return


def _one_each(values: Sequence[str], numbers: Sequence[str], name: str) -> Sequence[str]:
    """``values`` for each of ``numbers`` ("" each when empty)."""
    if not values:
        return [""] * len(numbers)
    if len(values) != len(numbers):
        raise ValueError(f"{name}: give one per participant ({len(numbers)}), got {len(values)}")
    return values
