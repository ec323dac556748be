"""The lobby's HookService answers: a pairing opens a chat in the chat pool with both
greetings and the goodbye notice, and carries no email; other pools are dropped."""

from __future__ import annotations

from typing import Any

from numproxy.lobby.lobby import Decision, Drop, OpenChat, Reply, is_email
from numproxy.lobby.servicer import LobbyHooks
from numproxy.lobby.settings import LobbySettings
from numproxy.v1 import hook_pb2


class FixedLobby:
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.seen: list[tuple[str, str]] = []

    async def resolve(self, sender: str, text: str) -> Decision:
        self.seen.append((sender, text))
        return self.decision


def hooks(decision: Decision) -> tuple[LobbyHooks, FixedLobby]:
    lobby = FixedLobby(decision)
    return LobbyHooks(lobby, LobbySettings()), lobby  # type: ignore[arg-type]


def request(pool: str = "pools/lobby", text: str = "bob@example.org") -> Any:
    return hook_pb2.ResolveOutOfSessionRequest(
        pool=pool, sender_number="+15550000002", proxy_number="+12025550105", text=text
    )


async def test_a_pairing_opens_a_chat_for_both_without_their_emails() -> None:
    servicer, _ = hooks(OpenChat("+15550000001", "+15550000002", "pair-1"))
    reply = await servicer.ResolveOutOfSession(request(), None)  # type: ignore[arg-type]
    action = reply.create_session
    settings = LobbySettings()
    assert reply.WhichOneof("action") == "create_session"
    assert [p.number for p in action.participants] == ["+15550000001", "+15550000002"]
    assert {p.greeting for p in action.participants} == {settings.connected_text}
    assert action.pool == "pools/chat" and action.close_notice == settings.goodbye_text
    assert action.ttl.seconds == int(settings.chat_ttl)
    assert "example" not in str(reply)


async def test_replies_and_drops_map_to_their_actions() -> None:
    servicer, _ = hooks(Reply("Waiting for another user…"))
    reply = await servicer.ResolveOutOfSession(request(), None)  # type: ignore[arg-type]
    assert reply.reply.text == "Waiting for another user…"
    servicer, _ = hooks(Drop())
    reply = await servicer.ResolveOutOfSession(request(), None)  # type: ignore[arg-type]
    assert reply.WhichOneof("action") == "drop"


async def test_texts_to_other_pools_are_dropped_without_asking_the_lobby() -> None:
    servicer, lobby = hooks(Reply("never"))
    reply = await servicer.ResolveOutOfSession(request(pool="pools/chat"), None)  # type: ignore[arg-type]
    assert reply.WhichOneof("action") == "drop" and lobby.seen == []


def test_what_counts_as_an_email() -> None:
    assert is_email("ann@example.com") and is_email("a.b+c@mail.example.co.uk")
    assert not is_email("hello") and not is_email("ann@localhost") and not is_email("a b@x.io")
    assert not is_email("x" * 250 + "@example.com")
