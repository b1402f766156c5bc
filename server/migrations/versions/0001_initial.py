"""The schema as barrage 0.1.0's create_schema made it, `sender` included.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "barrage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("author_ref", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("color", sa.String(), nullable=False),
        sa.Column("size", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("dedupe_key", sa.String(), nullable=True),
        sa.Column("reply_to", sa.String(), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("sender", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        # Unnamed, as create_all made it: PostgreSQL names it barrage_dedupe_key_key.
        sa.UniqueConstraint("dedupe_key"),
    )
    for column in ("source", "status", "notified", "sender"):
        op.create_index(f"ix_barrage_{column}", "barrage", [column])
    op.create_table(
        "card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("barrage_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("chat_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_card_barrage_id", "card", ["barrage_id"])
    op.create_index("ix_card_closed", "card", ["closed"])
    op.create_table(
        "setting",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("barrage_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # SSE ids are event ids: SQLite must never hand out a deleted row's id again.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_kind", "event", ["kind"])
    op.create_index("ix_event_barrage_id", "event", ["barrage_id"])


def downgrade() -> None:
    for table in ("event", "setting", "card", "barrage"):
        op.drop_table(table)
