"""Client-side rate limit per API key, so the provider never has to throttle us.

Requests are spaced ``1/rate`` apart (no burst): each caller reserves the next free slot and
sleeps once until it. The provider's own limit is a bucket of ``rate`` tokens, so evenly
spaced requests leave it almost full and network jitter never empties it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from numproxy.common.errors import ProviderUnavailable


class RateLimited(ProviderUnavailable):
    default_reason = "RATE_LIMITED"


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def acquire(self, deadline: float | None = None) -> None:
        """Wait for this caller's slot. Raises RateLimited, without taking a slot, when the
        slot would come after ``deadline`` (a ``clock`` value)."""
        if self._interval == 0.0:
            return
        now = self._clock()
        slot = max(now, self._next)
        if deadline is not None and slot > deadline:
            raise RateLimited(
                f"client-side rate limit of {self.rate:g}/s leaves no slot before the deadline"
            )
        self._next = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Push every later slot back (the provider asked us to wait)."""
        self._next = max(self._next, self._clock() + seconds)


class RateLimiters:
    """One limiter per API key, all with the same rate."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._by_key: dict[str, RateLimiter] = {}

    def for_key(self, api_key: str) -> RateLimiter:
        limiter = self._by_key.get(api_key)
        if limiter is None:
            limiter = self._by_key[api_key] = RateLimiter(self._rate, clock=self._clock)
        return limiter
