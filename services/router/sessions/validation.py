"""Checks on API input shared by the pool and session domains."""

from __future__ import annotations

import math
from datetime import timedelta

from numproxy.common.errors import InvalidArgument


def duration_seconds(value: timedelta, *, field: str, reason: str = "INVALID_DURATION") -> int:
    """Whole seconds of a non-negative duration (a fraction rounds up, so 0.5 s is not "none")."""
    seconds = value.total_seconds()
    if seconds < 0:
        raise InvalidArgument(
            f"{field} must not be negative, got {seconds:g}s",
            reason=reason,
            metadata={"field": field},
        )
    if seconds > 100 * 365 * 86400:
        raise InvalidArgument(
            f"{field} is too long (at most 100 years)", reason=reason, metadata={"field": field}
        )
    return math.ceil(seconds)


def bounded_text(value: str, *, field: str, limit: int, reason: str = "INVALID_ARGUMENT") -> str:
    if len(value) > limit:
        raise InvalidArgument(
            f"{field} is too long ({len(value)} characters, at most {limit})",
            reason=reason,
            metadata={"field": field},
        )
    return value
