"""Risk scoring and surveys: risk review dates, project health history, surveys and invitations.

Revision ID: 0006_health_surveys
Revises: 0005_notifications
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_health_surveys"
down_revision = "0005_notifications"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("risks", sa.Column("review_due_on", sa.Date(), nullable=True))
    op.add_column("feedback", sa.Column("survey_id", Id, nullable=True))
    op.create_table(
        "health_scores",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("signals", Json, nullable=False),
        sa.Column("warning", sa.Boolean(), nullable=False),
        sa.Column("computed_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_health_scores_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_scores")),
    )
    op.create_index("ix_health_scores_project_id_id", "health_scores", ["project_id", "id"], unique=False)
    op.create_table(
        "surveys",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("questions", Json, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("subject_id", Id, nullable=True),
        sa.Column("sent_at", Time, nullable=False),
        sa.Column("closes_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_surveys_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("trigger", "event_id", name="uq_surveys_trigger_event_id"),
    )
    op.create_index("ix_surveys_project_id_sent_at", "surveys", ["project_id", "sent_at"], unique=False)
    op.create_table(
        "survey_invitations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("survey_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.Column("sent_at", Time, nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", Time, nullable=True),
        sa.Column("answered_at", Time, nullable=True),
        sa.Column("answered_via", sa.String(length=20), nullable=True),
        sa.Column("answers", Json, nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_invitations_survey_id_surveys")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_survey_invitations_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_survey_invitations_token_hash")),
        sa.UniqueConstraint("survey_id", "contact_id", name="uq_survey_invitations_survey_id_contact_id"),
    )
    op.create_index("ix_survey_invitations_contact_id", "survey_invitations", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_survey_invitations_contact_id", table_name="survey_invitations")
    op.drop_table("survey_invitations")
    op.drop_index("ix_surveys_project_id_sent_at", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_health_scores_project_id_id", table_name="health_scores")
    op.drop_table("health_scores")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("survey_id")
    with op.batch_alter_table("risks") as batch:
        batch.drop_column("review_due_on")
