"""Conversions between the numproxy.v1 protos and the router's domain objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from numproxy.router.sessions import names
from numproxy.router.sessions.pool_settings import PoolSpec
from numproxy.router.sessions.pools import NumberInfo, PoolInfo
from numproxy.router.sessions.sessions import InteractionView, SessionView
from numproxy.v1 import pool_pb2, session_pb2


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def duration(seconds: int) -> Duration:
    out = Duration()
    out.FromSeconds(seconds)
    return out


def optional_timedelta(message: Message, field: str) -> timedelta | None:
    """The Duration field ``field`` of ``message`` as a timedelta, None when unset."""
    if not message.HasField(field):
        return None
    value: Duration = getattr(message, field)
    return timedelta(seconds=value.seconds, microseconds=value.nanos / 1000)


def optional_datetime(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    value: Timestamp = getattr(message, field)
    return value.ToDatetime(tzinfo=UTC)


def policy_name(value: pool_pb2.OutOfSessionPolicy.ValueType) -> str:
    """ "DROP"/"REPLY"; "" for UNSPECIFIED (the domain's default)."""
    if value == pool_pb2.OUT_OF_SESSION_POLICY_UNSPECIFIED:
        return ""
    return pool_pb2.OutOfSessionPolicy.Name(value).removeprefix("OUT_OF_SESSION_POLICY_")


def failure_mode_name(value: pool_pb2.HookFailureMode.ValueType) -> str:
    """ "FAIL_OPEN"/"FAIL_CLOSED"; "" for UNSPECIFIED (the domain's default)."""
    if value == pool_pb2.HOOK_FAILURE_MODE_UNSPECIFIED:
        return ""
    return pool_pb2.HookFailureMode.Name(value).removeprefix("HOOK_FAILURE_MODE_")


def pool_spec(pool: pool_pb2.Pool) -> PoolSpec:
    """The settings ``pool`` gives (CreatePool, and UpdatePool's masked fields)."""
    hooks = pool.hooks
    return PoolSpec(
        default_ttl=optional_timedelta(pool, "default_ttl") or timedelta(),
        default_lifetime=optional_timedelta(pool, "default_lifetime") or timedelta(),
        out_of_session_policy=policy_name(pool.out_of_session_policy),
        out_of_session_reply=pool.out_of_session_reply,
        reply_interval=optional_timedelta(pool, "reply_interval"),
        max_participants=pool.max_participants,
        hook_address=hooks.address,
        hook_deadline=optional_timedelta(hooks, "deadline"),
        hook_failure_mode=failure_mode_name(hooks.failure_mode),
        hook_resolve=hooks.resolve_out_of_session,
        hook_intercept=hooks.intercept_messages,
        end_command=pool.end_command,
        open_notice=pool.open_notice,
        close_notice=pool.close_notice,
        prefix_display_name=pool.prefix_display_name,
        daily_send_budget=pool.daily_send_budget,
        message_retention=optional_timedelta(pool, "message_retention"),
    )


def session_status_name(value: session_pb2.SessionStatus.ValueType) -> str:
    if value == session_pb2.SESSION_STATUS_UNSPECIFIED:
        return ""
    return session_pb2.SessionStatus.Name(value).removeprefix("SESSION_STATUS_")


def pool_message(pool: PoolInfo) -> pool_pb2.Pool:
    return pool_pb2.Pool(
        name=names.pool_name(pool.id),
        default_ttl=duration(pool.default_ttl_seconds),
        default_lifetime=duration(pool.default_lifetime_seconds),
        out_of_session_policy=pool_pb2.OutOfSessionPolicy.Value(
            "OUT_OF_SESSION_POLICY_" + pool.out_of_session_policy
        ),
        out_of_session_reply=pool.out_of_session_reply,
        reply_interval=duration(pool.reply_interval_seconds),
        create_time=timestamp(pool.created_at),
        number_count=pool.number_count,
        max_participants=pool.max_participants,
        hooks=_hooks_message(pool) if pool.hook_address else None,
        end_command=pool.end_command,
        open_notice=pool.open_notice,
        close_notice=pool.close_notice,
        prefix_display_name=pool.prefix_display_name,
        daily_send_budget=pool.daily_send_budget,
        message_retention=duration(pool.message_retention_seconds),
    )


def _hooks_message(pool: PoolInfo) -> pool_pb2.PoolHooks:
    deadline = Duration()
    deadline.FromMilliseconds(pool.hook_deadline_ms)
    return pool_pb2.PoolHooks(
        address=pool.hook_address,
        deadline=deadline,
        failure_mode=pool_pb2.HookFailureMode.Value("HOOK_FAILURE_MODE_" + pool.hook_failure_mode),
        resolve_out_of_session=pool.hook_resolve,
        intercept_messages=pool.hook_intercept,
    )


def number_message(number: NumberInfo) -> pool_pb2.ProxyNumber:
    return pool_pb2.ProxyNumber(
        number=number.number,
        pool=names.pool_name(number.pool_id),
        state=pool_pb2.NumberState.Value("NUMBER_STATE_" + number.state),
        active_participants=number.active_participants,
        create_time=timestamp(number.created_at),
    )


def session_message(session: SessionView) -> session_pb2.Session:
    return session_pb2.Session(
        name=names.session_name(session.id),
        pool=names.pool_name(session.pool_id),
        status=session_pb2.SessionStatus.Value("SESSION_STATUS_" + session.status),
        closed_reason=session_pb2.ClosedReason.Value("CLOSED_REASON_" + session.closed_reason)
        if session.closed_reason
        else session_pb2.CLOSED_REASON_UNSPECIFIED,
        participants=[
            session_pb2.Participant(
                number=p.number, proxy_number=p.proxy_number, display_name=p.display_name
            )
            for p in session.participants
        ],
        ttl=duration(session.ttl_seconds),
        expire_time=timestamp(session.expire_time),
        metadata=session.metadata,
        create_time=timestamp(session.created_at),
        update_time=timestamp(session.updated_at),
        last_interaction_time=timestamp(session.last_interaction_at),
        close_time=timestamp(session.closed_at),
        close_notice=session.close_notice,
        request_id=session.request_id,
    )


def interaction_message(interaction: InteractionView) -> session_pb2.Interaction:
    return session_pb2.Interaction(
        name=names.interaction_name(interaction.session_id, interaction.id),
        direction=session_pb2.Direction.Value("DIRECTION_" + interaction.direction),
        sender_number=interaction.sender_number,
        recipient_number=interaction.recipient_number,
        proxy_number=interaction.proxy_number,
        text=interaction.text,
        status=session_pb2.InteractionStatus.Value("INTERACTION_STATUS_" + interaction.status),
        failure_reason=interaction.failure_reason,
        provider_message_ids=interaction.provider_message_ids,
        create_time=timestamp(interaction.created_at),
        update_time=timestamp(interaction.updated_at),
    )
