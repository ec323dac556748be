"""Pool headroom, the one rule: how many more sessions the busiest real number could still open.

For a real number R, the free numbers are the pool's active (not draining) numbers that R
does not hold in a live session. The headroom is that count for the number holding the most:
the first participant to run out, since two sessions of one person need two proxy numbers.
The router's metrics compute the busiest holding in SQL (router/metrics_collector.py), the
console from the public API (console/headroom.py); both end here.
"""

from __future__ import annotations


def free_for_busiest(active_numbers: int, busiest_holds: int) -> int:
    """Free proxy numbers left to the real number that holds the most of the active ones."""
    return max(0, active_numbers - busiest_holds)
