"""State timers: a timeout armed on entering a state, fired by the worker when due.

Revision ID: 0003_timers
Revises: 0002_deliveries
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_timers"
down_revision = "0002_deliveries"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("subject_id", Id, nullable=False),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("subject_version", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("fired_at", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name="fk_timers_subject_id_subjects"),
    )
    op.create_index("ix_timers_status_due_at", "timers", ["status", "due_at"])
    op.create_index("ix_timers_subject_id_status", "timers", ["subject_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_timers_subject_id_status", table_name="timers")
    op.drop_index("ix_timers_status_due_at", table_name="timers")
    op.drop_table("timers")
