"""Headroom: free numbers for the real number holding the most in live sessions."""

from __future__ import annotations

from numproxy.console.headroom import headroom
from numproxy.v1 import pool_pb2, session_pb2

ACTIVE, DRAINING = pool_pb2.NUMBER_STATE_ACTIVE, pool_pb2.NUMBER_STATE_DRAINING
N1, N2, N3, N4 = "+12025550101", "+12025550102", "+12025550103", "+12025550104"


def number(value: str, state: int = ACTIVE) -> pool_pb2.ProxyNumber:
    return pool_pb2.ProxyNumber(number=value, state=state)  # type: ignore[arg-type]


def session(*pairs: tuple[str, str]) -> session_pb2.Session:
    return session_pb2.Session(
        participants=[session_pb2.Participant(number=n, proxy_number=p) for n, p in pairs]
    )


def test_an_idle_pool_has_every_active_number_free() -> None:
    result = headroom([number(N1), number(N2), number(N3, DRAINING)], [])
    assert (result.active_numbers, result.draining_numbers, result.free_for_busiest) == (2, 1, 2)


def test_the_busiest_number_decides() -> None:
    numbers = [number(N1), number(N2), number(N3), number(N4, DRAINING)]
    live = [
        session(("+15550000001", N1), ("+15550000002", N1)),
        session(("+15550000001", N2), ("+15550000003", N1)),
        # A session left on a draining number does not use up an active one.
        session(("+15550000001", N4), ("+15550000004", N2)),
    ]
    result = headroom(numbers, live, truncated=True)
    assert result.busiest_holds == 2 and result.free_for_busiest == 1
    assert result.live_sessions == 3 and result.estimate
