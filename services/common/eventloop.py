"""The event loop every service runs on: uvloop (libuv) when it is installed, else asyncio's.

uvloop roughly halves the event loop's own cost per socket event; with a few thousand
requests/s crossing three processes that is a visible share of each message's CPU.
grpc.aio, uvicorn and asyncpg all run on it unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # an optional speed-up: the services work without it
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
