"""The client-side limiter spaces requests 1/rate apart without polling."""

import pytest

from numproxy.sender.ratelimit import RateLimited, RateLimiter, RateLimiters


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_requests_are_spaced_by_the_interval() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        await limiter.acquire()
    assert t.sleeps == pytest.approx([0.1, 0.2, 0.3])  # the first goes at once


async def test_idle_time_is_not_banked_as_a_burst() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    await limiter.acquire()
    t.now += 5
    await limiter.acquire()
    await limiter.acquire()
    assert t.sleeps == pytest.approx([0.1])


async def test_zero_rate_is_unlimited() -> None:
    t = FakeTime()
    limiter = RateLimiter(0, clock=t.clock, sleep=t.sleep)
    for _ in range(100):
        await limiter.acquire()
    assert t.sleeps == []


async def test_slot_after_deadline_fails_fast_without_taking_it() -> None:
    t = FakeTime()
    limiter = RateLimiter(1, clock=t.clock, sleep=t.sleep)
    await limiter.acquire()
    with pytest.raises(RateLimited):
        await limiter.acquire(deadline=t.now + 0.5)
    await limiter.acquire(deadline=t.now + 2)
    assert t.sleeps == pytest.approx([1.0])  # the failed call did not push the slot back


async def test_pause_pushes_later_slots_back() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    limiter.pause(0.978)
    await limiter.acquire()
    assert t.sleeps == pytest.approx([0.978])


def test_one_limiter_per_api_key() -> None:
    limiters = RateLimiters(30)
    assert limiters.for_key("a") is limiters.for_key("a")
    assert limiters.for_key("a") is not limiters.for_key("b")
    assert limiters.for_key("a").rate == 30
