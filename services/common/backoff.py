"""Exponential retry backoff with jitter: the one rule for every retry numproxy schedules."""

from __future__ import annotations

import random


def jittered_backoff(retry: int, initial: float, maximum: float) -> float:
    """Delay before retry number ``retry`` (0 = the first): ``initial * 2**retry`` capped at
    ``maximum``, jittered within its upper half so retries of many callers spread out."""
    growth: float = 2.0 ** min(max(retry, 0), 62)
    base = min(maximum, initial * growth)
    return base / 2 + random.random() * base / 2  # jitter, not crypto
