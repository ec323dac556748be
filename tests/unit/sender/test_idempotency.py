"""Repeated idempotency keys replay the first success; concurrent calls share one call."""

import asyncio

import pytest

from numproxy.sender.idempotency import IdempotencyCache, IdempotencyKeyReused


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Provider:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def send(self) -> str:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise RuntimeError("provider down")
        return f"result-{self.calls}"


async def test_repeated_key_replays_first_result() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    first = await cache.run("k1", "fp", provider.send)
    second = await cache.run("k1", "fp", provider.send)
    assert (first, second, provider.calls) == ("result-1", "result-1", 1)


async def test_empty_key_never_deduplicates() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    await cache.run("", "fp", provider.send)
    await cache.run("", "fp", provider.send)
    assert provider.calls == 2
    assert len(cache) == 0


async def test_concurrent_calls_share_one_provider_call() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    provider.release.clear()
    calls = [asyncio.create_task(cache.run("k", "fp", provider.send)) for _ in range(5)]
    await asyncio.sleep(0)
    provider.release.set()
    assert await asyncio.gather(*calls) == ["result-1"] * 5
    assert provider.calls == 1


async def test_failures_are_not_remembered() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    provider.fail = True
    with pytest.raises(RuntimeError):
        await cache.run("k", "fp", provider.send)
    provider.fail = False
    assert await cache.run("k", "fp", provider.send) == "result-2"


async def test_entries_expire_after_the_window() -> None:
    clock = Clock()
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10, clock=clock)
    provider = Provider()
    await cache.run("k", "fp", provider.send)
    clock.now = 61
    assert await cache.run("k", "fp", provider.send) == "result-2"


async def test_size_is_bounded_oldest_dropped_first() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 2)
    provider = Provider()
    for key in ("a", "b", "c"):
        await cache.run(key, "fp", provider.send)
    assert len(cache) == 2
    assert await cache.run("a", "fp", provider.send) == "result-4"  # "a" was evicted
    assert await cache.run("c", "fp", provider.send) == "result-3"


async def test_reusing_a_key_for_other_content_is_rejected() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    await cache.run("k", "fp-1", provider.send)
    with pytest.raises(IdempotencyKeyReused):
        await cache.run("k", "fp-2", provider.send)
    assert provider.calls == 1


async def test_a_caller_giving_up_does_not_cancel_the_shared_call() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(60, 10)
    provider = Provider()
    provider.release.clear()
    first = asyncio.create_task(cache.run("k", "fp", provider.send))
    await asyncio.sleep(0)
    first.cancel()
    second = asyncio.create_task(cache.run("k", "fp", provider.send))
    await asyncio.sleep(0)
    provider.release.set()
    assert await second == "result-1"
    assert provider.calls == 1
