"""Workspace members: which users may work in which workspaces, with what workspace role;
and usage records indexed by key, for each key's last use.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("workspace_role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workspace_members_user", "workspace_members", ["user_id"])
    op.create_index("ix_usage_key_minute", "usage_records", ["api_key_id", "minute"])


def downgrade() -> None:
    op.drop_index("ix_usage_key_minute", "usage_records")
    op.drop_table("workspace_members")
