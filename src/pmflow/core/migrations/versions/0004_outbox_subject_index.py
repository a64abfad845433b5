"""An index on the outbox by subject: "is a newer message about this subject waiting?" (the health
plugin skips a check when a later one will compute from at least as much) stays cheap on a long outbox.

Revision ID: 0004_outbox_subject_index
Revises: 0003_timers
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0004_outbox_subject_index"
down_revision = "0003_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_subject_id_id", "outbox", ["subject_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_subject_id_id", table_name="outbox")
