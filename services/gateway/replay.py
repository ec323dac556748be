"""Replay protection for signed webhooks: a signed request is accepted once per process.

A signature only proves Vonage made the request, not that it is the first delivery of it: an
attacker who captures one (a log, a proxy) could send it again while its timestamp is inside
the accepted window. Each gateway process remembers the signatures it accepted for twice that
window (a timestamp may be up to one window ahead of the clock, and is refused once it is
more than one window behind), in a bounded table that forgets the oldest first when full.
Replicas do not share the table.
"""

from __future__ import annotations

import math
from collections import OrderedDict


class ReplayCache:
    def __init__(self, capacity: int, window: float) -> None:
        """``window``: the timestamp check's ±seconds; 0 = no window (size alone bounds)."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._keep = 2 * window if window > 0 else math.inf
        # key -> when it may be forgotten; in claim order, so also in expiry order.
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, key: str, now: float) -> bool:
        """Remember ``key``; False when it is already remembered (a replay)."""
        while self._entries:
            oldest, until = next(iter(self._entries.items()))
            if until > now:
                break
            del self._entries[oldest]
        if key in self._entries:
            return False
        while len(self._entries) >= self._capacity:
            self._entries.popitem(last=False)
        self._entries[key] = now + self._keep
        return True

    def release(self, key: str) -> None:
        """Forget ``key``: its request was not accepted, so Vonage may deliver it again."""
        self._entries.pop(key, None)
