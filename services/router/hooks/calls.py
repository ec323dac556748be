"""What consulting a hook about one message needs: set by the hook stage (stage.py) on a
message it set aside, used by the decider (decider.py) and the client (client.py)."""

from __future__ import annotations

from dataclasses import dataclass

from numproxy.router.store.queries import PoolHooks
from numproxy.router.store.states import HookKind


@dataclass(frozen=True, slots=True)
class HookCall:
    kind: HookKind
    # Stable across retries of one message: the decision's key (hook_decision.message_key)
    # and the app's idempotency key.
    message_key: str
    hooks: PoolHooks
    pool_id: int
    sender: str
    proxy: str
    text: str
    # INTERCEPT_MESSAGE: the live session.
    session_id: str = ""

    @property
    def deadline(self) -> float:
        """Seconds the app has to answer."""
        return self.hooks.deadline_ms / 1000
