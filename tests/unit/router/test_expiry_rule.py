"""The one expiry rule (store/expiry.py): its SQL form selects exactly the sessions its Python
form calls ran out (or live), on SQLite and PostgreSQL, boundaries included."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.router.store.expiry import live_sql, ran_out, ran_out_ids_sql, ran_out_sql
from numproxy.router.store.models import Session
from numproxy.router.store.states import CloseReason, SessionStatus
from tests.support.router_inbound import START, add_pool, factory

NOW = START
MOMENTS = (None, NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1))


async def test_sql_and_python_forms_agree(engine: AsyncEngine) -> None:
    pool = await add_pool(engine, ["+15557000001"])
    cases = {}
    async with factory(engine)() as db, db.begin():
        for status, expires_at, idle in itertools.product(SessionStatus, MOMENTS, MOMENTS):
            session_id = str(uuid.uuid4())
            cases[session_id] = (status, expires_at, idle)
            db.add(
                Session(
                    id=session_id,
                    pool_id=pool,
                    status=status,
                    ttl_seconds=0,
                    expires_at=expires_at,
                    idle_expires_at=idle,
                    attributes={},
                    created_at=START,
                    updated_at=START,
                )
            )
    async with factory(engine)() as db:
        over = set(await db.scalars(select(Session.id).where(ran_out_sql(NOW))))
        over_by_index = set(await db.scalars(ran_out_ids_sql(NOW)))
        live = set(await db.scalars(select(Session.id).where(live_sql(NOW))))

    python_over = {sid for sid, case in cases.items() if ran_out(*case, NOW) is not None}
    python_live = {
        sid
        for sid, (status, expires_at, idle) in cases.items()
        if status != SessionStatus.CLOSED and ran_out(status, expires_at, idle, NOW) is None
    }
    assert over == over_by_index == python_over
    assert live == python_live
    assert len(over) + len(live) == 2 * len(MOMENTS) ** 2  # every unclosed case is one or other


def test_the_absolute_expiry_wins_and_closes_as_of_the_moment_it_ran_out() -> None:
    earlier, later = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    both = ran_out(SessionStatus.IN_PROGRESS, later, earlier, NOW)
    assert both is not None and (both.reason, both.at) == (CloseReason.EXPIRED, later)
    idle = ran_out(SessionStatus.OPEN, None, earlier, NOW)
    assert idle is not None and (idle.reason, idle.at) == (CloseReason.IDLE_TTL, earlier)
    assert ran_out(SessionStatus.CLOSED, earlier, earlier, NOW) is None
