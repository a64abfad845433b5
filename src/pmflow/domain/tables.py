"""Storage of the customer-project model.

Governed entities (project, requirement, change request, iteration, deliverable, risk) share their
primary key with the core ``subjects`` row that holds their lifecycle state and version; their
editable fields live here. The others carry a ``version`` column of their own. Every table is
created by the domain's Alembic branch (``migrations/versions``); a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from pmflow.core.tables import Id, Json, UtcDateTime, metadata


def _subject_id() -> Column[int]:
    return Column("id", Id, ForeignKey("subjects.id"), primary_key=True, autoincrement=False)


def _stamps() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    ]


customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    *_stamps(),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    # organisation role: admin | manager | member | customer (customer users belong to a customer)
    Column("role", String(20), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    *_stamps(),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(200), nullable=True),  # their role at the client, free text
    Column("user_id", Id, ForeignKey("users.id"), nullable=True, unique=True),
    Column("version", Integer, nullable=False),
    *_stamps(),
    UniqueConstraint("customer_id", "email", name="uq_contacts_customer_id_email"),
)

projects = Table(
    "projects",
    metadata,
    _subject_id(),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("goal", Text, nullable=True),
    Column("scope", Text, nullable=True),
    Column("milestones", Json, nullable=False),  # [{"name": str, "due": "YYYY-MM-DD"}]
    Column("start_date", Date, nullable=True),
    Column("target_date", Date, nullable=True),
    Index("ix_projects_customer_id", "customer_id"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    # manager | analyst | developer | designer | tester | customer_representative
    Column("role", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    *_stamps(),
    UniqueConstraint("project_id", "user_id", name="uq_memberships_project_id_user_id"),
)

requirements = Table(
    "requirements",
    metadata,
    _subject_id(),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=True),
    Column("priority", String(20), nullable=False),  # critical | high | medium | low
    Column("acceptance_criteria", Json, nullable=False),  # [str]
    Column("source", String(20), nullable=False),  # interview | survey | workshop | change_request | other
    Column("confirmed_by_contact_id", Id, ForeignKey("contacts.id"), nullable=True),
    Column("confirmed_at", UtcDateTime, nullable=True),
    Index("ix_requirements_project_id", "project_id"),
)

change_requests = Table(
    "change_requests",
    metadata,
    _subject_id(),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),  # what changes
    Column("reason", Text, nullable=False),  # why
    Column("requested_by_contact_id", Id, ForeignKey("contacts.id"), nullable=True),
    Column("requested_by_user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("impact_schedule_days", Integer, nullable=True),
    Column("impact_cost", Float, nullable=True),
    Column("impact_risk", Text, nullable=True),
    Column("affected_requirement_ids", Json, nullable=False),  # [int]
    Column("decision", String(20), nullable=True),  # approved | rejected | deferred
    Column("decision_rationale", Text, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Index("ix_change_requests_project_id", "project_id"),
)

iterations = Table(
    "iterations",
    metadata,
    _subject_id(),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("goal", Text, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    UniqueConstraint("project_id", "number", name="uq_iterations_project_id_number"),
)

deliverables = Table(
    "deliverables",
    metadata,
    _subject_id(),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("kind", String(20), nullable=False),  # document | code | product | service
    Column("acceptance_criteria", Json, nullable=False),  # [str] from the contract
    Column("qa_checklist", Json, nullable=False),  # [{"item": str, "done": bool}]
    Column("iteration_id", Id, ForeignKey("iterations.id"), nullable=True),
    Index("ix_deliverables_project_id", "project_id"),
)

risks = Table(
    "risks",
    metadata,
    _subject_id(),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("category", String(40), nullable=False),
    Column("probability", Integer, nullable=True),  # 1..5
    Column("impact", Integer, nullable=True),  # 1..5
    Column("owner_user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("mitigation_plan", Text, nullable=True),
    Column("contingency_plan", Text, nullable=True),
    Column("early_warning_indicator", Text, nullable=True),
    Column("review_due_on", Date, nullable=True),  # the next review of the risk (its owner's)
    Index("ix_risks_project_id", "project_id"),
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("iteration_id", Id, ForeignKey("iterations.id"), nullable=True),
    # kickoff | daily_standup | iteration_review | retrospective | status_report | project_review
    Column("kind", String(30), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("notes", Text, nullable=True),
    Column("decisions", Json, nullable=False),  # [str]
    Column("version", Integer, nullable=False),
    *_stamps(),
    Index("ix_meetings_project_id_kind", "project_id", "kind"),
)

meeting_attendees = Table(
    "meeting_attendees",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("meeting_id", Id, ForeignKey("meetings.id"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=True),
    Index("ix_meeting_attendees_meeting_id", "meeting_id"),
)

work_items = Table(
    "work_items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("iteration_id", Id, ForeignKey("iterations.id"), nullable=True),
    Column("requirement_id", Id, ForeignKey("requirements.id"), nullable=True),
    Column("meeting_id", Id, ForeignKey("meetings.id"), nullable=True),  # an action item
    Column("title", String(300), nullable=False),
    Column("assignee_user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("estimate", Float, nullable=True),  # hours
    Column("status", String(20), nullable=False),  # todo | in_progress | done
    Column("blocked_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    *_stamps(),
    Index("ix_work_items_project_id", "project_id"),
    Index("ix_work_items_iteration_id", "iteration_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("iteration_id", Id, ForeignKey("iterations.id"), nullable=True),
    Column("deliverable_id", Id, ForeignKey("deliverables.id"), nullable=True),
    Column("text", Text, nullable=False),
    Column("rating", Integer, nullable=True),  # 1..5
    Column("created_at", UtcDateTime, nullable=False),
    Column("survey_id", Id, nullable=True),  # the survey whose low score raised it (pmflow.plugins.surveys)
    Index("ix_feedback_project_id", "project_id"),
)

field_changes = Table(
    "field_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(40), nullable=False),
    Column("entity_id", Id, nullable=False),
    Column("field", String(100), nullable=False),
    Column("old_value", Json, nullable=True),
    Column("new_value", Json, nullable=True),
    Column("actor_id", String(200), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_field_changes_entity_entity_id", "entity", "entity_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    # SHA-256 of the token: a token is 256 random bits, so a fast hash is enough and a stolen
    # table reveals no usable token.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),  # shown in listings to tell tokens apart
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Index("ix_api_tokens_user_id", "user_id"),
)

# Where the webhook channel (pmflow.plugins.webhooks) POSTs events. The secret is stored as given:
# it signs every delivery, so it cannot be hashed; the API never returns it.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(500), nullable=False),
    Column("events", Json, nullable=False),  # ["project.put_on_hold", ...] or ["*"]
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Id, ForeignKey("users.id"), nullable=True),
)

# The in-app channel (pmflow.plugins.inapp): one row per user per event, written by the outbox
# consumer; the unique (user_id, event_id) makes a redelivered message a no-op.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=True),
    Column("subject_id", Id, nullable=False),
    Column("title", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    UniqueConstraint("user_id", "event_id", name="uq_notifications_user_id_event_id"),
    Index("ix_notifications_user_id_read_at_id", "user_id", "read_at", "id"),
)

# Who hears what (pmflow.plugins.preferences): a rule per (user or role or everyone, project or all,
# event type or '*', channel); the most specific matching rule wins over the defaults by role.
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("role", String(20), nullable=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=True),
    Column("event_type", String(200), nullable=False),
    Column("channel", String(20), nullable=False),  # in_app | email
    Column("enabled", Boolean, nullable=False),
    Index("ix_notification_preferences_user_id", "user_id"),
)

# Project health (pmflow.plugins.health): a row each time a project's score changes, with the signals
# that made it (code, message, severity, value, penalty, weight, points); ``warning`` marks the row
# whose score crossed below the warning threshold (the early warning was raised with it).
health_scores = Table(
    "health_scores",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("score", Integer, nullable=False),  # 0..100
    Column("signals", Json, nullable=False),
    Column("warning", Boolean, nullable=False),
    Column("computed_at", UtcDateTime, nullable=False),
    Index("ix_health_scores_project_id_id", "project_id", "id"),
)

# Customer surveys (pmflow.plugins.surveys): one survey per trigger occurrence (the event that asked
# for it), its questions copied from the template as sent; one invitation per customer contact.
surveys = Table(
    "surveys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("template", String(100), nullable=False),
    Column("trigger", String(100), nullable=False),  # the SurveyTrigger's name
    Column("kind", String(20), nullable=False),  # csat | nps | custom: what its score measures
    Column("title", String(300), nullable=False),
    Column("questions", Json, nullable=False),
    Column("event_id", String(64), nullable=True),  # the history event that triggered it
    Column("subject_id", Id, nullable=True),  # what it asks about (iteration, deliverable, project)
    Column("sent_at", UtcDateTime, nullable=False),
    Column("closes_at", UtcDateTime, nullable=False),
    UniqueConstraint("trigger", "event_id", name="uq_surveys_trigger_event_id"),
    Index("ix_surveys_project_id_sent_at", "project_id", "sent_at"),
)

survey_invitations = Table(
    "survey_invitations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survey_id", Id, ForeignKey("surveys.id"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the one-time token
    Column("expires_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("reminders", Integer, nullable=False),
    Column("reminded_at", UtcDateTime, nullable=True),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("answered_via", String(20), nullable=True),  # token | account
    Column("answers", Json, nullable=True),  # {question key: value}
    Column("score", Integer, nullable=True),  # the answer to the survey's csat/nps question
    UniqueConstraint("survey_id", "contact_id", name="uq_survey_invitations_survey_id_contact_id"),
    Index("ix_survey_invitations_contact_id", "contact_id"),
)
