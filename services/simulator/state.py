"""The simulator's run-time state: fault-injection config, throttling buckets, counters,
message ids and money. One instance per app (held on ``app.state``)."""

from __future__ import annotations

import itertools
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

from numproxy.simulator.settings import DlrStatus, SimulatorSettings

_DLR_STATUSES = frozenset(get_args(DlrStatus))
_MONEY_SCALE = 10**8  # Vonage prices have 8 decimal places


class ConfigError(ValueError):
    pass


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number from 0 to 1")
    return float(value)


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{name} must be a number >= 0")
    return float(value)


def _status_script(value: Any) -> list[int | list[int]]:
    def status(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError("status_queue entries are status codes or lists of them")
        return v

    if not isinstance(value, list):
        raise ConfigError("status_queue must be a list")
    return [[status(s) for s in v] if isinstance(v, list) else status(v) for v in value]


@dataclass
class SimConfig:
    """What ``/_sim/config`` shows and changes."""

    rate_limit: float
    error_rate: float
    latency_ms: float
    duplicate_rate: float
    dlr_status: str
    dlr_enabled: bool
    # Scripted answers for the next /sms/json requests that pass validation: a status for
    # every part, or a list with one status per part (mixed = partial failure).
    status_queue: list[int | list[int]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> SimConfig:
        return cls(
            rate_limit=settings.rate_limit,
            error_rate=settings.error_rate,
            latency_ms=settings.latency_ms,
            duplicate_rate=settings.duplicate_rate,
            dlr_status=settings.dlr_status,
            dlr_enabled=settings.dlr_enabled,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` (all or nothing); raises ConfigError on an unknown or bad value."""
        new = SimConfig(**self.as_dict())
        for name, value in changes.items():
            if name == "rate_limit":
                new.rate_limit = _non_negative(value, name)
            elif name in ("error_rate", "duplicate_rate"):
                setattr(new, name, _fraction(value, name))
            elif name == "latency_ms":
                new.latency_ms = _non_negative(value, name)
            elif name == "dlr_status":
                if value not in _DLR_STATUSES:
                    raise ConfigError(f"dlr_status must be one of {sorted(_DLR_STATUSES)}")
                new.dlr_status = value
            elif name == "dlr_enabled":
                if not isinstance(value, bool):
                    raise ConfigError("dlr_enabled must be true or false")
                new.dlr_enabled = value
            elif name == "status_queue":
                new.status_queue = _status_script(value)
            else:
                raise ConfigError(f"unknown config field {name!r}")
        self.__dict__.update(new.__dict__)


class TokenBuckets:
    """Vonage-style throughput limit: ``rate`` requests/s per API key, bursts up to ``rate``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated at)

    def take(self, key: str, rate: float) -> int:
        """0 when the request may pass, else the milliseconds until it would."""
        if rate <= 0:
            return 0
        now = self._clock()
        capacity = max(rate, 1.0)
        tokens, updated = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - updated) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate * 1000))

    def clear(self) -> None:
        self._buckets.clear()


@dataclass
class Stats:
    requests: int = 0
    http_500: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    messages_accepted: int = 0
    parts_accepted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "http_500": self.http_500,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "throttled": self.statuses.get(1, 0),
            "messages_accepted": self.messages_accepted,
            "parts_accepted": self.parts_accepted,
        }


class MessageIds:
    """Vonage-style 16-hex-digit message ids, unique per process run."""

    def __init__(self) -> None:
        self._counter = itertools.count(random.randrange(0x0C00000000000000, 0x0D00000000000000))

    def next(self) -> str:
        return f"{next(self._counter):016X}"


def concat_ref() -> str:
    return str(secrets.randbelow(255) + 1)


def to_units(amount: str) -> int:
    whole, _, frac = amount.strip().partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or "0")) * _MONEY_SCALE + int((frac + "0" * 8)[:8]))


def from_units(units: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // _MONEY_SCALE}.{units % _MONEY_SCALE:08d}"
