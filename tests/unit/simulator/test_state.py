"""Throttling buckets, run-time config, money formatting."""

import pytest

from numproxy.simulator.settings import SimulatorSettings
from numproxy.simulator.state import ConfigError, SimConfig, TokenBuckets, from_units, to_units


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_rate_then_answers_wait_ms() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert [buckets.take("k", 3) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k", 3) == 334
    clock.now += 0.34
    assert buckets.take("k", 3) == 0


def test_buckets_are_per_key_and_zero_is_unlimited() -> None:
    buckets = TokenBuckets(Clock())
    assert buckets.take("a", 1) == 0
    assert buckets.take("b", 1) == 0
    assert buckets.take("a", 1) > 0
    assert all(buckets.take("c", 0) == 0 for _ in range(1000))


def test_config_update_validates_all_or_nothing() -> None:
    config = SimConfig.from_settings(SimulatorSettings())
    config.update({"rate_limit": 5, "error_rate": 0.5, "dlr_status": "failed"})
    assert (config.rate_limit, config.error_rate, config.dlr_status) == (5, 0.5, "failed")
    for bad in ({"error_rate": 2}, {"dlr_status": "nope"}, {"bogus": 1}, {"rate_limit": -1}):
        with pytest.raises(ConfigError):
            config.update({"latency_ms": 100, **bad})
    assert config.latency_ms == 0


def test_money_round_trip() -> None:
    assert to_units("0.0333") == 3_330_000
    assert from_units(to_units("15.53590000")) == "15.53590000"
    assert from_units(-5) == "-0.00000005"
