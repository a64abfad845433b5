"""Domain tables: customers, people, projects and everything a project holds.

Revision ID: 0001_domain
Revises: 0001_core
Create Date: 2026-11-26 02:10:35.447087
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_domain"
down_revision = "0001_core"
branch_labels = ("domain",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("name", name=op.f("uq_customers_name")),
    )
    op.create_table(
        "field_changes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", Id, nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("old_value", Json, nullable=True),
        sa.Column("new_value", Json, nullable=True),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("changed_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_changes")),
    )
    with op.batch_alter_table("field_changes", schema=None) as batch_op:
        batch_op.create_index("ix_field_changes_entity_entity_id", ["entity", "entity_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Text(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("milestones", Json, nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_projects_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_projects_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("ix_projects_customer_id", ["customer_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_users_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=200), nullable=True),
        sa.Column("user_id", Id, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contacts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_contacts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("customer_id", "email", name="uq_contacts_customer_id_email"),
        sa.UniqueConstraint("user_id", name=op.f("uq_contacts_user_id")),
    )
    op.create_table(
        "iterations",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_iterations_id_subjects")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_iterations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iterations")),
        sa.UniqueConstraint("project_id", "number", name="uq_iterations_project_id_number"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_memberships_project_id_projects")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("project_id", "user_id", name="uq_memberships_project_id_user_id"),
    )
    op.create_table(
        "risks",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=True),
        sa.Column("impact", sa.Integer(), nullable=True),
        sa.Column("owner_user_id", Id, nullable=True),
        sa.Column("mitigation_plan", sa.Text(), nullable=True),
        sa.Column("contingency_plan", sa.Text(), nullable=True),
        sa.Column("early_warning_indicator", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_risks_id_subjects")),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"], name=op.f("fk_risks_owner_user_id_users")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_risks_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risks")),
    )
    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.create_index("ix_risks_project_id", ["project_id"], unique=False)

    op.create_table(
        "change_requests",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by_contact_id", Id, nullable=True),
        sa.Column("requested_by_user_id", Id, nullable=True),
        sa.Column("impact_schedule_days", sa.Integer(), nullable=True),
        sa.Column("impact_cost", sa.Float(), nullable=True),
        sa.Column("impact_risk", sa.Text(), nullable=True),
        sa.Column("affected_requirement_ids", Json, nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_rationale", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", Time, nullable=True),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_change_requests_id_subjects")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_change_requests_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_contact_id"],
            ["contacts.id"],
            name=op.f("fk_change_requests_requested_by_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"], ["users.id"], name=op.f("fk_change_requests_requested_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_requests")),
    )
    with op.batch_alter_table("change_requests", schema=None) as batch_op:
        batch_op.create_index("ix_change_requests_project_id", ["project_id"], unique=False)

    op.create_table(
        "deliverables",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("acceptance_criteria", Json, nullable=False),
        sa.Column("qa_checklist", Json, nullable=False),
        sa.Column("iteration_id", Id, nullable=True),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_deliverables_id_subjects")),
        sa.ForeignKeyConstraint(
            ["iteration_id"], ["iterations.id"], name=op.f("fk_deliverables_iteration_id_iterations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_deliverables_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliverables")),
    )
    with op.batch_alter_table("deliverables", schema=None) as batch_op:
        batch_op.create_index("ix_deliverables_project_id", ["project_id"], unique=False)

    op.create_table(
        "meetings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("iteration_id", Id, nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("decisions", Json, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["iteration_id"], ["iterations.id"], name=op.f("fk_meetings_iteration_id_iterations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_meetings_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index("ix_meetings_project_id_kind", ["project_id", "kind"], unique=False)

    op.create_table(
        "requirements",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("acceptance_criteria", Json, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("confirmed_by_contact_id", Id, nullable=True),
        sa.Column("confirmed_at", Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmed_by_contact_id"],
            ["contacts.id"],
            name=op.f("fk_requirements_confirmed_by_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(["id"], ["subjects.id"], name=op.f("fk_requirements_id_subjects")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_requirements_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirements")),
    )
    with op.batch_alter_table("requirements", schema=None) as batch_op:
        batch_op.create_index("ix_requirements_project_id", ["project_id"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("iteration_id", Id, nullable=True),
        sa.Column("deliverable_id", Id, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_feedback_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["deliverable_id"], ["deliverables.id"], name=op.f("fk_feedback_deliverable_id_deliverables")
        ),
        sa.ForeignKeyConstraint(
            ["iteration_id"], ["iterations.id"], name=op.f("fk_feedback_iteration_id_iterations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_feedback_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_project_id", ["project_id"], unique=False)

    op.create_table(
        "meeting_attendees",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("meeting_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=True),
        sa.Column("contact_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_meeting_attendees_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_meeting_attendees_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_meeting_attendees_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_attendees")),
    )
    with op.batch_alter_table("meeting_attendees", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_attendees_meeting_id", ["meeting_id"], unique=False)

    op.create_table(
        "work_items",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("iteration_id", Id, nullable=True),
        sa.Column("requirement_id", Id, nullable=True),
        sa.Column("meeting_id", Id, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("assignee_user_id", Id, nullable=True),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_user_id"], ["users.id"], name=op.f("fk_work_items_assignee_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["iteration_id"], ["iterations.id"], name=op.f("fk_work_items_iteration_id_iterations")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_work_items_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_work_items_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"], ["requirements.id"], name=op.f("fk_work_items_requirement_id_requirements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index("ix_work_items_iteration_id", ["iteration_id"], unique=False)
        batch_op.create_index("ix_work_items_project_id", ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("ix_work_items_project_id")
        batch_op.drop_index("ix_work_items_iteration_id")

    op.drop_table("work_items")
    with op.batch_alter_table("meeting_attendees", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_attendees_meeting_id")

    op.drop_table("meeting_attendees")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_project_id")

    op.drop_table("feedback")
    with op.batch_alter_table("requirements", schema=None) as batch_op:
        batch_op.drop_index("ix_requirements_project_id")

    op.drop_table("requirements")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_project_id_kind")

    op.drop_table("meetings")
    with op.batch_alter_table("deliverables", schema=None) as batch_op:
        batch_op.drop_index("ix_deliverables_project_id")

    op.drop_table("deliverables")
    with op.batch_alter_table("change_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_change_requests_project_id")

    op.drop_table("change_requests")
    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.drop_index("ix_risks_project_id")

    op.drop_table("risks")
    op.drop_table("memberships")
    op.drop_table("iterations")
    op.drop_table("contacts")
    op.drop_table("users")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_customer_id")

    op.drop_table("projects")
    with op.batch_alter_table("field_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_field_changes_entity_entity_id")

    op.drop_table("field_changes")
    op.drop_table("customers")
