"""Pool headroom from the public API (the rule itself: common/headroom.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from numproxy.common.headroom import free_for_busiest
from numproxy.v1 import pool_pb2, session_pb2


@dataclass(frozen=True)
class Headroom:
    active_numbers: int
    draining_numbers: int
    live_sessions: int
    busiest_holds: int  # proxy numbers held by the busiest real number
    free_for_busiest: int
    estimate: bool  # not every live session was read (see headroom_scan_limit)


def headroom(
    numbers: Sequence[pool_pb2.ProxyNumber],
    live_sessions: Sequence[session_pb2.Session],
    *,
    truncated: bool = False,
) -> Headroom:
    active = {n.number for n in numbers if n.state != pool_pb2.NUMBER_STATE_DRAINING}
    held: dict[str, set[str]] = defaultdict(set)
    for session in live_sessions:
        for participant in session.participants:
            if participant.proxy_number in active:
                held[participant.number].add(participant.proxy_number)
    busiest = max((len(v) for v in held.values()), default=0)
    return Headroom(
        active_numbers=len(active),
        draining_numbers=len(numbers) - len(active),
        live_sessions=len(live_sessions),
        busiest_holds=busiest,
        free_for_busiest=free_for_busiest(len(active), busiest),
        estimate=truncated,
    )
