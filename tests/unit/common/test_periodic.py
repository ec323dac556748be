"""Periodic: rounds at start and every interval, a failing round reported and not fatal."""

from __future__ import annotations

import asyncio

from numproxy.common.periodic import Periodic


async def test_rounds_continue_after_a_failure_until_stopped() -> None:
    rounds: list[int] = []
    failures: list[str] = []
    third = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:
            raise RuntimeError("first round fails")
        if len(rounds) == 3:
            third.set()

    periodic = Periodic("test", 0.01, work, lambda exc: failures.append(str(exc)))
    await periodic.start()
    await asyncio.wait_for(third.wait(), 5)
    await periodic.stop()
    stopped_at = len(rounds)
    await asyncio.sleep(0.05)

    assert failures == ["first round fails"]
    assert rounds[:3] == [1, 2, 3]
    assert len(rounds) == stopped_at  # no round after stop()
