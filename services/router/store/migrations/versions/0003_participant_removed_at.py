"""participant.removed_at: a participant taken out of a live session (RemoveParticipant)

A removed participant's row stays (inactive) so the history of who took part is kept; the
session's participant list leaves it out. Closing a session deactivates its participants
without setting this, so a closed session still lists everyone who was in it at the end.

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


def upgrade() -> None:
    # A plain ADD COLUMN (not a batch table rebuild): the participant usage triggers stay.
    op.add_column("participant", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+), again without rebuilding the table.
    op.drop_column("participant", "removed_at")
