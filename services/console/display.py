"""What the templates show: protobuf resources turned into plain rows, real numbers masked,
message text only for roles allowed to read it. No template sees a real number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import timestamp_pb2

from numproxy.common.numbers import mask, mask_numbers_in
from numproxy.v1 import event_pb2, pool_pb2, session_pb2


def when(ts: timestamp_pb2.Timestamp) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def enum_label(value: int, enum: Any, prefix: str) -> str:
    name: str = enum.Name(value)
    return name.removeprefix(prefix).lower().replace("_", " ")


def resource_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ParticipantRow:
    index: int
    number: str  # masked
    proxy_number: str
    display_name: str

    @property
    def label(self) -> str:
        name = f" {self.display_name}" if self.display_name else ""
        return f"P{self.index}{name} ({self.number})"


@dataclass(frozen=True)
class SessionRow:
    id: str
    pool: str
    status: str
    closed_reason: str
    participants: list[ParticipantRow]
    created: str
    last_interaction: str
    closed: str

    @property
    def live(self) -> bool:
        return self.status != "closed"


def session_row(session: session_pb2.Session) -> SessionRow:
    reason = session.closed_reason
    return SessionRow(
        id=resource_id(session.name),
        pool=resource_id(session.pool),
        status=enum_label(session.status, session_pb2.SessionStatus, "SESSION_STATUS_"),
        closed_reason=enum_label(reason, session_pb2.ClosedReason, "CLOSED_REASON_")
        if reason
        else "",
        participants=[
            ParticipantRow(i, mask(p.number), p.proxy_number, p.display_name)
            for i, p in enumerate(session.participants, start=1)
        ],
        created=when(session.create_time),
        last_interaction=when(session.last_interaction_time),
        closed=when(session.close_time),
    )


@dataclass(frozen=True)
class InteractionRow:
    time: str
    direction: str
    sender: str
    recipient: str
    proxy_number: str
    text: str | None  # None: the viewer's role may not read it
    text_length: int
    status: str
    failure_reason: str


def interaction_rows(
    session: session_pb2.Session,
    interactions: list[session_pb2.Interaction],
    *,
    show_text: bool,
) -> list[InteractionRow]:
    labels = {p.number: f"P{i}" for i, p in enumerate(session.participants, start=1)}

    def who(number: str) -> str:
        if not number:
            return ""
        return f"{labels[number]} ({mask(number)})" if number in labels else mask(number)

    return [
        InteractionRow(
            time=when(i.create_time),
            direction=enum_label(i.direction, session_pb2.Direction, "DIRECTION_"),
            sender=who(i.sender_number) or "numproxy",
            recipient=who(i.recipient_number),
            proxy_number=i.proxy_number,
            text=i.text if show_text else None,
            text_length=len(i.text),
            status=enum_label(i.status, session_pb2.InteractionStatus, "INTERACTION_STATUS_"),
            failure_reason=mask_numbers_in(i.failure_reason),
        )
        for i in interactions
    ]


@dataclass(frozen=True)
class NumberRow:
    number: str
    state: str
    active_participants: int


def number_rows(numbers: list[pool_pb2.ProxyNumber]) -> list[NumberRow]:
    return [
        NumberRow(
            n.number,
            enum_label(n.state, pool_pb2.NumberState, "NUMBER_STATE_"),
            n.active_participants,
        )
        for n in numbers
    ]


def event_json(event: event_pb2.Event) -> dict[str, Any]:
    """An event as the live feed shows it (numbers masked, ids only)."""
    return {
        "cursor": event.cursor,
        "type": enum_label(event.type, event_pb2.EventType, "EVENT_TYPE_"),
        "time": when(event.create_time),
        "pool": resource_id(event.pool) if event.pool else "",
        "session": resource_id(event.session) if event.session else "",
        "participant": mask(event.participant_number),
        "proxy_number": event.proxy_number,
        "reason": mask_numbers_in(event.reason),
        "direction": enum_label(event.direction, session_pb2.Direction, "DIRECTION_")
        if event.direction
        else "",
    }
