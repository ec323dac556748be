"""A pool's settings: what CreatePool and UpdatePool accept, checked in one place and turned
into the pool's column values (store/models.py ``Pool``).

UpdatePool merges the fields its mask names into the stored settings and checks the result as
CreatePool would, so a pool can never hold settings a create would refuse.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from numproxy.common.errors import InvalidArgument
from numproxy.router.sessions.validation import bounded_text, duration_seconds
from numproxy.router.store import models
from numproxy.router.store.models import MAX_PARTICIPANTS, Pool
from numproxy.router.store.states import HookFailureMode, OutOfSessionPolicy

POLICIES = tuple(OutOfSessionPolicy)
FAILURE_MODES = tuple(HookFailureMode)
DEFAULT_REPLY_INTERVAL = timedelta(hours=1)
# Two auto-responders texting each other's proxy numbers get one reply a minute at most.
MIN_REPLY_INTERVAL = timedelta(seconds=60)
DEFAULT_MESSAGE_RETENTION = timedelta(seconds=models.DEFAULT_MESSAGE_RETENTION)
MIN_MESSAGE_RETENTION = timedelta(hours=1)
MAX_DAILY_SEND_BUDGET = 100_000_000
MAX_REPLY_TEXT = 1600
MAX_NOTICE = 1600
MAX_END_COMMAND = 64
MIN_PARTICIPANTS = 2
MAX_HOOK_ADDRESS = 255
DEFAULT_HOOK_DEADLINE = timedelta(seconds=2)
MIN_HOOK_DEADLINE = timedelta(milliseconds=100)
# The router answers the webhook only after the hook: the deadline keeps that inside the
# gateway's router deadline (NUMPROXY_GATEWAY_ROUTER_TIMEOUT) and Vonage's webhook timeout.
MAX_HOOK_DEADLINE = timedelta(seconds=5)

# "host:port", host a DNS name, an IPv4 address or a bracketed IPv6 address.
_HOST_PORT = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$"
)


@dataclass(frozen=True)
class PoolSpec:
    """A pool's settings as the API gives them; unset (None, 0, "") means the default."""

    default_ttl: timedelta = timedelta(0)
    default_lifetime: timedelta = timedelta(0)
    out_of_session_policy: str = ""
    out_of_session_reply: str = ""
    reply_interval: timedelta | None = None
    max_participants: int = 0
    hook_address: str = ""
    hook_deadline: timedelta | None = None
    hook_failure_mode: str = ""
    hook_resolve: bool = False
    hook_intercept: bool = False
    end_command: str = ""
    open_notice: str = ""
    close_notice: str = ""
    prefix_display_name: bool = False
    daily_send_budget: int = 0
    message_retention: timedelta | None = None


_HOOK_FIELDS = (
    "hook_address",
    "hook_deadline",
    "hook_failure_mode",
    "hook_resolve",
    "hook_intercept",
)
# UpdatePool's mask paths (fields of the API's Pool) and the PoolSpec fields each one sets.
UPDATABLE_PATHS: dict[str, tuple[str, ...]] = {
    "default_ttl": ("default_ttl",),
    "default_lifetime": ("default_lifetime",),
    "out_of_session_policy": ("out_of_session_policy",),
    "out_of_session_reply": ("out_of_session_reply",),
    "reply_interval": ("reply_interval",),
    "max_participants": ("max_participants",),
    "hooks": _HOOK_FIELDS,
    "hooks.address": ("hook_address",),
    "hooks.deadline": ("hook_deadline",),
    "hooks.failure_mode": ("hook_failure_mode",),
    "hooks.resolve_out_of_session": ("hook_resolve",),
    "hooks.intercept_messages": ("hook_intercept",),
    "end_command": ("end_command",),
    "open_notice": ("open_notice",),
    "close_notice": ("close_notice",),
    "prefix_display_name": ("prefix_display_name",),
    "daily_send_budget": ("daily_send_budget",),
    "message_retention": ("message_retention",),
}


def columns(spec: PoolSpec) -> dict[str, Any]:
    """The pool's column values for ``spec``, or InvalidArgument naming the field."""
    return {
        **_policy_columns(spec),
        **_hook_columns(spec),
        **_session_columns(spec),
        **_budget_columns(spec),
    }


def stored(pool: Pool) -> PoolSpec:
    """The settings a pool holds, as a spec (what an update's mask merges into)."""
    return PoolSpec(
        default_ttl=timedelta(seconds=pool.default_ttl_seconds),
        default_lifetime=timedelta(seconds=pool.default_lifetime_seconds),
        out_of_session_policy=pool.out_of_session_policy,
        out_of_session_reply=pool.out_of_session_reply,
        reply_interval=timedelta(seconds=pool.reply_interval_seconds),
        max_participants=pool.max_participants,
        hook_address=pool.hook_address,
        hook_deadline=timedelta(milliseconds=pool.hook_deadline_ms),
        hook_failure_mode=pool.hook_failure_mode,
        hook_resolve=pool.hook_resolve,
        hook_intercept=pool.hook_intercept,
        end_command=pool.end_command,
        open_notice=pool.open_notice,
        close_notice=pool.close_notice,
        prefix_display_name=pool.prefix_display_name,
        daily_send_budget=pool.daily_send_budget,
        message_retention=timedelta(seconds=pool.message_retention_seconds),
    )


def merge(current: PoolSpec, update: PoolSpec, paths: Sequence[str]) -> PoolSpec:
    """``current`` with the fields named by the mask ``paths`` taken from ``update``."""
    if not paths:
        raise InvalidArgument(
            f"update_mask is required; updatable fields: {', '.join(UPDATABLE_PATHS)}",
            reason="INVALID_UPDATE_MASK",
            metadata={"field": "update_mask"},
        )
    changes: dict[str, Any] = {}
    for path in paths:
        fields = UPDATABLE_PATHS.get(path)
        if fields is None:
            raise InvalidArgument(
                f"update_mask path {path[:80]!r} is not updatable "
                f"(updatable: {', '.join(UPDATABLE_PATHS)})",
                reason="INVALID_UPDATE_MASK",
                metadata={"field": "update_mask", "path": path[:80]},
            )
        for name in fields:
            changes[name] = getattr(update, name)
    return dataclasses.replace(current, **changes)


def _policy_columns(spec: PoolSpec) -> dict[str, Any]:
    policy = spec.out_of_session_policy or OutOfSessionPolicy.DROP
    if policy not in POLICIES:
        raise InvalidArgument(
            f"out_of_session_policy must be one of {', '.join(POLICIES)}",
            reason="INVALID_POLICY",
            metadata={"field": "out_of_session_policy"},
        )
    reply = bounded_text(
        spec.out_of_session_reply,
        field="out_of_session_reply",
        limit=MAX_REPLY_TEXT,
        reason="INVALID_POLICY",
    )
    if policy == OutOfSessionPolicy.REPLY and not reply.strip():
        raise InvalidArgument(
            "out_of_session_reply is required with the REPLY policy",
            reason="INVALID_POLICY",
            metadata={"field": "out_of_session_reply"},
        )
    interval = duration_seconds(
        spec.reply_interval if spec.reply_interval is not None else DEFAULT_REPLY_INTERVAL,
        field="reply_interval",
    )
    if interval < MIN_REPLY_INTERVAL.total_seconds():
        # A short interval would let two auto-responders reply to each other all day.
        raise InvalidArgument(
            f"reply_interval must be at least {MIN_REPLY_INTERVAL.total_seconds():g} s",
            reason="INVALID_DURATION",
            metadata={"field": "reply_interval"},
        )
    return {
        "default_ttl_seconds": duration_seconds(spec.default_ttl, field="default_ttl"),
        "default_lifetime_seconds": duration_seconds(
            spec.default_lifetime, field="default_lifetime"
        ),
        "out_of_session_policy": policy,
        "out_of_session_reply": reply,
        "reply_interval_seconds": interval,
    }


def _hook_columns(spec: PoolSpec) -> dict[str, Any]:
    address = spec.hook_address.strip()
    if len(address) > MAX_HOOK_ADDRESS or (address and not _valid_address(address)):
        raise InvalidArgument(
            f"hooks.address must be host:port (at most {MAX_HOOK_ADDRESS} characters), "
            f"got {address[:80]!r}",
            reason="INVALID_HOOK_ADDRESS",
            metadata={"field": "hooks.address"},
        )
    if not address and (spec.hook_resolve or spec.hook_intercept):
        raise InvalidArgument(
            "hooks.address is required to call hooks",
            reason="INVALID_HOOK_ADDRESS",
            metadata={"field": "hooks.address"},
        )
    deadline = spec.hook_deadline if spec.hook_deadline is not None else DEFAULT_HOOK_DEADLINE
    if not MIN_HOOK_DEADLINE <= deadline <= MAX_HOOK_DEADLINE:
        raise InvalidArgument(
            f"hooks.deadline must be {MIN_HOOK_DEADLINE.total_seconds():g}-"
            f"{MAX_HOOK_DEADLINE.total_seconds():g} s, got {deadline.total_seconds():g} s",
            reason="INVALID_HOOK_DEADLINE",
            metadata={"field": "hooks.deadline"},
        )
    mode = spec.hook_failure_mode or HookFailureMode.FAIL_OPEN
    if mode not in FAILURE_MODES:
        raise InvalidArgument(
            f"hooks.failure_mode must be one of {', '.join(FAILURE_MODES)}",
            reason="INVALID_HOOK_FAILURE_MODE",
            metadata={"field": "hooks.failure_mode"},
        )
    return {
        "hook_address": address,
        "hook_deadline_ms": math.ceil(deadline / timedelta(milliseconds=1)),
        "hook_failure_mode": mode,
        "hook_resolve": spec.hook_resolve,
        "hook_intercept": spec.hook_intercept,
    }


def _session_columns(spec: PoolSpec) -> dict[str, Any]:
    maximum = spec.max_participants or MAX_PARTICIPANTS
    if not MIN_PARTICIPANTS <= maximum <= MAX_PARTICIPANTS:
        raise InvalidArgument(
            f"max_participants must be {MIN_PARTICIPANTS}-{MAX_PARTICIPANTS} "
            f"(0: {MAX_PARTICIPANTS}), got {maximum}",
            reason="INVALID_MAX_PARTICIPANTS",
            metadata={"field": "max_participants"},
        )
    command = bounded_text(
        spec.end_command.strip(),
        field="end_command",
        limit=MAX_END_COMMAND,
        reason="INVALID_END_COMMAND",
    )
    if spec.end_command and not command:
        raise InvalidArgument(
            "end_command must not be only spaces (empty: no end command)",
            reason="INVALID_END_COMMAND",
            metadata={"field": "end_command"},
        )
    return {
        "max_participants": maximum,
        "end_command": command,
        "open_notice": bounded_text(
            spec.open_notice, field="open_notice", limit=MAX_NOTICE, reason="INVALID_NOTICE"
        ),
        "close_notice": bounded_text(
            spec.close_notice, field="close_notice", limit=MAX_NOTICE, reason="INVALID_NOTICE"
        ),
        "prefix_display_name": spec.prefix_display_name,
    }


def _budget_columns(spec: PoolSpec) -> dict[str, Any]:
    if not 0 <= spec.daily_send_budget <= MAX_DAILY_SEND_BUDGET:
        raise InvalidArgument(
            f"daily_send_budget must be 0-{MAX_DAILY_SEND_BUDGET} (0: no budget), "
            f"got {spec.daily_send_budget}",
            reason="INVALID_SEND_BUDGET",
            metadata={"field": "daily_send_budget"},
        )
    retention = (
        spec.message_retention if spec.message_retention is not None else DEFAULT_MESSAGE_RETENTION
    )
    seconds = duration_seconds(retention, field="message_retention")
    if seconds < MIN_MESSAGE_RETENTION.total_seconds():
        raise InvalidArgument(
            f"message_retention must be at least {MIN_MESSAGE_RETENTION.total_seconds():g} s",
            reason="INVALID_DURATION",
            metadata={"field": "message_retention"},
        )
    return {"daily_send_budget": spec.daily_send_budget, "message_retention_seconds": seconds}


def _valid_address(address: str) -> bool:
    match = _HOST_PORT.match(address)
    return match is not None and 1 <= int(match.group(1)) <= 65535
