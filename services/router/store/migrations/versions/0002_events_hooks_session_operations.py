"""events, hooks, session operations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 23:23:27.863489
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("interaction_id", sa.String(length=36), nullable=True),
        sa.Column("participant", sa.String(length=16), nullable=False),
        sa.Column("proxy_number", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_created", ["created_at"], unique=False)
        batch_op.create_index("ix_event_pool_seq", ["pool_id", "seq"], unique=False)
        batch_op.create_index("ix_event_session_seq", ["session_id", "seq"], unique=False)

    horizon = op.create_table(
        "event_horizon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "pruned_through", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_horizon")),
    )
    op.bulk_insert(horizon, [{"id": 1, "pruned_through": 0}])
    op.create_table(
        "hook_decision",
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_key", "kind", name=op.f("pk_hook_decision")),
    )
    with op.batch_alter_table("hook_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hook_decision_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("pool", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("max_participants", sa.Integer(), server_default="10", nullable=False)
        )
        batch_op.add_column(
            sa.Column("hook_address", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("hook_deadline_ms", sa.Integer(), server_default="2000", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "hook_failure_mode",
                sa.String(length=16),
                server_default="FAIL_OPEN",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "hook_resolve", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "hook_intercept", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("end_command", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("open_notice", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("close_notice", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column(
                "prefix_display_name",
                sa.Boolean(),
                server_default=sa.text("(false)"),
                nullable=False,
            )
        )

    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_notice", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.drop_column("close_notice")

    with op.batch_alter_table("pool", schema=None) as batch_op:
        batch_op.drop_column("prefix_display_name")
        batch_op.drop_column("close_notice")
        batch_op.drop_column("open_notice")
        batch_op.drop_column("end_command")
        batch_op.drop_column("hook_intercept")
        batch_op.drop_column("hook_resolve")
        batch_op.drop_column("hook_failure_mode")
        batch_op.drop_column("hook_deadline_ms")
        batch_op.drop_column("hook_address")
        batch_op.drop_column("max_participants")

    with op.batch_alter_table("hook_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hook_decision_created_at"))

    op.drop_table("hook_decision")
    op.drop_table("event_horizon")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_session_seq")
        batch_op.drop_index("ix_event_pool_seq")
        batch_op.drop_index("ix_event_created")

    op.drop_table("event")
