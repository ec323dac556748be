"""session operations: participant.removed_at, a longer session.closed_reason

participant.removed_at: a participant taken out of a live session (RemoveParticipant). The row
stays (inactive) so the history of who took part is kept; the session's participant list
leaves it out. Closing a session deactivates its participants without setting this, so a
closed session still lists everyone who was in it at the end.

session.closed_reason: 32 characters, so PARTICIPANT_ENDED (17) fits on PostgreSQL. SQLite does
not enforce VARCHAR lengths, and changing the declared type there means rebuilding the session
table, whose drop would cascade to participants and interactions: it keeps VARCHAR(16).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    # A plain ADD COLUMN (not a batch table rebuild): the participant usage triggers stay.
    op.add_column("participant", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    if _postgresql():
        op.alter_column(
            "session",
            "closed_reason",
            type_=sa.String(length=32),
            existing_type=sa.String(length=16),
            existing_nullable=True,
        )


def downgrade() -> None:
    if _postgresql():
        # Fails while a session is closed with a reason longer than 16 characters
        # (PARTICIPANT_ENDED): the old schema cannot hold it.
        op.alter_column(
            "session",
            "closed_reason",
            type_=sa.String(length=16),
            existing_type=sa.String(length=32),
            existing_nullable=True,
        )
    # Native DROP COLUMN (SQLite 3.35+), again without rebuilding the table.
    op.drop_column("participant", "removed_at")
