"""Pools and their numbers (domain layer) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import AlreadyExists, InvalidArgument, NotFound
from numproxy.router.sessions.pools import PoolSpec
from numproxy.router.store.dialect import session_factory
from numproxy.router.store.models import ProxyNumber
from tests.support.router_inbound import START
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    UK1,
    US1,
    US2,
    US3,
    make_domain,
    make_pool,
    pair,
    proxy_of,
)


async def test_create_and_get_a_pool(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    created = await d.pools.create_pool(
        "buyers-1",
        PoolSpec(
            default_ttl=timedelta(hours=2),
            default_lifetime=timedelta(days=7),
            out_of_session_policy="REPLY",
            out_of_session_reply="This conversation has ended.",
            reply_interval=timedelta(minutes=10),
        ),
    )
    assert created.id == "buyers-1"
    assert created.default_ttl_seconds == 7200
    assert created.default_lifetime_seconds == 7 * 86400
    assert created.out_of_session_policy == "REPLY"
    assert created.out_of_session_reply == "This conversation has ended."
    assert created.reply_interval_seconds == 600
    assert created.created_at == START
    assert created.number_count == 0

    await d.pools.add_numbers("pools/buyers-1", [US1, US2])
    assert await d.pools.get_pool("pools/buyers-1") == await d.pools.get_pool("buyers-1")
    assert (await d.pools.get_pool("buyers-1")).number_count == 2


async def test_pool_defaults_drop_policy_and_one_hour_reply_interval(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    pool = await d.pools.create_pool("p", PoolSpec())
    assert pool.out_of_session_policy == "DROP"
    assert pool.reply_interval_seconds == 3600
    assert pool.default_ttl_seconds == pool.default_lifetime_seconds == 0


async def test_duplicate_and_unknown_pools(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await d.pools.create_pool("p", PoolSpec())
    with pytest.raises(AlreadyExists) as exists:
        await d.pools.create_pool("p", PoolSpec())
    assert exists.value.reason == "POOL_ALREADY_EXISTS"
    with pytest.raises(NotFound) as missing:
        await d.pools.get_pool("pools/nope")
    assert missing.value.reason == "POOL_NOT_FOUND"
    assert missing.value.metadata == {"pool": "pools/nope"}


@pytest.mark.parametrize(
    ("pool_id", "spec", "reason"),
    [
        ("Upper", PoolSpec(), "INVALID_POOL_ID"),
        ("", PoolSpec(), "INVALID_POOL_ID"),
        ("x" * 64, PoolSpec(), "INVALID_POOL_ID"),
        ("has_underscore", PoolSpec(), "INVALID_POOL_ID"),
        ("p", PoolSpec(default_ttl=timedelta(seconds=-1)), "INVALID_DURATION"),
        ("p", PoolSpec(default_lifetime=timedelta(seconds=-5)), "INVALID_DURATION"),
        ("p", PoolSpec(reply_interval=timedelta(0)), "INVALID_DURATION"),
        ("p", PoolSpec(out_of_session_policy="REPLY"), "INVALID_POLICY"),
        ("p", PoolSpec(out_of_session_policy="LOBBY"), "INVALID_POLICY"),
    ],
)
async def test_invalid_pools_are_rejected_and_not_created(
    engine: AsyncEngine, pool_id: str, spec: PoolSpec, reason: str
) -> None:
    d = make_domain(engine)
    with pytest.raises(InvalidArgument) as invalid:
        await d.pools.create_pool(pool_id, spec)
    assert invalid.value.reason == reason
    assert (await d.pools.list_pools()).items == []


async def test_list_pools_in_pages(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    for pool_id in ("c", "a", "b"):
        await d.pools.create_pool(pool_id, PoolSpec())
    await d.pools.add_numbers("a", [US1])
    first = await d.pools.list_pools(2)
    assert [(p.id, p.number_count) for p in first.items] == [("a", 1), ("b", 0)]
    assert first.next_page_token
    second = await d.pools.list_pools(2, first.next_page_token)
    assert [p.id for p in second.items] == ["c"]
    assert second.next_page_token == ""


async def test_add_numbers_normalizes_dedupes_and_records_country(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await d.pools.create_pool("p", PoolSpec())
    added = await d.pools.add_numbers("p", ["1 (555) 700-0001", "+15557000001", "447400000001"])
    assert [(n.number, n.state, n.pool_id) for n in added] == [
        (US1, "ACTIVE", "p"),
        (UK1, "ACTIVE", "p"),
    ]
    async with session_factory(engine)() as db:
        codes = dict((await db.execute(select(ProxyNumber.number, ProxyNumber.country_code))).all())
    assert codes == {US1: "1", UK1: "44"}
    again = await d.pools.add_numbers("p", [US1])
    assert [n.number for n in again] == [US1]
    assert (await d.pools.get_pool("p")).number_count == 2


async def test_a_number_of_another_pool_fails_the_whole_request(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1], "first")
    await d.pools.create_pool("second", PoolSpec())
    with pytest.raises(AlreadyExists) as clash:
        await d.pools.add_numbers("second", [US2, US1])
    assert clash.value.reason == "NUMBER_IN_OTHER_POOL"
    assert (await d.pools.get_pool("second")).number_count == 0


async def test_add_numbers_bad_input(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await d.pools.create_pool("p", PoolSpec())
    with pytest.raises(InvalidArgument) as malformed:
        await d.pools.add_numbers("p", [US1, "12ab"])
    assert malformed.value.reason == "INVALID_NUMBER"
    assert malformed.value.metadata == {"field": "numbers[1]"}
    with pytest.raises(InvalidArgument):
        await d.pools.add_numbers("p", [])
    with pytest.raises(NotFound):
        await d.pools.add_numbers("nope", [US1])
    async with session_factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(ProxyNumber)) == 0


async def test_remove_drains_and_re_adding_reactivates(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    session = await d.sessions.create_session(pair(ALICE, BOB))
    drained = proxy_of(session, ALICE)

    removed = await d.pools.remove_number("default", drained)
    assert removed.state == "DRAINING"
    assert removed.active_participants >= 1
    # The session on it runs on; new sessions avoid it.
    assert (await d.sessions.get_session(session.id)).status == "OPEN"
    other = await d.sessions.create_session(pair(CAROL, "+15550100077"))
    assert drained not in {p.proxy_number for p in other.participants}

    readded = await d.pools.add_numbers("default", [drained])
    assert readded[0].state == "ACTIVE"


async def test_remove_number_errors(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1], "first")
    await make_pool(d, [US2], "second")
    with pytest.raises(NotFound) as missing:
        await d.pools.remove_number("first", US2)
    assert missing.value.reason == "NUMBER_NOT_FOUND"
    with pytest.raises(NotFound) as no_pool:
        await d.pools.remove_number("third", US1)
    assert no_pool.value.reason == "POOL_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await d.pools.remove_number("first", "not a number")


async def test_list_numbers_with_usage_filtered_by_pool(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2], "default")
    await make_pool(d, [US3], "other")
    await d.sessions.create_session(pair(ALICE, BOB))
    await d.sessions.create_session(pair(ALICE, CAROL))

    listed = await d.pools.list_numbers("pools/default")
    usage = {n.number: n.active_participants for n in listed.items}
    assert set(usage) == {US1, US2}
    assert sum(usage.values()) == 4
    everything = await d.pools.list_numbers()
    assert [n.number for n in everything.items] == [US1, US2, US3]
    assert [n.pool_id for n in everything.items] == ["default", "default", "other"]

    first = await d.pools.list_numbers(size=2)
    second = await d.pools.list_numbers(size=2, token=first.next_page_token)
    assert [n.number for n in first.items + second.items] == [US1, US2, US3]
    assert second.next_page_token == ""
    with pytest.raises(NotFound):
        await d.pools.list_numbers("missing")
