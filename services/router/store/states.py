"""The states and kinds stored in the router's columns: one enum each, never bare strings.

They are ``StrEnum``s, so a value read from the database compares equal to its member.
"""

from __future__ import annotations

import enum


class SessionStatus(enum.StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    CLOSED = "CLOSED"


class CloseReason(enum.StrEnum):
    API = "API"
    IDLE_TTL = "IDLE_TTL"
    EXPIRED = "EXPIRED"
    OPT_OUT = "OPT_OUT"
    PARTICIPANT_ENDED = "PARTICIPANT_ENDED"
    # Suspended: more messages than the session rate cap allows (two auto-responders
    # answering each other). A close, so the lifecycle and the core rule stay as they are.
    RATE_LIMITED = "RATE_LIMITED"
    # A participant's number was erased (EraseNumber).
    ERASED = "ERASED"


class Direction(enum.StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"
    # A system text to a participant (SendMessage, notices): sent like OUTBOUND.
    SYSTEM = "SYSTEM"


class MessageStatus(enum.StrEnum):
    """Inbound rows are RECEIVED; outbound rows go QUEUED -> SENT -> DELIVERED | FAILED."""

    RECEIVED = "RECEIVED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class FailureReason(enum.StrEnum):
    """Why the router itself failed an outbound row without sending it."""

    # The recipient opted out of the proxy number (STOP) before the row was sent.
    OPTED_OUT = "OPTED_OUT"
    # The pool's daily send budget was spent.
    POOL_DAILY_BUDGET = "POOL_DAILY_BUDGET"
    # Its recipient's number was erased (EraseNumber) before it was sent.
    NUMBER_ERASED = "NUMBER_ERASED"


class OutOfSessionPolicy(enum.StrEnum):
    DROP = "DROP"
    REPLY = "REPLY"


class NumberState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"


class HookFailureMode(enum.StrEnum):
    FAIL_OPEN = "FAIL_OPEN"
    FAIL_CLOSED = "FAIL_CLOSED"


class HookKind(enum.StrEnum):
    RESOLVE_OUT_OF_SESSION = "RESOLVE"
    INTERCEPT_MESSAGE = "INTERCEPT"


class HookAction(enum.StrEnum):
    """What was decided for a message a hook was consulted on (stored in hook_decision)."""

    # ResolveOutOfSession
    DROP = "DROP"
    REPLY = "REPLY"
    CREATE_SESSION = "CREATE_SESSION"
    # InterceptMessage
    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    REWRITE = "REWRITE"
    # The hook failed (timed out, unreachable, an error, no usable answer): the pool's mode.
    FAIL_OPEN = "FAIL_OPEN"
    FAIL_CLOSED = "FAIL_CLOSED"


class EventType(enum.StrEnum):
    """Stored as these names; the API's EventType is EVENT_TYPE_ + the name."""

    SESSION_CREATED = "SESSION_CREATED"
    SESSION_UPDATED = "SESSION_UPDATED"
    SESSION_CLOSED = "SESSION_CLOSED"
    SESSION_DELETED = "SESSION_DELETED"
    PARTICIPANT_ADDED = "PARTICIPANT_ADDED"
    PARTICIPANT_REMOVED = "PARTICIPANT_REMOVED"
    PARTICIPANT_OPTED_OUT = "PARTICIPANT_OPTED_OUT"
    PARTICIPANT_OPTED_IN = "PARTICIPANT_OPTED_IN"
    MESSAGE_RECEIVED = "MESSAGE_RECEIVED"
    OUTBOUND_QUEUED = "OUTBOUND_QUEUED"
    OUTBOUND_SENT = "OUTBOUND_SENT"
    OUTBOUND_DELIVERED = "OUTBOUND_DELIVERED"
    OUTBOUND_FAILED = "OUTBOUND_FAILED"
    POOL_EXHAUSTED = "POOL_EXHAUSTED"
    NUMBER_DRAINED = "NUMBER_DRAINED"
    HOOK_FAILED = "HOOK_FAILED"
    MESSAGE_BLOCKED = "MESSAGE_BLOCKED"
    # A session went over the message rate cap and was closed (reason RATE_LIMITED).
    SESSION_RATE_LIMITED = "SESSION_RATE_LIMITED"
    # A pool's daily send budget ran out (once per pool and day).
    POOL_SEND_BUDGET_SPENT = "POOL_SEND_BUDGET_SPENT"
    # EraseNumber erased a real number (the event holds it masked, never in clear).
    NUMBER_ERASED = "NUMBER_ERASED"
