"""The lobby's own tables and the one transaction that queues or pairs someone.

Every decision runs under one lock (an UPDATE of the single ``lobby_lock`` row: a row lock
on PostgreSQL, the write lock on SQLite), so replicas decide one after another. The database
holds the rules as well: a number waits at most once (``lobby_waiting`` primary key) and is
in at most one new pairing (``lobby_chat`` primary key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Integer, MetaData, String, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
        }
    )


class LobbyLock(Base):
    __tablename__ = "lobby_lock"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Waiting(Base):
    """Someone who texted an email and waits for a partner."""

    __tablename__ = "lobby_waiting"
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Chat(Base):
    """Someone the lobby paired; the row lives until the router shows no live chat for them."""

    __tablename__ = "lobby_chat"
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    pair_id: Mapped[str] = mapped_column(String(64))
    paired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HelpReply(Base):
    """When the last help reply went to a number (the rate limit)."""

    __tablename__ = "lobby_help_reply"
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    replied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def create_tables(engine: AsyncEngine) -> None:
    """Create the lobby's tables if missing (``numproxy lobby migrate``; never at start-up)."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        if (await conn.execute(select(LobbyLock.id))).first() is None:
            await conn.execute(insert(LobbyLock).values(id=1))


@dataclass(frozen=True)
class Queued:
    again: bool  # was already waiting


@dataclass(frozen=True)
class Paired:
    partner: str
    pair_id: str


@dataclass(frozen=True)
class InChat:
    pass


JoinOutcome = Queued | Paired | InChat


class LobbyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @staticmethod
    async def _lock(session: AsyncSession, now: datetime) -> None:
        await session.execute(update(LobbyLock).where(LobbyLock.id == 1).values(taken_at=now))

    async def pairing(self, number: str) -> str | None:
        """The id of the last pairing ``number`` is in, if the lobby still holds one."""
        async with self._sessions() as session:
            chat = await session.get(Chat, number)
            return chat.pair_id if chat is not None else None

    async def join(
        self,
        number: str,
        email: str,
        *,
        now: datetime,
        live_chat: bool,
        grace: timedelta,
        ended_pair: str | None = None,
    ) -> JoinOutcome:
        """Queue ``number`` or pair it with a random waiting number (never itself).

        Asked of the router before the lock: ``live_chat``, whether it shows a live chat for
        ``number``; ``ended_pair``, a pairing whose chat it opened and is no longer live. A
        pairing the router has not shown yet counts as live for ``grace`` (the chat is being
        opened), then as never opened.
        """
        async with self._sessions() as session, session.begin():
            await self._lock(session, now)
            chat = await session.get(Chat, number)
            if live_chat:
                return InChat()
            if chat is not None:
                over = chat.pair_id == ended_pair or _aware(chat.paired_at) <= now - grace
                if not over:
                    return InChat()
                await session.delete(chat)
            if await session.get(Waiting, number) is not None:
                return Queued(again=True)
            partner = (
                await session.execute(
                    select(Waiting.number)
                    .where(Waiting.number != number)
                    .where(Waiting.number.not_in(select(Chat.number)))
                    .order_by(func.random())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if partner is None:
                session.add(Waiting(number=number, email=email, joined_at=now))
                return Queued(again=False)
            await session.execute(delete(Waiting).where(Waiting.number == partner))
            pair_id = uuid.uuid4().hex
            session.add_all(
                [
                    Chat(number=number, pair_id=pair_id, paired_at=now),
                    Chat(number=partner, pair_id=pair_id, paired_at=now),
                ]
            )
            return Paired(partner, pair_id)

    async def leave(self, number: str, *, now: datetime) -> bool:
        """Take ``number`` out of the queue; False when it was not waiting."""
        async with self._sessions() as session, session.begin():
            await self._lock(session, now)
            result = await session.execute(delete(Waiting).where(Waiting.number == number))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def help_due(self, number: str, *, now: datetime, interval: timedelta) -> bool:
        """True (and remembered) when ``number`` may get a help reply now."""
        async with self._sessions() as session, session.begin():
            await self._lock(session, now)
            last = await session.get(HelpReply, number)
            if last is not None and _aware(last.replied_at) > now - interval:
                return False
            if last is None:
                session.add(HelpReply(number=number, replied_at=now))
            else:
                last.replied_at = now
            return True

    async def waiting(self) -> list[str]:
        async with self._sessions() as session:
            rows = await session.execute(select(Waiting.number).order_by(Waiting.joined_at))
            return list(rows.scalars())


def _aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
