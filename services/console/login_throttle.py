"""Failed logins per user name within a window: beyond the limit, logins are refused until
the window has passed (in this process; each replica counts its own)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED_NAMES = 10_000


class LoginThrottle:
    def __init__(
        self,
        limit: int = 5,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, user: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(user, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def blocked(self, user: str) -> bool:
        return len(self._recent(user)) >= self.limit

    def failed(self, user: str) -> None:
        if user not in self._failures and len(self._failures) >= MAX_TRACKED_NAMES:
            self._failures.pop(next(iter(self._failures)))  # bounded: forget the oldest name
        failures = self._recent(user)
        failures.append(self._clock())
        self._failures[user] = failures

    def succeeded(self, user: str) -> None:
        self._failures.pop(user, None)
