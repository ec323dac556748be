"""Whether someone is in a live chat, asked of numproxy (the lobby keeps no copy of it)."""

from __future__ import annotations

import logging
from typing import Protocol

from numproxy.client import NumproxyClient, NumproxyError
from numproxy.common.numbers import mask

log = logging.getLogger(__name__)


class LiveChats(Protocol):
    async def has_live_chat(self, number: str) -> bool: ...


class RouterChats:
    """Live sessions of ``number`` in the chat pool, through SessionService.ListSessions."""

    def __init__(self, client: NumproxyClient, chat_pool: str) -> None:
        self._client = client
        self._pool = chat_pool

    async def has_live_chat(self, number: str) -> bool:
        try:
            for status in ("open", "in_progress"):
                page = await self._client.list_sessions(
                    participant_number=number, pool=self._pool, status=status, page_size=1
                )
                if page.sessions:
                    return True
        except NumproxyError as exc:
            # Unknown counts as "in a chat": refusing a join is better than pairing twice.
            log.warning("cannot ask the router about %s: %s", mask(number), exc)
            return True
        return False
