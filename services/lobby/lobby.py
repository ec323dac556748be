"""What the lobby answers a text that reached its number outside any session.

An email address queues the sender or pairs them with a random waiting stranger; the end
command leaves the queue; anything else gets a one-line help reply, at most one per
``help_interval`` per number. Emails are kept in the lobby's table only: they are never put
in a session, a reply or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from numproxy.lobby.chats import LiveChats
from numproxy.lobby.settings import LobbySettings
from numproxy.lobby.store import InChat, LobbyStore, Paired, Queued

MAX_EMAIL = 254
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_email(text: str) -> bool:
    return len(text) <= MAX_EMAIL and _EMAIL.match(text) is not None


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class Drop:
    pass


@dataclass(frozen=True)
class OpenChat:
    """Open a chat between ``partner`` (waited) and ``sender`` (just arrived)."""

    partner: str
    sender: str
    pair_id: str


Decision = Reply | Drop | OpenChat


class Lobby:
    def __init__(
        self,
        store: LobbyStore,
        chats: LiveChats,
        settings: LobbySettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._chats = chats
        self._settings = settings
        self._clock = clock

    async def resolve(self, sender: str, text: str) -> Decision:
        s = self._settings
        text = text.strip()
        now = self._clock()
        if s.end_command and text.lower() == s.end_command.lower():
            if await self._store.leave(sender, now=now):
                return Reply(s.left_text)
        elif is_email(text):
            live = await self._chats.has_live_chat(sender)
            pair = None if live else await self._store.pairing(sender)
            ended = pair if pair is not None and await self._chats.pair_opened(pair) else None
            outcome = await self._store.join(
                sender,
                text.lower(),
                now=now,
                live_chat=live,
                grace=timedelta(seconds=s.pairing_grace),
                ended_pair=ended,
            )
            if isinstance(outcome, Paired):
                return OpenChat(outcome.partner, sender, outcome.pair_id)
            if isinstance(outcome, InChat):
                return Reply(s.in_chat_text)
            assert isinstance(outcome, Queued)
            return Reply(s.waiting_text)
        interval = timedelta(seconds=s.help_interval)
        if await self._store.help_due(sender, now=now, interval=interval):
            return Reply(s.help_text)
        return Drop()
