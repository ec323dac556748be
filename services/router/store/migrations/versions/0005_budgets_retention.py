"""abuse budgets and retention: reply budget windows, session rate windows, pool send budgets
and message retention, redaction marks, EraseNumber's lookups

reply_log: the automatic-reply budget of a (number, proxy number) counts the replies of a
window (window_started_at, window_replies); existing rows start their window at their last
reply. last_reply_at becomes nullable (a pair only an opt-out confirmation went to has none).
pool.reply_interval_seconds is raised to the new minimum of 60 s.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SESSIONLESS = sa.text("session_id IS NULL")
_UNREDACTED = sa.text("redacted_at IS NULL")
_THIRTY_DAYS = str(30 * 24 * 3600)


def upgrade() -> None:
    # Plain ADD COLUMNs on pool, session and interaction: no table rebuild (the participant
    # usage triggers and the foreign keys stay as they are).
    op.add_column(
        "pool", sa.Column("daily_send_budget", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "pool",
        sa.Column(
            "message_retention_seconds",
            sa.Integer(),
            server_default=_THIRTY_DAYS,
            nullable=False,
        ),
    )
    op.execute("UPDATE pool SET reply_interval_seconds = 60 WHERE reply_interval_seconds < 60")
    op.add_column(
        "session", sa.Column("rate_window_started_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "session",
        sa.Column("rate_window_messages", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("session", sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_session_unredacted_closed_at",
        "session",
        ["closed_at"],
        unique=False,
        sqlite_where=_UNREDACTED,
        postgresql_where=_UNREDACTED,
    )
    op.add_column(
        "interaction", sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_interaction_sessionless_created",
        "interaction",
        ["created_at"],
        unique=False,
        sqlite_where=_SESSIONLESS,
        postgresql_where=_SESSIONLESS,
    )
    op.create_index("ix_interaction_sender_number", "interaction", ["sender_number"])
    op.create_index("ix_interaction_recipient_number", "interaction", ["recipient_number"])

    op.add_column(
        "reply_log", sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "reply_log",
        sa.Column("window_replies", sa.Integer(), server_default="1", nullable=False),
    )
    op.execute("UPDATE reply_log SET window_started_at = last_reply_at")
    # SQLite cannot make a column NOT NULL in place: batch mode rebuilds this small table.
    with op.batch_alter_table("reply_log") as batch_op:
        batch_op.alter_column(
            "window_started_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "last_reply_at", existing_type=sa.DateTime(timezone=True), nullable=True
        )
        batch_op.create_index("ix_reply_log_window_started", ["window_started_at"], unique=False)

    op.create_table(
        "pool_send_count",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["pool.id"],
            name=op.f("fk_pool_send_count_pool_id_pool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pool_id", "day", name=op.f("pk_pool_send_count")),
    )


def downgrade() -> None:
    op.drop_table("pool_send_count")
    op.execute("UPDATE reply_log SET last_reply_at = window_started_at WHERE last_reply_at IS NULL")
    with op.batch_alter_table("reply_log") as batch_op:
        batch_op.drop_index("ix_reply_log_window_started")
        batch_op.alter_column(
            "last_reply_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_column("window_replies")
        batch_op.drop_column("window_started_at")
    op.drop_index("ix_interaction_recipient_number", table_name="interaction")
    op.drop_index("ix_interaction_sender_number", table_name="interaction")
    op.drop_index(
        "ix_interaction_sessionless_created",
        table_name="interaction",
        sqlite_where=_SESSIONLESS,
        postgresql_where=_SESSIONLESS,
    )
    # Native DROP COLUMN (SQLite 3.35+), without rebuilding the tables.
    op.drop_column("interaction", "redacted_at")
    op.drop_index(
        "ix_session_unredacted_closed_at",
        table_name="session",
        sqlite_where=_UNREDACTED,
        postgresql_where=_UNREDACTED,
    )
    op.drop_column("session", "redacted_at")
    op.drop_column("session", "rate_window_messages")
    op.drop_column("session", "rate_window_started_at")
    op.drop_column("pool", "message_retention_seconds")
    op.drop_column("pool", "daily_send_budget")
