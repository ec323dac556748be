"""Rendering API resources for the terminal: JSON, or one readable line each."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from numproxy.v1 import audit_pb2, pool_pb2, session_pb2


def to_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    name = data.get("name", "")
    if name.startswith("sessions/") and "/interactions/" not in name:
        data["id"] = name.removeprefix("sessions/")
    return data


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _enum(value: str, prefix: str) -> str:
    return value.removeprefix(prefix).lower()


def session_line(session: session_pb2.Session) -> str:
    status = _enum(session_pb2.SessionStatus.Name(session.status), "SESSION_STATUS_")
    if session.closed_reason:
        reason = session_pb2.ClosedReason.Name(session.closed_reason)
        status += f" ({_enum(reason, 'CLOSED_REASON_')})"
    people = "  <->  ".join(
        f"{p.number} via {p.proxy_number}" + (f" [{p.display_name}]" if p.display_name else "")
        for p in session.participants
    )
    return f"{session.name.removeprefix('sessions/')}  {status:<18} {people}  {session.pool}"


def pool_line(pool: pool_pb2.Pool) -> str:
    policy = _enum(
        pool_pb2.OutOfSessionPolicy.Name(pool.out_of_session_policy), "OUT_OF_SESSION_POLICY_"
    )
    ttl = pool.default_ttl.ToTimedelta().total_seconds()
    line = (
        f"{pool.name.removeprefix('pools/'):<20} numbers={pool.number_count:<5} "
        f"default_ttl={ttl:g}s out_of_session={policy} "
        f"max_participants={pool.max_participants}"
    )
    if pool.HasField("hooks"):
        hooks = [
            name
            for name, on in (
                ("resolve", pool.hooks.resolve_out_of_session),
                ("intercept", pool.hooks.intercept_messages),
            )
            if on
        ]
        mode = _enum(pool_pb2.HookFailureMode.Name(pool.hooks.failure_mode), "HOOK_FAILURE_MODE_")
        line += f" hooks={pool.hooks.address}[{','.join(hooks) or 'off'}; {mode}]"
    return line


def number_line(number: pool_pb2.ProxyNumber) -> str:
    state = _enum(pool_pb2.NumberState.Name(number.state), "NUMBER_STATE_")
    return (
        f"{number.number:<16} {number.pool.removeprefix('pools/'):<20} {state:<9} "
        f"active_participants={number.active_participants}"
    )


def interaction_line(item: session_pb2.Interaction) -> str:
    direction = _enum(session_pb2.Direction.Name(item.direction), "DIRECTION_")
    status = _enum(session_pb2.InteractionStatus.Name(item.status), "INTERACTION_STATUS_")
    when = item.create_time.ToDatetime().isoformat(timespec="seconds")
    if direction == "inbound":
        route = f"{item.sender_number} -> {item.proxy_number}"
    else:
        route = f"{item.proxy_number} -> {item.recipient_number}"
    reason = f" ({item.failure_reason})" if item.failure_reason else ""
    return f"{when}  {direction:<8} {status:<9}{reason} {route}: {item.text}"


def audit_line(entry: audit_pb2.AuditEntry) -> str:
    when = entry.create_time.ToDatetime().isoformat(timespec="seconds")
    outcome = f"{entry.code} {entry.reason}".strip()
    about = " ".join(name for name in (entry.session, entry.pool) if name)
    return f"{when}  {entry.caller or '-':<12} {entry.method}  {outcome}  {about}".rstrip()
