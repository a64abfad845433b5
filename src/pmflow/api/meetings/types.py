"""Meetings and customer feedback."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.access import TEAM_MEETING_KINDS, team_only, without_internal
from pmflow.api.context import Info
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node

_TEAM_MEETING = team_only(when="the meeting is a " + " or ".join(TEAM_MEETING_KINDS))


@strawberry.type(
    description="A kickoff, standup, review, retrospective, status report, project review or demo."
)
class Meeting(Node, InProject):
    id: strawberry.ID
    database_id: int
    kind: str
    held_on: date
    iteration_id: strawberry.ID | None
    notes: str | None = strawberry.field(description=_TEAM_MEETING)
    decisions: list[str] | None = strawberry.field(description=_TEAM_MEETING)
    version: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Meeting:
        meeting = cls(
            id=strawberry.ID(to_global_id("Meeting", row.id)),
            database_id=row.id,
            kind=row.kind,
            held_on=row.held_on,
            iteration_id=strawberry.ID(to_global_id("Iteration", row.iteration_id))
            if row.iteration_id
            else None,
            notes=row.notes,
            decisions=list(row.decisions),
            version=row.version,
            created_at=row.created_at,
            _project_pk=row.project_id,
        )
        return without_internal(meeting, info.context)


@strawberry.type(description="What a customer contact said about the project, an iteration or a deliverable.")
class Feedback(Node, InProject):
    id: strawberry.ID
    database_id: int
    contact_id: strawberry.ID
    iteration_id: strawberry.ID | None
    deliverable_id: strawberry.ID | None
    text: str
    rating: int | None = strawberry.field(description="1 to 5.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Feedback:
        return cls(
            id=strawberry.ID(to_global_id("Feedback", row.id)),
            database_id=row.id,
            contact_id=strawberry.ID(to_global_id("Contact", row.contact_id)),
            iteration_id=strawberry.ID(to_global_id("Iteration", row.iteration_id))
            if row.iteration_id
            else None,
            deliverable_id=strawberry.ID(to_global_id("Deliverable", row.deliverable_id))
            if row.deliverable_id
            else None,
            text=row.text,
            rating=row.rating,
            created_at=row.created_at,
            _project_pk=row.project_id,
        )
