"""Per-caller authorization over real gRPC (the router on port 0, both databases): scopes,
pool limits, and the audit trail of what each caller did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from numproxy.cli.main import main as cli
from numproxy.common.scopes import Scope
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
    pool_pb2,
    pool_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.support.callers import TEST_CALLERS, caller_channel
from tests.support.router_inbound import eventually
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    US3,
    US4,
    api_router,
    api_router_settings,
    rpc_error,
)

DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
CREATE = "/numproxy.v1.SessionService/CreateSession"
LIST_INTERACTIONS = "/numproxy.v1.SessionService/ListInteractions"
MISSING_ID = "sessions/00000000-0000-4000-8000-000000000000"

CALLERS = {
    **TEST_CALLERS,
    "reader": {"scopes": [Scope.SESSIONS_READ]},
    "auditor": {"scopes": [Scope.AUDIT_READ]},
    # An app limited to pool "a" with every scope it could use there.
    "shop": {
        "scopes": [
            Scope.SESSIONS_READ,
            Scope.SESSIONS_WRITE,
            Scope.INTERACTIONS_READ,
            Scope.POOLS_ADMIN,
            Scope.EVENTS_READ,
            Scope.AUDIT_READ,
        ],
        "pools": ["a"],
    },
}


@dataclass
class As:
    """The router's APIs as one caller."""

    sessions: session_pb2_grpc.SessionServiceStub
    pools: pool_pb2_grpc.PoolServiceStub
    events: event_pb2_grpc.EventServiceStub
    audit: audit_pb2_grpc.AuditServiceStub
    inbound: inbound_pb2_grpc.InboundServiceStub


@dataclass
class World:
    callers: dict[str | None, As]
    session_a: session_pb2.Session
    session_b: session_pb2.Session

    def __getitem__(self, caller: str | None) -> As:
        return self.callers[caller]


def pair(a: str, b: str, pool: str) -> session_pb2.CreateSessionRequest:
    return session_pb2.CreateSessionRequest(
        participants=[session_pb2.ParticipantSpec(number=n) for n in (a, b)], pool=pool
    )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    """Pools a and b with a session each, made by admin; a channel per caller."""
    config = api_router_settings(database_url, callers=CALLERS)
    async with api_router(config) as address:
        names = [None, "admin", "gateway", "reader", "auditor", "shop", "stranger"]
        channels = {name: caller_channel(address, name) for name in names}
        callers = {
            name: As(
                session_pb2_grpc.SessionServiceStub(channel),
                pool_pb2_grpc.PoolServiceStub(channel),
                event_pb2_grpc.EventServiceStub(channel),
                audit_pb2_grpc.AuditServiceStub(channel),
                inbound_pb2_grpc.InboundServiceStub(channel),
            )
            for name, channel in channels.items()
        }
        admin = callers["admin"]
        for pool, numbers in (("a", [US1, US2]), ("b", [US3, US4])):
            await admin.pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id=pool))
            await admin.pools.AddNumbers(pool_pb2.AddNumbersRequest(pool=pool, numbers=numbers))
        session_a = (await admin.sessions.CreateSession(pair(ALICE, BOB, "a"))).session
        session_b = (await admin.sessions.CreateSession(pair(CAROL, DAVE, "b"))).session
        try:
            yield World(callers, session_a, session_b)
        finally:
            for channel in channels.values():
                await channel.close(grace=None)


# --- scopes ----------------------------------------------------------------------------------


async def test_a_call_without_identity_is_unauthenticated(world: World) -> None:
    code, reason, _ = await rpc_error(world[None].sessions.ListSessions(pl()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_a_reader_reads_but_cannot_create(world: World) -> None:
    listed = await world["reader"].sessions.ListSessions(pl())
    assert {s.name for s in listed.sessions} == {world.session_a.name, world.session_b.name}

    code, reason, metadata = await rpc_error(
        world["reader"].sessions.CreateSession(pair(ALICE, CAROL, "a"))
    )
    assert (code, reason, metadata) == (DENIED, "MISSING_SCOPE", {"scope": "sessions:write"})
    # Nor read message text: that is its own scope.
    code, reason, metadata = await rpc_error(
        world["reader"].sessions.ListInteractions(
            session_pb2.ListInteractionsRequest(parent=world.session_a.name)
        )
    )
    assert (code, reason, metadata) == (DENIED, "MISSING_SCOPE", {"scope": "interactions:read"})


async def test_a_caller_not_listed_may_call_nothing(world: World) -> None:
    code, reason, _ = await rpc_error(
        world["stranger"].pools.ListPools(pool_pb2.ListPoolsRequest())
    )
    assert (code, reason) == (DENIED, "MISSING_SCOPE")


async def test_the_gateway_identity_delivers_inbound_but_cannot_use_the_session_api(
    world: World,
) -> None:
    proxy = next(p.proxy_number for p in world.session_a.participants if p.number == ALICE)
    reply = await world["gateway"].inbound.ReceiveSms(
        inbound_pb2.ReceiveSmsRequest(
            message_id="m-1", api_key="k", from_number=ALICE, to_number=proxy, text="hi"
        )
    )
    assert reply.outcome == inbound_pb2.INBOUND_OUTCOME_FORWARDED

    for call in (
        world["gateway"].sessions.ListSessions(pl()),
        world["gateway"].sessions.CreateSession(pair(ALICE, CAROL, "a")),
        world["gateway"].pools.ListPools(pool_pb2.ListPoolsRequest()),
        world["gateway"].events.ListEvents(event_pb2.ListEventsRequest()),
        world["gateway"].audit.ListAuditEntries(audit_pb2.ListAuditEntriesRequest()),
    ):
        code, reason, _ = await rpc_error(call)
        assert (code, reason) == (DENIED, "MISSING_SCOPE")


# --- pool limits -----------------------------------------------------------------------------


async def test_a_pool_limited_caller_sees_only_its_pools(world: World) -> None:
    shop = world["shop"]
    sessions = await shop.sessions.ListSessions(pl())
    assert [s.name for s in sessions.sessions] == [world.session_a.name]
    pools = await shop.pools.ListPools(pool_pb2.ListPoolsRequest())
    assert [p.name for p in pools.pools] == ["pools/a"]
    numbers = await shop.pools.ListNumbers(pool_pb2.ListNumbersRequest())
    assert [n.number for n in numbers.numbers] == [US1, US2]
    events = await shop.events.ListEvents(event_pb2.ListEventsRequest())
    assert events.events and {e.pool for e in events.events} == {"pools/a"}
    assert world.session_b.name not in {e.session for e in events.events}
    assert (await shop.pools.GetPool(pool_pb2.GetPoolRequest(name="pools/a"))).pool.name


async def test_another_pools_session_is_not_found_like_a_missing_one(world: World) -> None:
    shop = world["shop"]
    other, missing = world.session_b.name, MISSING_ID
    answers = []
    for name in (other, missing):
        answers.append(
            [
                await rpc_error(call)
                for call in (
                    shop.sessions.GetSession(session_pb2.GetSessionRequest(name=name)),
                    shop.sessions.ListInteractions(
                        session_pb2.ListInteractionsRequest(parent=name)
                    ),
                    shop.sessions.SendMessage(
                        session_pb2.SendMessageRequest(session=name, to=CAROL, text="x")
                    ),
                    shop.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=name)),
                    shop.events.ListEvents(event_pb2.ListEventsRequest(session=name)),
                )
            ]
        )
    seen_other, seen_missing = answers
    assert [(code, reason) for code, reason, _ in seen_other] == [
        (NOT_FOUND, "SESSION_NOT_FOUND")
    ] * 5
    # The same answers, metadata and all, whether the session exists in another pool or not.
    strip = [(c, r, {k: v for k, v in m.items() if k != "session"}) for c, r, m in seen_other]
    assert strip == [
        (c, r, {k: v for k, v in m.items() if k != "session"}) for c, r, m in seen_missing
    ]
    # Still there for admin: nothing was deleted.
    await world["admin"].sessions.GetSession(session_pb2.GetSessionRequest(name=other))


async def test_a_pool_limited_caller_cannot_touch_another_pool(world: World) -> None:
    shop = world["shop"]
    for call in (
        shop.sessions.CreateSession(pair(ALICE, CAROL, "b")),
        # The default pool, when none is named, is another pool too.
        shop.sessions.CreateSession(pair(ALICE, CAROL, "")),
        shop.sessions.ListSessions(session_pb2.ListSessionsRequest(pool="b")),
        shop.pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="c")),
        shop.pools.GetPool(pool_pb2.GetPoolRequest(name="pools/b")),
        # A pool that does not exist gets the same answer: nothing about b is revealed.
        shop.pools.GetPool(pool_pb2.GetPoolRequest(name="pools/zz")),
        shop.pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="b", numbers=["+15557000009"])),
        shop.pools.RemoveNumber(pool_pb2.RemoveNumberRequest(pool="b", number=US3)),
        shop.pools.ListNumbers(pool_pb2.ListNumbersRequest(pool="b")),
        shop.events.ListEvents(event_pb2.ListEventsRequest(pool="b")),
        shop.audit.ListAuditEntries(audit_pb2.ListAuditEntriesRequest(pool="b")),
    ):
        code, reason, _ = await rpc_error(call)
        assert (code, reason) == (DENIED, "POOL_NOT_ALLOWED")

    created = await shop.sessions.CreateSession(pair(ALICE, CAROL, "a"))
    assert created.session.pool == "pools/a"
    pools = await world["admin"].pools.ListPools(pool_pb2.ListPoolsRequest())
    assert [p.name for p in pools.pools] == ["pools/a", "pools/b"]


async def test_a_pool_limited_watch_streams_only_its_pools_events(world: World) -> None:
    shop = world["shop"]
    stream = shop.events.WatchEvents(event_pb2.WatchEventsRequest())
    try:
        # b's events come first in cursor order; a's later session is the first one seen
        # after a's own history.
        await world["admin"].sessions.CreateSession(pair(CAROL, ALICE, "b"))
        created = (await world["admin"].sessions.CreateSession(pair(DAVE, ALICE, "a"))).session
        seen: list[event_pb2.Event] = []
        async for reply in stream:
            seen.extend(reply.events)
            if any(e.session == created.name for e in seen):
                break
    finally:
        stream.cancel()
    assert {e.pool for e in seen} == {"pools/a"}


# --- the audit trail ------------------------------------------------------------------------


async def audit_entries(
    caller: As, request: audit_pb2.ListAuditEntriesRequest | None = None
) -> list[audit_pb2.AuditEntry]:
    reply = await caller.audit.ListAuditEntries(request or audit_pb2.ListAuditEntriesRequest())
    return list(reply.entries)


async def wait_for_entries(caller: As, count: int) -> list[audit_pb2.AuditEntry]:
    """The entries once at least ``count`` are written (the trail writes off the call's path)."""
    found: list[audit_pb2.AuditEntry] = []

    async def enough() -> bool:
        found[:] = await audit_entries(caller, audit_pb2.ListAuditEntriesRequest(page_size=1000))
        return len(found) >= count

    await eventually(enough)
    return found


def summary(entry: audit_pb2.AuditEntry) -> tuple[str, str, str, str, str, str]:
    return (
        entry.caller,
        entry.method.rsplit("/", 1)[-1],
        entry.session,
        entry.pool,
        entry.code,
        entry.reason,
    )


async def test_audit_shows_each_audited_call_with_its_outcome(world: World) -> None:
    admin, reader, shop = world["admin"], world["reader"], world["shop"]
    a, b = world.session_a.name, world.session_b.name
    # The fixture's 2 CreatePool, 2 AddNumbers, 2 CreateSession were audited too.
    await wait_for_entries(world["auditor"], 6)

    await reader.sessions.ListSessions(pl())  # an allowed read without message text: not audited
    await admin.sessions.ListInteractions(session_pb2.ListInteractionsRequest(parent=a))
    await rpc_error(reader.sessions.CreateSession(pair(ALICE, CAROL, "a")))
    await rpc_error(world[None].sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=a)))
    await rpc_error(shop.sessions.ListInteractions(session_pb2.ListInteractionsRequest(parent=b)))
    await rpc_error(shop.pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="b", numbers=[US1])))
    await admin.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=a, status=session_pb2.SESSION_STATUS_CLOSED),
            update_mask={"paths": ["status"]},
        )
    )

    entries = await wait_for_entries(world["auditor"], 12)
    assert [summary(e) for e in entries[:6]] == [
        ("admin", "UpdateSession", a, "pools/a", "OK", ""),
        ("shop", "AddNumbers", "", "pools/b", "PERMISSION_DENIED", "POOL_NOT_ALLOWED"),
        ("shop", "ListInteractions", b, "", "NOT_FOUND", "SESSION_NOT_FOUND"),
        ("", "DeleteSession", a, "", "UNAUTHENTICATED", "UNAUTHENTICATED"),
        ("reader", "CreateSession", "", "pools/a", "PERMISSION_DENIED", "MISSING_SCOPE"),
        ("admin", "ListInteractions", a, "", "OK", ""),
    ]
    oldest = [summary(e) for e in reversed(entries[6:])]
    assert oldest[0] == ("admin", "CreatePool", "", "pools/a", "OK", "")
    assert oldest[-1] == ("admin", "CreateSession", b, "pools/b", "OK", "")
    ids = [e.id for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert all(e.create_time.seconds > 0 for e in entries)


async def test_the_inbound_flow_and_plain_reads_are_not_audited(world: World) -> None:
    proxy = next(p.proxy_number for p in world.session_a.participants if p.number == ALICE)
    await world["gateway"].inbound.ReceiveSms(
        inbound_pb2.ReceiveSmsRequest(
            message_id="m-2", api_key="k", from_number=ALICE, to_number=proxy, text="hi"
        )
    )
    await world["reader"].sessions.GetSession(
        session_pb2.GetSessionRequest(name=world.session_a.name)
    )
    # A marker call written after both: once it shows, they would have too.
    await world["admin"].pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="marker"))
    entries = await wait_for_entries(world["auditor"], 7)
    assert entries[0].pool == "pools/marker"
    assert {e.caller for e in entries} == {"admin"}


async def test_audit_filters_and_pages(world: World) -> None:
    auditor, shop = world["auditor"], world["shop"]
    await rpc_error(world["reader"].sessions.CreateSession(pair(ALICE, CAROL, "a")))
    entries = await wait_for_entries(auditor, 7)

    def only(**filters: object) -> audit_pb2.ListAuditEntriesRequest:
        return audit_pb2.ListAuditEntriesRequest(**filters)  # type: ignore[arg-type]

    assert [e.caller for e in await audit_entries(auditor, only(caller="reader"))] == ["reader"]
    by_method = await audit_entries(auditor, only(method=CREATE))
    assert [e.session for e in by_method] == ["", world.session_b.name, world.session_a.name]
    by_session = await audit_entries(auditor, only(session=world.session_b.name))
    assert [summary(e)[1] for e in by_session] == ["CreateSession"]
    by_pool = await audit_entries(auditor, only(pool="b"))
    assert {e.pool for e in by_pool} == {"pools/b"} and len(by_pool) == 3

    # start_time is inclusive, end_time exclusive.
    since = await audit_entries(auditor, only(start_time=entries[1].create_time))
    assert [e.id for e in since] == [entries[0].id, entries[1].id]
    before = await audit_entries(auditor, only(end_time=entries[1].create_time))
    assert [e.id for e in before] == [e.id for e in entries[2:]]
    between = await audit_entries(
        auditor, only(start_time=entries[3].create_time, end_time=entries[1].create_time)
    )
    assert [e.id for e in between] == [entries[2].id, entries[3].id]

    pages: list[int] = []
    token = ""
    while True:
        page = await auditor.audit.ListAuditEntries(only(page_size=2, page_token=token))
        assert len(page.entries) <= 2
        pages.extend(e.id for e in page.entries)
        token = page.next_page_token
        if not token:
            break
    assert pages == [e.id for e in entries]

    # A pool-limited reader sees only its pool's entries.
    assert {e.pool for e in await audit_entries(shop)} == {"pools/a"}


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"page_size": -1}, "INVALID_PAGE_SIZE"),
        ({"page_token": "garbage"}, "INVALID_PAGE_TOKEN"),
        ({"caller": "x" * 129}, "INVALID_ARGUMENT"),
        ({"session": "sessions/nope"}, "INVALID_NAME"),
        ({"pool": "Not A Pool"}, "INVALID_POOL_ID"),
        (
            {"start_time": {"seconds": 2_000_000_000}, "end_time": {"seconds": 1_000_000_000}},
            "INVALID_TIME_RANGE",
        ),
        ({"start_time": {"seconds": 400_000_000_000}}, "INVALID_TIME_RANGE"),
    ],
)
async def test_bad_audit_queries_are_invalid_arguments(
    world: World, filters: dict[str, object], reason: str
) -> None:
    request = audit_pb2.ListAuditEntriesRequest(**filters)  # type: ignore[arg-type]
    code, got, _ = await rpc_error(world["auditor"].audit.ListAuditEntries(request))
    assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


def pl() -> session_pb2.ListSessionsRequest:
    return session_pb2.ListSessionsRequest()


async def test_the_cli_lists_the_audit_trail(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI's calls carry no identity here: the router makes them as the auditor.
    config = api_router_settings(database_url, callers=CALLERS)
    async with api_router(config, anonymous="auditor") as address:
        channel = caller_channel(address, "admin")
        try:
            pools = pool_pb2_grpc.PoolServiceStub(channel)
            for pool in ("p1", "p2", "p3"):
                await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id=pool))
        finally:
            await channel.close(grace=None)
        common = ["--router", address]

        async def listed() -> list[dict[str, object]]:
            code = await asyncio.to_thread(cli, ["audit", "list", *common, "--json"])
            assert code == 0
            entries: list[dict[str, object]] = json.loads(capsys.readouterr().out)
            return entries

        found: list[dict[str, object]] = []

        async def three() -> bool:
            found[:] = await listed()
            return len(found) == 3

        await eventually(three)
        assert [e["pool"] for e in found] == ["pools/p3", "pools/p2", "pools/p1"]
        assert {e["caller"] for e in found} == {"admin"}

        code = await asyncio.to_thread(
            cli, ["audit", "list", *common, "--pool", "p2", "--limit", "1"]
        )
        out = capsys.readouterr().out
        assert code == 0
        [line] = out.splitlines()
        assert "admin" in line and "/numproxy.v1.PoolService/CreatePool  OK  pools/p2" in line

        with pytest.raises(SystemExit) as exited:
            cli(["audit", "list", *common, "--limit", "0"])
        assert exited.value.code == 1
        assert "positive whole number" in capsys.readouterr().err
