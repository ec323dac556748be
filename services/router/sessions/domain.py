"""What the session API's operations share: their transactions, their clock, and whom they
tell after a commit (the event feed, always; the dispatcher, when they queued an SMS)."""

from __future__ import annotations

from collections.abc import Callable

from numproxy.router.clock import Clock
from numproxy.router.store.transactions import SessionFactory


class Domain:
    def __init__(
        self,
        factory: SessionFactory,
        clock: Clock,
        on_queued: Callable[[], None] | None = None,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._on_queued = on_queued
        # Told after every commit that wrote events (the event feed wakes its watchers).
        self._on_events = on_events

    def _committed(self, *, queued: bool = False) -> None:
        """A transaction that wrote events committed; ``queued``: it queued outbound SMS."""
        self._on_events()
        if queued and self._on_queued is not None:
            self._on_queued()
