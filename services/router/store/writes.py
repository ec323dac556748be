"""What a transaction will write at its end: interaction rows (the outbox among them) and
events. Collected as a change is worked out, written by ``flush`` as the transaction's last
statements (events last of all: store/events.py).

Every interaction written brings its event: MESSAGE_RECEIVED for an inbound SMS,
OUTBOUND_QUEUED for each SMS entering the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from numproxy.router.store import events, queries, rows
from numproxy.router.store.rows import Row
from numproxy.router.store.states import Direction, EventType


@dataclass(slots=True)
class Writes:
    # Interaction rows in the order written, and the ones to send among them (the outbox).
    interactions: list[Row] = field(default_factory=list)
    outbound: list[Row] = field(default_factory=list)
    # The pool of each row of ``outbound`` (None: a number not in a pool).
    outbound_pools: list[int | None] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)

    def interaction(self, row: Row, *, pool_id: int | None) -> Row:
        """Write ``row`` (store/rows.py); ``pool_id``: the pool of its proxy number."""
        self.interactions.append(row)
        inbound = row["direction"] == Direction.INBOUND
        if not inbound:
            self.outbound.append(row)
            self.outbound_pools.append(pool_id)
        self.events.append(
            rows.event(
                type=EventType.MESSAGE_RECEIVED if inbound else EventType.OUTBOUND_QUEUED,
                now=row["created_at"],
                pool_id=pool_id,
                session_id=row["session_id"],
                interaction_id=row["id"],
                participant=row["sender_number"] if inbound else row["recipient_number"],
                proxy_number=row["proxy_number"],
                direction=row["direction"],
            )
        )
        return row

    def event(self, row: Row) -> None:
        self.events.append(row)

    async def flush(self, conn: AsyncConnection) -> None:
        await queries.insert_interactions(conn, self.interactions)
        await events.append(conn, self.events)
