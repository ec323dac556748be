"""Whether someone is in a live chat, asked of numproxy (the lobby keeps no copy of it)."""

from __future__ import annotations

import logging
from typing import Protocol

from numproxy.client import NumproxyClient, NumproxyError
from numproxy.common.numbers import mask

log = logging.getLogger(__name__)
# Session metadata naming the lobby pairing a chat was opened for.
PAIR_KEY = "pair"


class LiveChats(Protocol):
    async def has_live_chat(self, number: str) -> bool: ...
    async def pair_opened(self, pair_id: str) -> bool: ...


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

    async def pair_opened(self, pair_id: str) -> bool:
        """Whether the router opened the chat of pairing ``pair_id`` (live or closed since)."""
        try:
            page = await self._client.list_sessions(
                pool=self._pool, metadata={PAIR_KEY: pair_id}, page_size=1
            )
        except NumproxyError as exc:
            log.warning("cannot ask the router about pairing %s: %s", pair_id, exc)
            return False  # not known to be over: the pairing still counts until its grace ends
        return bool(page.sessions)
