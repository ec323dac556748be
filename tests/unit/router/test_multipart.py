"""Multipart reassembly (docs/concepts.md, the inbound pipeline) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.inbound.message import Outcome
from numproxy.router.inbound.multipart import is_part
from numproxy.router.settings import RouterSettings
from numproxy.router.store.models import MessagePart
from tests.support.router_inbound import (
    FakeClock,
    InboundUnderTest,
    add_pool,
    add_session,
    factory,
    interactions,
    make_router,
    sms,
)

ALICE, BOB = "+15550100001", "+15550100002"
V1, V2 = "+15557000001", "+15557000002"
PARTS = ["The quick brown fox ", "jumps over ", "the lazy dog."]


def part(number: int, *, ref: str = "ab12", total: int = 3, text: str | None = None) -> object:
    return sms(
        ALICE,
        V1,
        PARTS[number - 1] if text is None else text,
        concat_ref=ref,
        concat_total=total,
        concat_part=number,
    )


async def _setup(
    engine: AsyncEngine, clock: FakeClock | None = None, **settings: Any
) -> tuple[InboundUnderTest, FakeClock, str]:
    pool = await add_pool(engine, [V1, V2])
    session_id = await add_session(engine, pool, [(ALICE, V1), (BOB, V2)])
    clock = clock or FakeClock()
    router, _ = make_router(engine, clock, RouterSettings(**settings))
    return router, clock, session_id


async def _texts(engine: AsyncEngine) -> list[str]:
    return [o.text for o in await interactions(engine, "OUTBOUND")]


@pytest.mark.parametrize("order", [[1, 2, 3], [3, 1, 2], [2, 3, 1]])
async def test_parts_are_forwarded_once_in_part_order(
    engine: AsyncEngine, order: list[int]
) -> None:
    router, _, session_id = await _setup(engine)

    results = [await router.receive(part(n)) for n in order]  # type: ignore[arg-type]

    assert [r.outcome for r in results] == [
        Outcome.PART_STORED,
        Outcome.PART_STORED,
        Outcome.FORWARDED,
    ]
    assert results[-1].session_id == session_id
    assert await _texts(engine) == ["".join(PARTS)]
    [inbound] = await interactions(engine, "INBOUND")
    assert (inbound.text, inbound.note) == ("".join(PARTS), "")


async def test_duplicated_parts_are_absorbed(engine: AsyncEngine) -> None:
    router, _, _ = await _setup(engine)

    # Part 2 arrives twice under different message ids, once before and once after completion.
    outcomes = [(await router.receive(part(n))).outcome for n in [2, 1, 2, 3, 2]]  # type: ignore[arg-type]

    assert outcomes == [
        Outcome.PART_STORED,
        Outcome.PART_STORED,
        Outcome.DUPLICATE,
        Outcome.FORWARDED,
        Outcome.DUPLICATE,
    ]
    assert await _texts(engine) == ["".join(PARTS)]


async def test_random_order_with_duplicates(engine: AsyncEngine) -> None:
    router, _, _ = await _setup(engine)
    deliveries = [1, 2, 3, 1, 3]
    random.Random(7).shuffle(deliveries)

    for n in deliveries:
        await router.receive(part(n))  # type: ignore[arg-type]

    assert await _texts(engine) == ["".join(PARTS)]


async def test_concurrent_parts_are_assembled_once(engine: AsyncEngine) -> None:
    router, _, _ = await _setup(engine)

    results = await asyncio.gather(*(router.receive(part(n)) for n in [1, 2, 3] * 2))  # type: ignore[arg-type]

    assert sum(r.outcome is Outcome.FORWARDED for r in results) == 1
    assert await _texts(engine) == ["".join(PARTS)]


async def test_groups_are_kept_apart_by_reference(engine: AsyncEngine) -> None:
    router, _, _ = await _setup(engine)

    await router.receive(part(1, ref="r1", total=2, text="A1 "))  # type: ignore[arg-type]
    await router.receive(part(1, ref="r2", total=2, text="B1 "))  # type: ignore[arg-type]
    await router.receive(part(2, ref="r2", total=2, text="B2"))  # type: ignore[arg-type]
    await router.receive(part(2, ref="r1", total=2, text="A2"))  # type: ignore[arg-type]

    assert sorted(await _texts(engine)) == ["A1 A2", "B1 B2"]


async def test_missing_part_times_out_and_the_rest_is_routed(engine: AsyncEngine) -> None:
    router, clock, session_id = await _setup(engine, multipart_timeout=60)
    await router.receive(part(3))  # type: ignore[arg-type]
    clock.advance(10)
    await router.receive(part(1))  # type: ignore[arg-type]

    clock.advance(49)
    assert await router.flush_incomplete() == 0
    assert await _texts(engine) == []

    clock.advance(2)
    assert await router.flush_incomplete() == 1
    assert await router.flush_incomplete() == 0

    assert await _texts(engine) == [PARTS[0] + PARTS[2]]
    [inbound] = await interactions(engine, "INBOUND")
    assert inbound.session_id == session_id
    assert inbound.note == "incomplete: parts 1,3 of 3"


async def test_part_arriving_after_the_timeout_is_routed_alone(engine: AsyncEngine) -> None:
    router, clock, _ = await _setup(engine, multipart_timeout=60)
    await router.receive(part(1))  # type: ignore[arg-type]
    await router.receive(part(3))  # type: ignore[arg-type]
    clock.advance(61)
    await router.flush_incomplete()
    clock.advance(1)

    late = await router.receive(part(2))  # type: ignore[arg-type]
    again = await router.receive(part(2))  # type: ignore[arg-type]

    assert (late.outcome, again.outcome) == (Outcome.FORWARDED, Outcome.DUPLICATE)
    assert await _texts(engine) == [PARTS[0] + PARTS[2], PARTS[1]]
    notes = [i.note for i in await interactions(engine, "INBOUND")]
    assert notes == ["incomplete: parts 1,3 of 3", "late: part 2 of 3"]


async def test_completed_parts_are_purged_after_the_retention(engine: AsyncEngine) -> None:
    router, clock, _ = await _setup(engine, dedupe_retention=3600)
    for n in [1, 2, 3]:
        await router.receive(part(n))  # type: ignore[arg-type]
    await router.receive(part(1, ref="pending"))  # type: ignore[arg-type]
    clock.advance(3601)

    await router.purge()

    async with factory(engine)() as db:
        left = (await db.scalars(select(MessagePart.concat_ref))).all()
    assert left == ["pending"]


def test_single_part_or_missing_fields_is_not_multipart() -> None:
    assert is_part("ab", 3, 2)
    assert not is_part("", 3, 2)
    assert not is_part("ab", 1, 1)
    assert not is_part("ab", 0, 0)
    assert not is_part("ab", 3, 4)


async def test_one_part_of_one_is_routed_as_a_plain_message(engine: AsyncEngine) -> None:
    router, _, _ = await _setup(engine)

    result = await router.receive(part(1, total=1, text="short"))  # type: ignore[arg-type]

    assert result.outcome is Outcome.FORWARDED
    assert await _texts(engine) == ["short"]
