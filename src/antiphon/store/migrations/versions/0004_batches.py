"""Message Batches and their requests (results are JSONL blobs once a batch ends).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("api_key_id", sa.String(64), nullable=True),
        sa.Column("processing_status", sa.String(16), nullable=False),
        sa.Column("request_total", sa.BigInteger(), nullable=False),
        sa.Column("request_counts", sa.JSON(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("cancel_initiated_at", _TIME, nullable=True),
        sa.Column("finalizing_until", _TIME, nullable=True),
    )
    op.create_index("ix_batches_workspace_created", "message_batches", ["workspace_id", "created_at"])
    op.create_index("ix_batches_status", "message_batches", ["processing_status"])
    op.create_table(
        "message_batch_requests",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True, autoincrement=True,
        ),
        sa.Column(
            "batch_id", sa.String(64),
            sa.ForeignKey("message_batches.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("custom_id", sa.String(64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.UniqueConstraint("batch_id", "custom_id", name="uq_batch_requests_custom_id"),
    )
    op.create_index("ix_batch_requests_state_seq", "message_batch_requests", ["state", "seq"])
    op.create_index("ix_batch_requests_batch_state", "message_batch_requests", ["batch_id", "state"])
    op.create_index("ix_batch_requests_batch_seq", "message_batch_requests", ["batch_id", "seq"])


def downgrade() -> None:
    op.drop_table("message_batch_requests")
    op.drop_table("message_batches")
