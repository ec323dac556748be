"""What enters the inbound pipeline and what it answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from numproxy.router.hooks.decisions import Decision


class Outcome(enum.Enum):
    FORWARDED = "FORWARDED"
    DUPLICATE = "DUPLICATE"
    DROPPED = "DROPPED"
    REPLIED = "REPLIED"
    KEYWORD = "KEYWORD"
    PART_STORED = "PART_STORED"
    RECORDED = "RECORDED"
    # The pool's hook opened a session for a text from someone without one.
    SESSION_CREATED = "SESSION_CREATED"
    # The pool's hook blocked a text in a session (recorded, not forwarded).
    BLOCKED = "BLOCKED"


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """One inbound SMS (or part) from the provider, numbers normalized to E.164 with "+"."""

    message_id: str
    api_key: str
    sender_number: str
    proxy_number: str
    text: str = ""
    binary: bool = False
    concat_ref: str = ""
    concat_total: int = 0
    concat_part: int = 0
    # What the pool's hooks decided for it, at most one per kind (router/hooks/).
    decisions: tuple[Decision, ...] = ()
    # Its trace (a W3C traceparent; "" when tracing is off): its outbound rows join it.
    traceparent: str = ""


@dataclass(frozen=True, slots=True)
class TimedOutGroup:
    """A multipart message whose missing parts did not arrive by ``cutoff``: the parts that did
    are routed as one message (housekeeping puts it through the pipeline)."""

    sender_number: str
    proxy_number: str
    concat_ref: str
    cutoff: datetime
    decisions: tuple[Decision, ...] = ()


Inbound = IncomingSms | TimedOutGroup


@dataclass(frozen=True, slots=True)
class InboundResult:
    outcome: Outcome
    session_id: str | None = None
    # Outbound rows this message queued.
    queued: int = 0
