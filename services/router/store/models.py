"""SQLAlchemy 2 models of the router's state.

The core routing rule lives in ``uq_participant_active_number_proxy``: for any real number,
each proxy number belongs to at most one *active* participant row. Closing a session flips its
participants' ``active`` to false in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from numproxy.router.store.states import (
    HookFailureMode,
    MessageStatus,
    NumberState,
    OutOfSessionPolicy,
    SessionStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Partial-index predicates, as literal SQL: SQLite matches a query to a partial index textually.
_NOT_CLOSED = text(f"status != '{SessionStatus.CLOSED}'")
_QUEUED = text(f"status = '{MessageStatus.QUEUED}'")
_SESSIONLESS = text("session_id IS NULL")
_UNREDACTED = text("redacted_at IS NULL")

NUMBER = String(16)  # E.164 with "+": at most 15 digits
UUID_STR = String(36)
# The event cursor: a 64-bit sequence on PostgreSQL, SQLite's rowid there.
SEQUENCE = BigInteger().with_variant(Integer, "sqlite")
MAX_PARTICIPANTS = 10
DEFAULT_MESSAGE_RETENTION = 30 * 24 * 3600


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Pool(Base):
    __tablename__ = "pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    default_ttl_seconds: Mapped[int] = mapped_column(Integer, default=0)
    default_lifetime_seconds: Mapped[int] = mapped_column(Integer, default=0)
    out_of_session_policy: Mapped[str] = mapped_column(String(16), default=OutOfSessionPolicy.DROP)
    out_of_session_reply: Mapped[str] = mapped_column(Text, default="")
    reply_interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    max_participants: Mapped[int] = mapped_column(
        Integer, default=MAX_PARTICIPANTS, server_default=str(MAX_PARTICIPANTS)
    )
    # The app's HookService ("" for none), per call deadline, failure mode, which hooks.
    hook_address: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    hook_deadline_ms: Mapped[int] = mapped_column(Integer, default=2000, server_default="2000")
    hook_failure_mode: Mapped[str] = mapped_column(
        String(16), default=HookFailureMode.FAIL_OPEN, server_default=HookFailureMode.FAIL_OPEN
    )
    hook_resolve: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    hook_intercept: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    end_command: Mapped[str] = mapped_column(String(64), default="", server_default=text("''"))
    open_notice: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    close_notice: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    prefix_display_name: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Outbound SMS the pool may send per UTC day (0: no budget). Counted in pool_send_count.
    daily_send_budget: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # How long message text is kept after its session closed (then redacted).
    message_retention_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_MESSAGE_RETENTION, server_default=str(DEFAULT_MESSAGE_RETENTION)
    )
    created_at: Mapped[datetime]

    numbers: Mapped[list[ProxyNumber]] = relationship(back_populates="pool")


class ProxyNumber(Base):
    __tablename__ = "proxy_number"
    __table_args__ = (Index("ix_proxy_number_pool_state", "pool_id", "state", "country_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    number: Mapped[str] = mapped_column(NUMBER, unique=True)
    country_code: Mapped[str] = mapped_column(String(4))
    # NumberState
    state: Mapped[str] = mapped_column(String(16), default=NumberState.ACTIVE)
    # Active participants placed on this number. Maintained by database triggers on
    # participant (see the migration), so it is exact whichever code closes a session; it makes
    # "least used" one indexed read instead of a count over every active session.
    active_participants: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]

    pool: Mapped[Pool] = relationship(back_populates="numbers")


class Session(Base):
    __tablename__ = "session"
    __table_args__ = (
        Index("ix_session_pool_status", "pool_id", "status"),
        # ListSessions pages in creation order.
        Index("ix_session_created", "created_at", "id"),
        # The sweeper's scan: open sessions by when they run out.
        Index(
            "ix_session_open_idle_expires",
            "idle_expires_at",
            sqlite_where=_NOT_CLOSED,
            postgresql_where=_NOT_CLOSED,
        ),
        Index(
            "ix_session_open_expires",
            "expires_at",
            sqlite_where=_NOT_CLOSED,
            postgresql_where=_NOT_CLOSED,
        ),
        # Retention's scan: closed sessions not redacted yet, by when they closed.
        Index(
            "ix_session_unredacted_closed_at",
            "closed_at",
            sqlite_where=_UNREDACTED,
            postgresql_where=_UNREDACTED,
        ),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    # SessionStatus
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.OPEN)
    # CloseReason once closed. SQLite does not enforce lengths and keeps the type it was
    # created with (widening it would rebuild the table: migration 0003).
    closed_reason: Mapped[str | None] = mapped_column(String(32).with_variant(String(16), "sqlite"))
    ttl_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # Absolute expiry (None: never).
    expires_at: Mapped[datetime | None]
    # Last activity + ttl (None when ttl is 0); kept up to date so expiry is one comparison.
    idle_expires_at: Mapped[datetime | None]
    last_interaction_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    # Hash of the create request's payload, to tell a retry from a conflicting reuse of the id.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Sent to every participant on close ("" : the pool's close_notice).
    close_notice: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # The session's message rate window (inbound/session_rate.py): when the current one
    # started and how many messages it has seen.
    rate_window_started_at: Mapped[datetime | None]
    rate_window_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When retention redacted its messages' text (store/retention.py); None until then.
    redacted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    participants: Mapped[list[Participant]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        order_by="Participant.position",
        lazy="selectin",
    )


class Participant(Base):
    __tablename__ = "participant"
    __table_args__ = (
        # The core rule, enforced by the database. SQLite matches a query to a partial index
        # textually, and SQLAlchemy renders `Participant.active` there as `active = 1`.
        Index(
            "uq_participant_active_number_proxy",
            "number",
            "proxy_number_id",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
        Index("ix_participant_proxy_active", "proxy_number_id", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(NUMBER, index=True)
    proxy_number_id: Mapped[int] = mapped_column(ForeignKey("proxy_number.id"))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when RemoveParticipant took it out of its session (it is inactive from then on); a
    # close deactivates participants without setting it.
    removed_at: Mapped[datetime | None]

    session: Mapped[Session] = relationship(back_populates="participants")
    proxy_number: Mapped[ProxyNumber] = relationship(lazy="joined")


class Interaction(Base):
    """One message: an inbound SMS, or an outbound SMS (which is also an outbox row).

    Outbound rows without a session are system messages (keyword confirmations, out-of-session
    replies). Their id is the idempotency key sent to the sender and to Vonage as client-ref.
    """

    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_session_created", "session_id", "created_at"),
        # The dispatcher's scan: queued outbound rows by when they are due.
        Index(
            "ix_interaction_due",
            "next_attempt_at",
            sqlite_where=_QUEUED,
            postgresql_where=_QUEUED,
        ),
        # Retention's scan of replies recorded without a session.
        Index(
            "ix_interaction_sessionless_created",
            "created_at",
            sqlite_where=_SESSIONLESS,
            postgresql_where=_SESSIONLESS,
        ),
        # EraseNumber's lookups.
        Index("ix_interaction_sender_number", "sender_number"),
        Index("ix_interaction_recipient_number", "recipient_number"),
    )

    id: Mapped[str] = mapped_column(UUID_STR, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("session.id", ondelete="CASCADE"))
    # Direction
    direction: Mapped[str] = mapped_column(String(8))
    # Real number of whoever wrote the text ("" for numproxy's own messages).
    sender_number: Mapped[str] = mapped_column(NUMBER, default="")
    # Real number it is for (outbound).
    recipient_number: Mapped[str] = mapped_column(NUMBER, default="")
    # Inbound: the proxy number texted. Outbound: the proxy number it is sent from.
    proxy_number: Mapped[str] = mapped_column(NUMBER)
    text: Mapped[str] = mapped_column(Text)
    # MessageStatus: inbound RECEIVED; outbound QUEUED -> SENT -> DELIVERED | FAILED.
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    # Notes on how it was received (e.g. "parts missing: 2 of 3").
    note: Mapped[str] = mapped_column(Text, default="")
    provider_message_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Delivery receipt status per provider message id (one per SMS part).
    part_statuses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    # The inbound interaction that caused this outbound one.
    cause_id: Mapped[str | None] = mapped_column(UUID_STR)
    # When retention (or EraseNumber) removed the text; the row stays for counts.
    redacted_at: Mapped[datetime | None]
    # Outbound, when tracing is on: the W3C traceparent it was queued in, which its send joins.
    trace_context: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InboundMessage(Base):
    """Provider message ids already accepted: the dedupe of webhook retries."""

    __tablename__ = "inbound_message"

    api_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class MessagePart(Base):
    """A part of a multipart inbound SMS, held until all parts arrived (or a timeout)."""

    __tablename__ = "message_part"
    __table_args__ = (Index("ix_message_part_received", "received_at"),)

    sender_number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    proxy_number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    concat_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    api_key: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime]
    # Set when the message was routed; the rows are kept (until the dedupe retention) so a
    # part delivered again under a new message id is absorbed by the primary key.
    completed_at: Mapped[datetime | None]


class OptOut(Base):
    """A real number that sent STOP (or similar) to a proxy number."""

    __tablename__ = "opt_out"

    number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    proxy_number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    created_at: Mapped[datetime]


class ReplyLog(Base):
    """The automatic-reply budget of one (recipient, proxy number): when numproxy last
    replied there by itself subject to an interval (keyword answers, out-of-session replies;
    None when only opt-out confirmations went there), and how many replies of every kind the
    current budget window has seen (inbound/reply_budget.py)."""

    __tablename__ = "reply_log"
    __table_args__ = (Index("ix_reply_log_window_started", "window_started_at"),)

    # The number replied to (the sender of the message answered).
    sender_number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    proxy_number: Mapped[str] = mapped_column(NUMBER, primary_key=True)
    last_reply_at: Mapped[datetime | None]
    window_started_at: Mapped[datetime]
    window_replies: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class PoolSendCount(Base):
    """Outbound SMS charged to a pool's daily send budget, per UTC day."""

    __tablename__ = "pool_send_count"

    pool_id: Mapped[int] = mapped_column(
        ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    sent: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    """One state change, written in the transaction that made it. ``seq`` is the stream's
    cursor: allocated in commit order (store/events.py), so a reader that saw seq N has seen
    every event before it."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_session_seq", "session_id", "seq"),
        Index("ix_event_pool_seq", "pool_id", "seq"),
        Index("ix_event_created", "created_at"),
    )

    seq: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    # EventType
    type: Mapped[str] = mapped_column(String(32))
    pool_id: Mapped[int | None] = mapped_column(Integer)
    # Not foreign keys: the events of a deleted session stay (SESSION_DELETED among them).
    session_id: Mapped[str | None] = mapped_column(UUID_STR)
    interaction_id: Mapped[str | None] = mapped_column(UUID_STR)
    participant: Mapped[str] = mapped_column(NUMBER, default="")
    proxy_number: Mapped[str] = mapped_column(NUMBER, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    # Direction of the interaction concerned ("" when none).
    direction: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime]


class EventHorizon(Base):
    """One row: the highest cursor retention has pruned through (0 before any pruning). A
    watcher resuming from an older cursor would miss events, so it is told so."""

    __tablename__ = "event_horizon"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pruned_through: Mapped[int] = mapped_column(SEQUENCE, default=0)


class HookDecision(Base):
    """What an app's hook decided for one message, so a retried webhook gets the same outcome."""

    __tablename__ = "hook_decision"

    # (api_key, message id) of the SMS, or the multipart group's key for a timed-out group.
    message_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # HookKind
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class AuditEntry(Base):
    """One audited API call (router/audit/): who, which RPC, what it concerned, how it ended.
    Self-contained (names, not keys), so entries outlive what they name."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_created", "created_at"),
        Index("ix_audit_entry_caller_id", "caller", "id"),
        Index("ix_audit_entry_session_id", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    caller: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(128))
    # "" when the call concerned no session / pool (or it is not known).
    session_id: Mapped[str] = mapped_column(String(36))
    pool: Mapped[str] = mapped_column(String(63))
    # The gRPC status code name, and the ErrorInfo reason of a failure ("" on success).
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
