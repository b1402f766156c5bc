"""Retract: who pulled an approved barrage off the screens, and when (status `retracted`).

Revision ID: 0003_retract
Revises: 0002_rooms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_retract"
down_revision = "0002_rooms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("barrage", sa.Column("retracted_by", sa.String(), nullable=True))
    op.add_column("barrage", sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("barrage", "retracted_at")
    op.drop_column("barrage", "retracted_by")
