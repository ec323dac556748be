"""interaction.trace_context: the trace an outbound row was queued in

A W3C ``traceparent`` (55 characters), written with an outbound row when tracing is on, so the
send that happens later, in another task or another replica, joins the trace of the message
that caused it; the delivery receipt's span links to it. NULL when tracing is off.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN of a nullable column: no rewrite, no table rebuild on SQLite.
    op.add_column("interaction", sa.Column("trace_context", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interaction") as batch:
        batch.drop_column("trace_context")
