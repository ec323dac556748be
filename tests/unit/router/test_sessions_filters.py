"""ListSessions by request_id and by metadata key/value (SQLite and PostgreSQL: their JSON
access differs)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.errors import InvalidArgument
from tests.support.router_sessions import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    US1,
    US2,
    make_domain,
    make_pool,
    pair,
)


async def test_finds_the_session_created_with_a_request_id(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    await d.sessions.create_session(pair(ALICE, BOB, request_id="order-1"))
    wanted = await d.sessions.create_session(pair(ALICE, CAROL, request_id="order-2"))
    await d.sessions.create_session(pair(BOB, CAROL))

    found = await d.sessions.list_sessions(request_id="order-2")
    assert [s.id for s in found.items] == [wanted.id]
    assert found.items[0].request_id == "order-2"
    assert (await d.sessions.list_sessions(request_id="order-9")).items == []


async def test_every_metadata_pair_must_match(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    tricky = {"shop.id": "7", 'say "hi"': "it's", "émoji": "🚲", "$[0]": "x"}
    one = await d.sessions.create_session(pair(ALICE, BOB, metadata={"order": "42", **tricky}))
    two = await d.sessions.create_session(pair(ALICE, CAROL, metadata={"order": "42"}))
    await d.sessions.create_session(pair(BOB, DAVE, metadata={"order": "43", "shop.id": "8"}))

    async def ids(**filters: object) -> list[str]:
        page = await d.sessions.list_sessions(**filters)  # type: ignore[arg-type]
        return [s.id for s in page.items]

    assert await ids(metadata={"order": "42"}) == [one.id, two.id]
    assert await ids(metadata={"order": "42", "shop.id": "7"}) == [one.id]
    for key, value in tricky.items():
        assert await ids(metadata={key: value}) == [one.id], key
    assert await ids(metadata={"order": "4"}) == []
    assert await ids(metadata={"missing": ""}) == []
    assert await ids(metadata={"order": "42"}, participant_number=CAROL) == [two.id]
    assert await ids(metadata={"order": "42"}, request_id="nope") == []


async def test_filtered_pages_carry_their_filter(engine: AsyncEngine) -> None:
    d = make_domain(engine)
    await make_pool(d, [US1, US2])
    made = [
        await d.sessions.create_session(
            pair(f"+1555050{i:04d}", f"+1555080{i:04d}", metadata={"batch": "a"})
        )
        for i in range(3)
    ]
    first = await d.sessions.list_sessions(size=2, metadata={"batch": "a"})
    rest = await d.sessions.list_sessions(
        size=2, token=first.next_page_token, metadata={"batch": "a"}
    )
    assert [s.id for s in first.items + rest.items] == [s.id for s in made]
    with pytest.raises(InvalidArgument) as other_query:
        await d.sessions.list_sessions(size=2, token=first.next_page_token, metadata={"batch": "b"})
    assert other_query.value.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(9)}}, "INVALID_METADATA"),
        ({"metadata": {"": "v"}}, "INVALID_METADATA"),
        ({"metadata": {"k" * 129: "v"}}, "INVALID_METADATA"),
        ({"metadata": {"k": "v" * 1025}}, "INVALID_METADATA"),
        ({"request_id": "r" * 129}, "INVALID_REQUEST_ID"),
    ],
)
async def test_filters_are_bounded(
    engine: AsyncEngine, filters: dict[str, object], reason: str
) -> None:
    d = make_domain(engine)
    with pytest.raises(InvalidArgument) as invalid:
        await d.sessions.list_sessions(**filters)  # type: ignore[arg-type]
    assert invalid.value.reason == reason
    # Eight pairs is the most, and allowed.
    page = await d.sessions.list_sessions(metadata={f"k{i}": "v" for i in range(8)})
    assert page.items == []
