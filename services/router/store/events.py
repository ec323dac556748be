"""Writing events: the one way a state change is recorded in the event stream.

Events are written in the transaction of the change they describe, as its last statements:
``append`` takes the event order lock (store/dialect.py), held until commit, so cursors are
allocated in commit order and a watcher never sees cursor N+1 before N has committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.store import dialect
from numproxy.router.store.models import Event
from numproxy.router.store.rows import Row

_INSERT = insert(Event.__table__)  # type: ignore[arg-type]


async def append(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Write ``rows`` (built by store/rows.py ``event``); call it last in the transaction."""
    if not rows:
        return
    await dialect.event_order_lock(conn)
    await conn.execute(_INSERT, list(rows))
