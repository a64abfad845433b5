"""Iterations (1-2 weeks) and work items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.access import team_only, without_internal
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node
from pmflow.domain import tables as t


def _gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return strawberry.ID(to_global_id(type_name, pk)) if pk is not None else None


@strawberry.type(description="A task: who does it, how long, its status; may be blocked with a reason.")
class WorkItem(Node, InProject):
    id: strawberry.ID
    database_id: int
    title: str
    iteration_id: strawberry.ID | None
    requirement_id: strawberry.ID | None
    meeting_id: strawberry.ID | None = strawberry.field(
        description="Set when it came from a meeting's action items."
    )
    assignee_id: strawberry.ID | None = strawberry.field(description=team_only())
    estimate: float | None = strawberry.field(description=team_only("Hours."))
    status: str = strawberry.field(description="todo, in_progress or done.")
    blocked_reason: str | None
    blocked: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> WorkItem:
        item = cls(
            id=strawberry.ID(to_global_id("WorkItem", row.id)),
            database_id=row.id,
            title=row.title,
            iteration_id=_gid("Iteration", row.iteration_id),
            requirement_id=_gid("Requirement", row.requirement_id),
            meeting_id=_gid("Meeting", row.meeting_id),
            assignee_id=_gid("User", row.assignee_user_id),
            estimate=row.estimate,
            status=row.status,
            blocked_reason=row.blocked_reason,
            blocked=bool(row.blocked_reason),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _project_pk=row.project_id,
        )
        return without_internal(item, info.context)


@strawberry.type(description="A short iteration delivering a usable increment, reviewed with the customer.")
class Iteration(Node, Governed, InProject):
    id: strawberry.ID
    number: int
    goal: str
    start_date: date
    end_date: date
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Iteration:
        return cls(
            id=strawberry.ID(to_global_id("Iteration", row.id)),
            number=row.number,
            goal=row.goal,
            start_date=row.start_date,
            end_date=row.end_date,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _project_pk=row.project_id,
            **governed_fields(row, info.context.app.engine),
        )

    @strawberry.field
    async def work_items(self, info: Info) -> list[WorkItem]:
        rows = await info.context.loaders.by_column(t.work_items, "iteration_id").load(self.database_id)
        return [WorkItem.from_row(row, info) for row in rows]
