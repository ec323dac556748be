"""Authorization: what the current caller may do, enforced by one server interceptor.

The authentication layer (an interceptor placed before this one) binds the caller
(common/caller.py); this interceptor looks up the caller's policy (settings: name -> scopes
and an optional pool limit), checks the method's scope (common/scopes.py), and binds the
caller's ``Grant`` for the handler, whose pool checks read it (router/api/access.py). No
caller: UNAUTHENTICATED. A caller without the scope, or a method missing from the table:
PERMISSION_DENIED with reason MISSING_SCOPE (metadata: the scope). Refused calls, and allowed
calls of audited methods, are handed to the audit sink with their outcome.

``anonymous`` (a setting, empty by default) names the caller of calls that carry no identity:
an explicit opt-in for a network where every client is trusted (a local stack), logged as a
warning when the server starts.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import grpc
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from numproxy.common.caller import Caller, current_caller
from numproxy.common.errors import (
    Context,
    DomainError,
    PermissionDenied,
    Translate,
    Unauthenticated,
    abort_with,
    as_domain_error,
)
from numproxy.common.handlers import rebuild
from numproxy.common.scopes import RULES, Rule, Scope

log = logging.getLogger(__name__)

MAX_CALLERS = 1000
MAX_POOLS_PER_CALLER = 1000
CALLER_NAME = r"[A-Za-z0-9._:@-]{1,128}"
CallerName = Annotated[str, StringConstraints(pattern=rf"^{CALLER_NAME}$")]
PoolId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,63}$")]


class CallerPolicy(BaseModel):
    """What one caller may do: its scopes, and the pools it is limited to (None: all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scopes: frozenset[Scope] = Field(default=frozenset(), max_length=len(Scope))
    pools: frozenset[PoolId] | None = Field(default=None, max_length=MAX_POOLS_PER_CALLER)


Callers = Annotated[dict[CallerName, CallerPolicy], Field(max_length=MAX_CALLERS)]


def all_scopes() -> CallerPolicy:
    return CallerPolicy(scopes=frozenset(Scope))


@dataclass(frozen=True)
class Grant:
    """The current call's caller and what its policy allows."""

    caller: str
    policy: CallerPolicy


_grant: ContextVar[Grant | None] = ContextVar("numproxy_grant", default=None)


def current_grant() -> Grant | None:
    """The grant of the call being handled; None outside an authorized call."""
    return _grant.get()


@contextlib.contextmanager
def bound_grant(grant: Grant | None) -> Iterator[None]:
    token = _grant.set(grant)
    try:
        yield
    finally:
        _grant.reset(token)


# --- the audit record ------------------------------------------------------------------------


@dataclass
class Target:
    """What a call concerned, as far as it is known: filled from the request and the response,
    and by the handler's own lookups (``note_target``)."""

    session_id: str = ""
    pool_id: str = ""


_target: ContextVar[Target | None] = ContextVar("numproxy_audit_target", default=None)


def note_target(*, session_id: str = "", pool_id: str = "") -> None:
    """Tell the audit record what the current call concerns (a pool found by a lookup)."""
    target = _target.get()
    if target is None:
        return
    if session_id:
        target.session_id = session_id
    if pool_id:
        target.pool_id = pool_id


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    caller: str
    method: str
    session_id: str
    pool_id: str
    code: str
    reason: str


class AuditSink(Protocol):
    def record(self, entry: AuditRecord) -> None:
        """Take ``entry`` to be written; must not block the call."""


_SESSION_ID = re.compile(r"^sessions/([0-9a-f-]{36})(?:/|$)")
_POOL_ID = re.compile(r"^(?:pools/)?([a-z0-9-]{1,63})$")
_TARGET_MESSAGES = ("session", "pool", "interaction")


def _fill_target(message: Message, target: Target, depth: int = 0) -> None:
    """Session and pool names in ``message``'s name-like fields (and its session/pool/
    interaction sub-message): only well-formed names, so garbage is never recorded."""
    for descriptor, value in message.ListFields():  # repeated fields hold containers: skipped
        if isinstance(value, str):
            found = _SESSION_ID.match(value)
            if found and not target.session_id:
                target.session_id = found.group(1)
            elif descriptor.name in ("pool", "pool_id") or value.startswith("pools/"):
                pool = _POOL_ID.match(value)
                if pool and not target.pool_id:
                    target.pool_id = pool.group(1)
        elif isinstance(value, Message) and depth == 0 and descriptor.name in _TARGET_MESSAGES:
            _fill_target(value, target, depth + 1)


# --- the interceptor -------------------------------------------------------------------------

# The interceptors that bind each call's caller (common/caller.py); a server places them
# before authorization. Without them every call but the public ones is UNAUTHENTICATED.
Authentication = Sequence[grpc.aio.ServerInterceptor]  # type: ignore[type-arg]

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]


@dataclass
class _Call:
    method: str
    rule: Rule | None
    target: Target = field(default_factory=Target)


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(
        self,
        callers: Mapping[str, CallerPolicy],
        *,
        audit: AuditSink | None = None,
        translate: Translate | None = None,
        rules: Mapping[str, Rule] = RULES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        anonymous: str = "",
    ) -> None:
        self._callers = dict(callers)
        self._anonymous = Caller(anonymous) if anonymous else None
        if anonymous:
            log.warning(
                "calls without an authenticated identity are made as %r (anonymous_caller): "
                "anyone who reaches the port may do what %r may",
                anonymous,
                anonymous,
            )
        self._audit = audit
        self._translate = translate
        self._rules = rules
        self._now = now

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        rule = self._rules.get(method)
        if rule is not None and rule.public:
            return handler
        call = _Call(method, rule)
        return rebuild(handler, lambda kind, behaviour: self._authorized(call, kind, behaviour))

    def _authorized(self, call: _Call, kind: str, behaviour: Any) -> Any:
        if kind == "unary_unary":
            return self._unary(call, behaviour)
        if kind == "unary_stream":
            return self._stream(call, behaviour)
        # No numproxy RPC streams requests: a method that does is refused until it is
        # handled here and listed in the table.
        unlisted = _Call(call.method, None)

        async def refuse(requests: Any, context: Context) -> None:
            refusal = self._decide(unlisted)
            assert isinstance(refusal, DomainError)
            await self._refuse(unlisted, None, context, refusal)

        return refuse

    def _caller(self) -> Caller | None:
        return current_caller() or self._anonymous

    def _decide(self, call: _Call) -> Grant | DomainError:
        caller = self._caller()
        if caller is None:
            return Unauthenticated("the call carries no authenticated identity")
        policy = self._callers.get(caller.name)
        if call.rule is None:
            return PermissionDenied(
                f"{call.method} is not open to any caller",
                reason="MISSING_SCOPE",
                metadata={"method": call.method},
            )
        if policy is None or not (call.rule.scopes & policy.scopes):
            needed = " or ".join(sorted(call.rule.scopes))
            return PermissionDenied(
                f"caller {caller.name!r} lacks the scope {needed}",
                reason="MISSING_SCOPE",
                metadata={"scope": needed},
            )
        return Grant(caller.name, policy)

    def _unary(
        self, call: _Call, inner: Callable[[Any, Context], Awaitable[Any]]
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        async def authorized(request: Any, context: Context) -> Any:
            grant = self._decide(call)
            if isinstance(grant, DomainError):
                return await self._refuse(call, request, context, grant)
            token = _target.set(call.target)
            try:
                with bound_grant(grant):
                    response = await inner(request, context)
            except BaseException as exc:
                self._finished(call, grant, request, None, context, exc)
                raise
            finally:
                _target.reset(token)
            self._finished(call, grant, request, response, context, None)
            return response

        return authorized

    def _stream(
        self, call: _Call, inner: Callable[[Any, Context], AsyncIterator[Any]]
    ) -> Callable[[Any, Context], AsyncIterator[Any]]:
        async def authorized(request: Any, context: Context) -> AsyncIterator[Any]:
            grant = self._decide(call)
            if isinstance(grant, DomainError):
                await self._refuse(call, request, context, grant)
                return
            token = _target.set(call.target)
            try:
                with bound_grant(grant):
                    async for response in inner(request, context):
                        yield response
            except BaseException as exc:
                self._finished(call, grant, request, None, context, exc)
                raise
            finally:
                _target.reset(token)
            self._finished(call, grant, request, None, context, None)

        return authorized

    async def _refuse(
        self, call: _Call, request: Any, context: Context, error: DomainError
    ) -> None:
        caller = self._caller()
        log.warning(
            "refused %s for %s: %s", call.method, caller.name if caller else "-", error.reason
        )
        self._write(call, caller.name if caller else "", request, None, error.code, error.reason)
        await abort_with(context, error)

    def _finished(
        self,
        call: _Call,
        grant: Grant,
        request: Any,
        response: Any,
        context: Context,
        exc: BaseException | None,
    ) -> None:
        if call.rule is None or not call.rule.audited:
            return
        code, reason = grpc.StatusCode.OK, ""
        if isinstance(exc, grpc.aio.AbortError):  # the handler ended the call itself
            code = context.code() or grpc.StatusCode.UNKNOWN
        elif isinstance(exc, Exception):
            mapped = as_domain_error(exc, self._translate)
            code, reason = (mapped.code, mapped.reason) if mapped else (_INTERNAL, "INTERNAL")
        elif exc is not None:  # cancelled: the caller went away
            code = grpc.StatusCode.CANCELLED
        self._write(call, grant.caller, request, response, code, reason)

    def _write(
        self,
        call: _Call,
        caller: str,
        request: Any,
        response: Any,
        code: grpc.StatusCode,
        reason: str,
    ) -> None:
        if self._audit is None:
            return
        for message in (request, response):
            if isinstance(message, Message):
                _fill_target(message, call.target)
        self._audit.record(
            AuditRecord(
                at=self._now(),
                caller=caller,
                method=call.method,
                session_id=call.target.session_id,
                pool_id=call.target.pool_id,
                code=code.name,
                reason=reason,
            )
        )


_INTERNAL = grpc.StatusCode.INTERNAL
