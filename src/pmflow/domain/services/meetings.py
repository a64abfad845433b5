"""Meetings (kickoff, standups, reviews, retrospectives, reports, demos) and customer feedback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.services.base import Day, Input, Service, parse
from pmflow.domain.services.iterations import WorkItemInput, WorkItems
from pmflow.domain.tables import (
    contacts,
    deliverables,
    feedback,
    iterations,
    meeting_attendees,
    meetings,
    memberships,
    projects,
)
from pmflow.domain.vocabulary import MeetingKind

NEEDS_ITERATION = ("iteration_review",)


class MeetingInput(Input):
    kind: MeetingKind
    held_on: Day
    iteration_id: int | None = None
    notes: str | None = None
    decisions: list[str] = Field(default_factory=list)
    attendee_user_ids: list[int] = Field(default_factory=list)
    attendee_contact_ids: list[int] = Field(default_factory=list)
    action_items: list[WorkItemInput] = Field(default_factory=list)


class FeedbackInput(Input):
    contact_id: int
    text: str = Field(min_length=1)
    rating: int | None = Field(default=None, ge=1, le=5)
    iteration_id: int | None = None
    deliverable_id: int | None = None


class Meetings(Service):
    entity = "meeting"

    def record(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Record a meeting with its attendees; action items become work items."""
        given = parse(MeetingInput, data, what="meeting")
        if given.kind in NEEDS_ITERATION and given.iteration_id is None:
            raise InvalidInput(
                f"an {given.kind.replace('_', ' ')} belongs to an iteration: give iteration_id",
                field="iteration_id",
            )
        if not given.attendee_user_ids and not given.attendee_contact_ids:
            raise InvalidInput("a meeting needs at least one attendee", field="attendee_user_ids")
        now = self.now()
        with self.write() as conn:
            project = self.open_project(conn, project_id)
            if given.iteration_id is not None:
                iteration = self.row(conn, iterations, given.iteration_id, "iteration", field="iteration_id")
                if iteration.project_id != project_id:
                    raise InvalidInput(
                        f"iteration {given.iteration_id} is not in this project", field="iteration_id"
                    )
            members = set(
                conn.execute(
                    memberships.select()
                    .with_only_columns(memberships.c.user_id)
                    .where(memberships.c.project_id == project_id)
                ).scalars()
            )
            strangers = [u for u in given.attendee_user_ids if u not in members]
            if strangers:
                raise InvalidInput(
                    f"not members of this project: users {', '.join(map(str, strangers))}",
                    field="attendee_user_ids",
                )
            for contact_id in given.attendee_contact_ids:
                contact = self.row(conn, contacts, contact_id, "contact", field="attendee_contact_ids")
                if contact.customer_id != project.customer_id:
                    raise InvalidInput(
                        f"contact {contact_id} is not a contact of this project's customer",
                        field="attendee_contact_ids",
                    )
            values = given.model_dump(include={"kind", "held_on", "iteration_id", "notes", "decisions"})
            meeting_id = conn.execute(
                meetings.insert().returning(meetings.c.id),
                {**values, "project_id": project_id, "version": 1, "created_at": now, "updated_at": now},
            ).scalar_one()
            attendees = [
                {"meeting_id": meeting_id, "user_id": u, "contact_id": None} for u in given.attendee_user_ids
            ]
            attendees += [
                {"meeting_id": meeting_id, "user_id": None, "contact_id": c}
                for c in given.attendee_contact_ids
            ]
            conn.execute(meeting_attendees.insert(), attendees)
            items = WorkItems(self.engine)
            for item in given.action_items:
                items.create(
                    actor,
                    project_id,
                    item.model_dump(exclude_unset=True),
                    meeting_id=meeting_id,
                    connection=conn,
                )
            self.audit(
                conn, actor, meeting_id, {}, {k: v for k, v in values.items() if v not in (None, [])}, now
            )
            return dict(self.row(conn, meetings, meeting_id, "meeting")._mapping)


class Feedback(Service):
    entity = "feedback"

    def record(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Feedback from a customer contact on the project, an iteration or a deliverable."""
        given = parse(FeedbackInput, data, what="feedback")
        if given.iteration_id is not None and given.deliverable_id is not None:
            raise InvalidInput(
                "feedback is on an iteration or a deliverable, not both", field="deliverable_id"
            )
        now = self.now()
        with self.write() as conn:
            project = self.row(conn, projects, project_id, "project")
            contact = self.row(conn, contacts, given.contact_id, "contact", field="contact_id")
            if contact.customer_id != project.customer_id:
                raise InvalidInput(
                    "feedback comes from a contact of this project's customer", field="contact_id"
                )
            for field, table, what in (
                ("iteration_id", iterations, "iteration"),
                ("deliverable_id", deliverables, "deliverable"),
            ):
                target = getattr(given, field)
                if (
                    target is not None
                    and self.row(conn, table, target, what, field=field).project_id != project_id
                ):
                    raise InvalidInput(f"{what} {target} is not in this project", field=field)
            values = given.model_dump()
            feedback_id = conn.execute(
                feedback.insert().returning(feedback.c.id),
                {**values, "project_id": project_id, "created_at": now},
            ).scalar_one()
            self.audit(conn, actor, feedback_id, {}, {k: v for k, v in values.items() if v is not None}, now)
            return dict(self.row(conn, feedback, feedback_id, "feedback")._mapping)
