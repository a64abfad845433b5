"""The delivery log of the outbox worker: one row per (outbox row, consumer).

Revision ID: 0002_deliveries
Revises: 0001_core
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_deliveries"
down_revision = "0001_core"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", Id, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("delivered_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_deliveries_outbox_id_outbox"),
        sa.UniqueConstraint("outbox_id", "consumer", name="uq_deliveries_outbox_consumer"),
    )
    op.create_index("ix_deliveries_status_next_attempt_at", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_event_id", table_name="deliveries")
    op.drop_index("ix_deliveries_status_next_attempt_at", table_name="deliveries")
    op.drop_table("deliveries")
