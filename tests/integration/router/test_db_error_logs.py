"""Log hygiene: a database error's log line names the statement, never its parameters (the
message text and the numbers in them), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from numproxy.common.logging import JsonFormatter
from numproxy.router.store import rows
from numproxy.router.store.models import Interaction

SECRET_TEXT = "meet me at 42 Hidden Lane, the code is 7731"
SENDER = "+15550107311"


async def test_integrity_error_logs_no_message_text(engine: AsyncEngine) -> None:
    row = rows.inbound(
        now=datetime.now(UTC),
        session_id="00000000-0000-0000-0000-000000000000",  # no such session: a foreign key
        sender=SENDER,
        proxy="+12025550101",
        text=SECRET_TEXT,
    )
    with pytest.raises(IntegrityError) as caught:
        async with engine.begin() as conn:
            await conn.execute(insert(Interaction), [row])
    record = logging.makeLogRecord(
        {"msg": "inbound batch failed", "levelname": "ERROR", "name": "numproxy.router"}
    )
    record.exc_info = (type(caught.value), caught.value, caught.value.__traceback__)
    line = json.loads(JsonFormatter("router").format(record))
    logged = json.dumps(line)
    assert "INSERT INTO interaction" in logged  # the statement is there to debug with
    assert "parameters hidden" in logged
    assert SECRET_TEXT not in logged and "Hidden Lane" not in logged
    assert SENDER not in logged and SENDER[1:] not in logged
