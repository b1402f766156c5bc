"""Marks in the database: slow mode and "already sent" shared by every node on a PostgreSQL
bus without Redis (server/store/marks.py). UNLOGGED on PostgreSQL.

Revision ID: 0005_marks
Revises: 0004_moderation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_marks"
down_revision = "0004_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mark",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_mark_expires_at", "mark", ["expires_at"])
    if op.get_bind().dialect.name == "postgresql":
        # Marks last seconds: no WAL for them (a commit need not wait for a flush), and a
        # crash that empties the table only lets a sender repeat themselves once.
        op.execute("ALTER TABLE mark SET UNLOGGED")


def downgrade() -> None:
    op.drop_index("ix_mark_expires_at", "mark")
    op.drop_table("mark")
