"""Rooms: a `room` table, and the room of every barrage and event (`main` for the old ones).

`main` itself is made at start (server/core/rooms.py), with the configured defaults and the
mode an older database stored in its `moderation.mode` setting, so an upgrade keeps it.

Revision ID: 0002_rooms
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_rooms"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room",
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("join_text", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("crossing_seconds", sa.Float(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("announcement", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("slug"),
    )
    for table in ("barrage", "event"):
        op.add_column(table, sa.Column("room", sa.String(), nullable=False, server_default="main"))
        op.create_index(f"ix_{table}_room", table, ["room"])


def downgrade() -> None:
    for table in ("event", "barrage"):
        op.drop_index(f"ix_{table}_room", table)
        op.drop_column(table, "room")
    op.drop_table("room")
