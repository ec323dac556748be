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


class Direction(enum.StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class MessageStatus(enum.StrEnum):
    """Inbound rows are RECEIVED; outbound rows go QUEUED -> SENT -> DELIVERED | FAILED."""

    RECEIVED = "RECEIVED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class OutOfSessionPolicy(enum.StrEnum):
    DROP = "DROP"
    REPLY = "REPLY"


class NumberState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"
