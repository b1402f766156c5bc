"""Crowd-scale moderation: filter rules, mutes, and on each barrage why it was refused
(`reason`), what the filter flagged (`flags`, a JSON list), its normalised text (`norm`,
which rules, "already sent" and ×N merging compare) and the ×N link (`merged_into`,
`merged_count`). Barrages stored before it keep an empty `norm`: they never merge.

Revision ID: 0004_moderation
Revises: 0003_retract
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_moderation"
down_revision = "0003_retract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("barrage", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("barrage", sa.Column("flags", sa.Text(), nullable=False, server_default="[]"))
    op.add_column("barrage", sa.Column("norm", sa.Text(), nullable=False, server_default=""))
    op.add_column("barrage", sa.Column("merged_into", sa.Integer(), nullable=True))
    op.add_column("barrage", sa.Column("merged_count", sa.Integer(), nullable=False, server_default="1"))
    op.create_index("ix_barrage_merged_into", "barrage", ["merged_into"])
    op.create_index("ix_barrage_room_status_norm", "barrage", ["room", "status", "norm"])
    op.create_table(
        "filter_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "mute",
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("muted_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender"),
    )


def downgrade() -> None:
    op.drop_table("mute")
    op.drop_table("filter_rule")
    op.drop_index("ix_barrage_room_status_norm", "barrage")
    op.drop_index("ix_barrage_merged_into", "barrage")
    for column in ("merged_count", "merged_into", "norm", "flags", "reason"):
        op.drop_column("barrage", column)
