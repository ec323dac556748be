"""The replay cache: a signed request is accepted once while it could still pass the
timestamp check; the table stays within its size."""

from __future__ import annotations

import pytest

from numproxy.gateway.replay import ReplayCache


def test_a_key_is_accepted_once() -> None:
    cache = ReplayCache(capacity=10, window=300)
    assert cache.claim("a", now=1000)
    assert not cache.claim("a", now=1001)
    assert cache.claim("b", now=1001)


def test_remembered_for_twice_the_window_then_forgotten() -> None:
    cache = ReplayCache(capacity=10, window=300)
    assert cache.claim("a", now=1000)
    # A timestamp up to 300 s ahead passes the check until 300 s after it: 600 s in all.
    assert not cache.claim("a", now=1599)
    assert cache.claim("b", now=1600)  # sweeping forgets "a" at 1600
    assert len(cache) == 1
    assert cache.claim("a", now=1600)


def test_without_a_window_only_the_size_bounds_it() -> None:
    cache = ReplayCache(capacity=2, window=0)
    assert cache.claim("a", now=0)
    assert not cache.claim("a", now=10**9)


def test_full_table_forgets_the_oldest_first() -> None:
    cache = ReplayCache(capacity=2, window=300)
    for key in ("a", "b", "c"):
        assert cache.claim(key, now=1000)
    assert len(cache) == 2
    assert not cache.claim("b", now=1000) and not cache.claim("c", now=1000)
    assert cache.claim("a", now=1000)  # forgotten to make room for "c"


def test_released_key_may_come_again() -> None:
    cache = ReplayCache(capacity=10, window=300)
    assert cache.claim("a", now=1000)
    cache.release("a")
    cache.release("never-claimed")
    assert cache.claim("a", now=1001)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ReplayCache(capacity=0, window=300)
