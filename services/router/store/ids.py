"""Time-ordered ids (UUID version 7 layout) for sessions and interactions.

Ordering by (created_at, id) then lists an inbound message before the outbound copies written
in the same transaction (they share created_at), and new rows land at the end of the index.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_id() -> str:
    """A UUIDv7-style id, strictly increasing within this process."""
    global _last_ms, _sequence
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _sequence += 1
            if _sequence > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                _sequence = 0
        else:
            _sequence = 0
        _last_ms = ms
        sequence = _sequence
    value = (ms << 80) | (0x7 << 76) | (sequence << 64) | (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=value))
