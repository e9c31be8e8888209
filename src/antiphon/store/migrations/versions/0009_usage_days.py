"""Usage summed per UTC day: the rows behind usage and cost reports over whole days.

The records already stored are summed into their days here; from now on the usage store
adds each new record to its day in the same transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TOKENS = ("uncached_input_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
           "cache_read_tokens", "output_tokens")


def upgrade() -> None:
    op.create_table(
        "usage_days",
        sa.Column("day", sa.BigInteger(), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("api_key_id", sa.String(64), primary_key=True),
        sa.Column("workspace_id", sa.String(64), primary_key=True),
        sa.Column("service_tier", sa.String(16), primary_key=True),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _TOKENS),
    )
    # Integer division truncates in both SQLite and PostgreSQL; minutes are never negative.
    sums = ", ".join(f"SUM({name})" for name in _TOKENS)
    op.execute(sa.text(
        f"INSERT INTO usage_days (day, model, api_key_id, workspace_id, service_tier, {', '.join(_TOKENS)}) "
        f"SELECT minute / 1440, model, COALESCE(api_key_id, ''), COALESCE(workspace_id, ''), service_tier, {sums} "
        "FROM usage_records GROUP BY minute / 1440, model, COALESCE(api_key_id, ''), "
        "COALESCE(workspace_id, ''), service_tier"
    ))


def downgrade() -> None:
    op.drop_table("usage_days")
