"""The lobby's pairing rules on both databases: queue, pair at random (never with oneself,
never twice at once), leave, rejoin, help rate limit, state across restarts and replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.lobby.chats import LiveChats
from numproxy.lobby.lobby import Drop, Lobby, OpenChat, Reply
from numproxy.lobby.settings import LobbySettings
from numproxy.lobby.store import InChat, JoinOutcome, LobbyStore, Paired, Queued
from numproxy.router.store.dialect import create_engine

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)
ANN, BOB, CAT = "+15550000001", "+15550000002", "+15550000003"


class Chats(LiveChats):
    """Which numbers numproxy shows in a live chat."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.opened: set[str] = set()

    async def has_live_chat(self, number: str) -> bool:
        return number in self.live

    async def pair_opened(self, pair_id: str) -> bool:
        return pair_id in self.opened


async def join(
    store: LobbyStore,
    number: str,
    *,
    at: datetime = NOW,
    live: bool = False,
    ended_pair: str | None = None,
) -> JoinOutcome:
    return await store.join(
        number, "x@example.com", now=at, live_chat=live, grace=GRACE, ended_pair=ended_pair
    )


async def test_the_second_email_pairs_with_the_first(lobby_engine: AsyncEngine) -> None:
    store = LobbyStore(lobby_engine)
    assert await join(store, ANN) == Queued(again=False)
    paired = await join(store, BOB)
    assert isinstance(paired, Paired) and paired.partner == ANN
    assert await store.waiting() == []
    # Both are in the new chat now: neither joins again while it opens or runs.
    assert await join(store, ANN) == InChat()
    assert await join(store, BOB, at=NOW + GRACE * 3, live=True) == InChat()


async def test_nobody_is_paired_with_themselves(lobby_engine: AsyncEngine) -> None:
    store = LobbyStore(lobby_engine)
    assert await join(store, ANN) == Queued(again=False)
    assert await join(store, ANN) == Queued(again=True)
    assert await store.waiting() == [ANN]


async def test_once_the_router_shows_the_chat_ended_both_may_rejoin_at_once(
    lobby_engine: AsyncEngine,
) -> None:
    store = LobbyStore(lobby_engine)
    await join(store, ANN)
    paired = await join(store, BOB)
    assert isinstance(paired, Paired)
    assert await store.pairing(ANN) == paired.pair_id
    soon = NOW + GRACE / 3
    assert await join(store, ANN, at=soon, ended_pair="another-pair") == InChat()
    assert await join(store, ANN, at=soon, ended_pair=paired.pair_id) == Queued(again=False)
    again = await join(store, BOB, at=soon, ended_pair=paired.pair_id)
    assert isinstance(again, Paired) and again.partner == ANN


async def test_a_pairing_never_opened_is_forgotten_after_the_grace(
    lobby_engine: AsyncEngine,
) -> None:
    store = LobbyStore(lobby_engine)
    await join(store, ANN)
    await join(store, BOB)
    later = NOW + GRACE * 2
    assert await join(store, ANN, at=later) == Queued(again=False)  # no live chat any more
    paired = await join(store, BOB, at=later)
    assert isinstance(paired, Paired) and paired.partner == ANN


async def test_a_live_chat_refuses_a_join_even_without_a_lobby_record(
    lobby_engine: AsyncEngine,
) -> None:
    store = LobbyStore(lobby_engine)
    assert await join(store, CAT, live=True) == InChat()
    assert await store.waiting() == []


async def test_leaving_the_queue(lobby_engine: AsyncEngine) -> None:
    store = LobbyStore(lobby_engine)
    await join(store, ANN)
    assert await store.leave(ANN, now=NOW) is True
    assert await store.leave(ANN, now=NOW) is False
    assert await join(store, BOB) == Queued(again=False)


async def test_help_replies_are_rate_limited_per_number(lobby_engine: AsyncEngine) -> None:
    store = LobbyStore(lobby_engine)
    interval = timedelta(minutes=5)
    assert await store.help_due(ANN, now=NOW, interval=interval) is True
    assert await store.help_due(ANN, now=NOW + timedelta(minutes=1), interval=interval) is False
    assert await store.help_due(BOB, now=NOW, interval=interval) is True
    assert await store.help_due(ANN, now=NOW + timedelta(minutes=6), interval=interval) is True


async def test_the_queue_survives_a_restart(
    lobby_engine: AsyncEngine, lobby_database_url: str
) -> None:
    await join(LobbyStore(lobby_engine), ANN)
    restarted = create_engine(lobby_database_url)
    try:
        paired = await join(LobbyStore(restarted), BOB)
    finally:
        await restarted.dispose()
    assert isinstance(paired, Paired) and paired.partner == ANN


async def test_two_replicas_never_pair_one_person_twice(
    lobby_engine: AsyncEngine, lobby_database_url: str
) -> None:
    second = create_engine(lobby_database_url)
    replicas = [LobbyStore(lobby_engine), LobbyStore(second)]
    numbers = [f"+1555100{i:04d}" for i in range(24)]
    try:
        outcomes = await asyncio.gather(*(join(replicas[i % 2], n) for i, n in enumerate(numbers)))
    finally:
        await second.dispose()
    pairs = [
        (n, o.partner) for n, o in zip(numbers, outcomes, strict=True) if isinstance(o, Paired)
    ]
    in_pairs = [number for pair in pairs for number in pair]
    assert all(a != b for a, b in pairs)
    assert len(in_pairs) == len(set(in_pairs)), "someone was paired twice"
    waiting = await LobbyStore(lobby_engine).waiting()
    assert not set(waiting) & set(in_pairs)
    assert len(in_pairs) + len(waiting) == len(numbers)
    assert len(waiting) <= 1  # decisions are serialized: at most one is left waiting


def settings(**changes: object) -> LobbySettings:
    return LobbySettings(**changes)  # type: ignore[arg-type]


async def test_the_lobby_answers_by_what_was_texted(lobby_engine: AsyncEngine) -> None:
    s = settings(help_interval=300)
    clock = [NOW]
    chats = Chats()
    lobby = Lobby(LobbyStore(lobby_engine), chats, s, clock=lambda: clock[0])
    assert await lobby.resolve(ANN, " Ann@Example.com ") == Reply(s.waiting_text)
    assert await lobby.resolve(CAT, "hello?") == Reply(s.help_text)
    assert await lobby.resolve(CAT, "hello again") == Drop()  # rate limited
    assert await lobby.resolve(CAT, "#END") == Drop()  # not waiting: help again, still limited
    opened = await lobby.resolve(BOB, "bob@example.org")
    assert isinstance(opened, OpenChat) and (opened.partner, opened.sender) == (ANN, BOB)
    assert await lobby.resolve(CAT, "cat@example.net") == Reply(s.waiting_text)
    assert await lobby.resolve(CAT, "#end") == Reply(s.left_text)
    # The chat ended (the router opened it, it is no longer live): Ann may queue again.
    assert await lobby.resolve(ANN, "ann@example.com") == Reply(s.in_chat_text)
    chats.opened.add(opened.pair_id)
    assert await lobby.resolve(ANN, "ann@example.com") == Reply(s.waiting_text)
