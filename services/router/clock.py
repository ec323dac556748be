"""Time, injectable so lifecycle rules can be tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes even for timezone-aware columns; we store UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
