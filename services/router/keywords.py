"""Keywords (STOP, START, HELP...) and opt-outs.

An opt-out is per (real number, proxy number), like the provider's own blocking: STOP to one
proxy number leaves the sender's conversations on other proxy numbers alone.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from numproxy.router.db.concurrency import insert_ignore
from numproxy.router.db.models import OptOut
from numproxy.router.settings import RouterSettings

SqlStr = ColumnElement[str] | QueryableAttribute[str] | str


class Keyword(enum.Enum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


def classify(text: str, settings: RouterSettings) -> Keyword | None:
    """The keyword ``text`` is (the whole trimmed message, any case), or None."""
    word = text.strip().casefold()
    if not word:
        return None
    for keyword, words in (
        (Keyword.STOP, settings.stop_keywords),
        (Keyword.START, settings.start_keywords),
        (Keyword.HELP, settings.help_keywords),
    ):
        if any(word == candidate.strip().casefold() for candidate in words):
            return keyword
    return None


def reply_text(keyword: Keyword, settings: RouterSettings) -> str:
    return {
        Keyword.STOP: settings.stop_reply,
        Keyword.START: settings.start_reply,
        Keyword.HELP: settings.help_reply,
    }[keyword]


def opted_out_condition(number: SqlStr, proxy_number: SqlStr) -> ColumnElement[bool]:
    """SQL: ``number`` opted out of ``proxy_number``, for a WHERE clause (columns or values)."""
    return exists().where(OptOut.number == number, OptOut.proxy_number == proxy_number)


async def is_opted_out(db: AsyncSession, number: str, proxy_number: str) -> bool:
    """True when ``number`` sent a stop keyword to ``proxy_number`` and not started again."""
    found = await db.scalar(
        select(OptOut.number).where(OptOut.number == number, OptOut.proxy_number == proxy_number)
    )
    return found is not None


async def opt_out(db: AsyncSession, number: str, proxy_number: str, now: datetime) -> bool:
    """Record the opt-out; False when it already existed."""
    return await insert_ignore(
        db,
        OptOut.__table__,  # type: ignore[arg-type]
        {"number": number, "proxy_number": proxy_number, "created_at": now},
    )


async def opt_in(db: AsyncSession, number: str, proxy_number: str) -> bool:
    """Remove the opt-out; False when there was none."""
    result = await db.execute(
        delete(OptOut).where(OptOut.number == number, OptOut.proxy_number == proxy_number)
    )
    return bool(getattr(result, "rowcount", 0))
