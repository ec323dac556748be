"""The core rule under racing creates: the database constraint, not a lock, decides.

- ≥10 racing creates for one user on a 3-number pool: exactly 3 succeed, on distinct numbers
  (SQLite and PostgreSQL, in-process and over gRPC);
- two router processes on one PostgreSQL: no clashing number ever handed out;
- two transactions that chose the same number: the unique index rejects the second, which
  retries (PostgreSQL; SQLite serializes writers with BEGIN IMMEDIATE instead);
- a clashing active participant row written directly is refused by the database.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from numproxy.common.errors import PoolExhausted, error_info
from numproxy.common.grpc_client import open_channel
from numproxy.router.sessions import sessions as sessions_module
from numproxy.router.sessions.sessions import SessionView
from numproxy.router.store.dialect import create_engine, session_factory
from numproxy.router.store.models import Participant, Pool, ProxyNumber, Session
from numproxy.v1 import pool_pb2, pool_pb2_grpc, session_pb2, session_pb2_grpc
from tests.conftest import fresh_postgres_database
from tests.support.postgres import PostgresServer
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    US1,
    US2,
    US3,
    make_domain,
    make_pool,
    pair,
    proxy_of,
    router_channel,
    router_process,
)

RACERS = 12
OTHERS = [f"+1555090{i:04d}" for i in range(RACERS)]


def _assert_exactly_pool_size_successes(results: Sequence[object]) -> list[SessionView]:
    won = [r for r in results if isinstance(r, SessionView)]
    lost = [r for r in results if not isinstance(r, SessionView)]
    assert len(won) == 3
    assert sorted(proxy_of(s, ALICE) for s in won) == [US1, US2, US3]
    assert all(isinstance(e, PoolExhausted) for e in lost), lost
    return won


async def _active_clashes(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with session_factory(engine)() as db:
        rows = await db.execute(
            select(Participant.number, Participant.proxy_number_id).where(Participant.active)
        )
        counts = Counter((number, proxy) for number, proxy in rows)
    return [key for key, n in counts.items() if n > 1]


async def test_racing_creates_for_one_user_in_process(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2, US3])
    results = await asyncio.gather(
        *(d.sessions.create_session(pair(ALICE, other)) for other in OTHERS),
        return_exceptions=True,
    )
    _assert_exactly_pool_size_successes(results)
    assert await _active_clashes(engine) == []


async def test_racing_creates_for_one_user_over_grpc(database_url: str) -> None:
    async with router_channel(database_url) as channel:
        pools = pool_pb2_grpc.PoolServiceStub(channel)
        await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="default"))
        await pools.AddNumbers(pool_pb2.AddNumbersRequest(pool="default", numbers=[US1, US2, US3]))
        stub = session_pb2_grpc.SessionServiceStub(channel)
        outcomes = await asyncio.gather(
            *(_grpc_create(stub, other) for other in OTHERS), return_exceptions=False
        )
    won = [o for o in outcomes if isinstance(o, str)]
    assert sorted(won) == [US1, US2, US3]
    assert Counter(o for o in outcomes if not isinstance(o, str)) == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "POOL_EXHAUSTED"): RACERS - 3
    }


async def _grpc_create(
    stub: session_pb2_grpc.SessionServiceStub, other: str
) -> str | tuple[grpc.StatusCode, str]:
    """ALICE's proxy number on success, else (status code, ErrorInfo reason)."""
    request = session_pb2.CreateSessionRequest(
        participants=[
            session_pb2.ParticipantSpec(number=ALICE),
            session_pb2.ParticipantSpec(number=other),
        ]
    )
    try:
        reply = await stub.CreateSession(request)
    except grpc.aio.AioRpcError as exc:
        info = error_info(exc)
        return exc.code(), info.reason if info else ""
    return next(p.proxy_number for p in reply.session.participants if p.number == ALICE)


async def test_two_router_processes_on_one_postgresql(postgres_server: PostgresServer) -> None:
    url = fresh_postgres_database(postgres_server)
    with router_process(url) as first, router_process(url) as second:
        await asyncio.gather(first.wait_serving(), second.wait_serving())
        channels = [
            open_channel(first.address, first.tls),
            open_channel(second.address, second.tls),
        ]
        try:
            pools = pool_pb2_grpc.PoolServiceStub(channels[0])
            await pools.CreatePool(pool_pb2.CreatePoolRequest(pool_id="default"))
            await pools.AddNumbers(
                pool_pb2.AddNumbersRequest(pool="default", numbers=[US1, US2, US3])
            )
            stubs = [session_pb2_grpc.SessionServiceStub(c) for c in channels]
            # Several rounds, each racing 12 creates for ALICE split over both processes,
            # then closing what was won so the next round races again.
            for round_ in range(3):
                others = [f"+1555091{round_}{i:03d}" for i in range(RACERS)]
                outcomes = await asyncio.gather(
                    *(_grpc_create(stubs[i % 2], other) for i, other in enumerate(others))
                )
                won = sorted(o for o in outcomes if isinstance(o, str))
                assert won == [US1, US2, US3], outcomes
                assert all(
                    o == (grpc.StatusCode.RESOURCE_EXHAUSTED, "POOL_EXHAUSTED")
                    for o in outcomes
                    if not isinstance(o, str)
                )
                await _close_all_of(stubs[round_ % 2], ALICE)
        finally:
            for channel in channels:
                await channel.close(grace=None)
        assert first.terminate() == 0
        assert second.terminate() == 0
    engine = create_engine(url)
    try:
        assert await _active_clashes(engine) == []
    finally:
        await engine.dispose()


async def _close_all_of(stub: session_pb2_grpc.SessionServiceStub, number: str) -> None:
    listed = await stub.ListSessions(
        session_pb2.ListSessionsRequest(participant_number=number, page_size=100)
    )
    for session in listed.sessions:
        await stub.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(
                    name=session.name, status=session_pb2.SESSION_STATUS_CLOSED
                ),
                update_mask={"paths": ["status"]},
            )
        )


async def test_the_index_rejects_a_clash_that_two_transactions_chose(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both creates choose US1 for ALICE before either inserts; no lock stops them. The unique
    index refuses the second insert, and that create retries onto the other number."""
    url = fresh_postgres_database(postgres_server)
    engine = create_engine(url)
    try:
        d = make_domain(engine)
        await make_pool(d, [US1, US2])
        both_chose = asyncio.Barrier(2)
        choices: list[list[str]] = []
        choose = sessions_module.choose_proxy_numbers

        async def choose_then_wait(
            db: AsyncSession, pool: Pool, numbers: Sequence[str]
        ) -> list[ProxyNumber]:
            chosen = await choose(db, pool, numbers)
            choices.append([p.number for p in chosen])
            if len(choices) <= 2:
                await asyncio.wait_for(both_chose.wait(), 10)
            return chosen

        monkeypatch.setattr(sessions_module, "choose_proxy_numbers", choose_then_wait)
        first, second = await asyncio.gather(
            d.sessions.create_session(pair(ALICE, BOB)),
            d.sessions.create_session(pair(ALICE, CAROL)),
        )
        assert choices[0][0] == choices[1][0] == US1  # the same choice, made concurrently
        assert len(choices) == 3  # the loser chose again
        assert sorted([proxy_of(first, ALICE), proxy_of(second, ALICE)]) == [US1, US2]
        assert await _active_clashes(engine) == []
    finally:
        await engine.dispose()


async def test_the_database_refuses_a_clashing_active_participant(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    factory = session_factory(engine)
    async with factory() as db:
        proxy_id = await db.scalar(select(ProxyNumber.id).where(ProxyNumber.number == US1))
        assert proxy_id is not None
    now = datetime.now(UTC)

    async def insert_participant(active: bool) -> None:
        async with factory() as db, db.begin():
            other = Session(
                id=f"00000000-0000-4000-8000-00000000000{int(active)}",
                pool_id=(await db.scalar(select(Pool.id))),
                attributes={},
                created_at=now,
                updated_at=now,
            )
            db.add(other)
            await db.flush()
            db.add(
                Participant(
                    session_id=other.id,
                    position=0,
                    number=ALICE,
                    proxy_number_id=proxy_id,
                    active=active,
                )
            )

    with pytest.raises(IntegrityError) as clash:
        await insert_participant(active=True)
    assert "participant" in str(clash.value.orig)
    # Inactive rows (closed sessions' history) are outside the partial index.
    await insert_participant(active=False)
    assert (await d.sessions.get_session(session.id)).status == "OPEN"
