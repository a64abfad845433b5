"""Deliverables: checked internally, then accepted by the customer against the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.access import team_only, without_internal
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node


@strawberry.type
class ChecklistItem:
    item: str
    done: bool


@strawberry.type(description="Something delivered to the customer: a document, code, a product or a service.")
class Deliverable(Node, Governed, InProject):
    id: strawberry.ID
    title: str
    kind: str = strawberry.field(description="document, code, product or service.")
    acceptance_criteria: list[str] = strawberry.field(description="From the contract.")
    qa_checklist: list[ChecklistItem] | None = strawberry.field(
        description=team_only("The internal quality checklist.")
    )
    iteration_id: strawberry.ID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Deliverable:
        deliverable = cls(
            id=strawberry.ID(to_global_id("Deliverable", row.id)),
            title=row.title,
            kind=row.kind,
            acceptance_criteria=list(row.acceptance_criteria),
            qa_checklist=[ChecklistItem(item=i["item"], done=bool(i.get("done"))) for i in row.qa_checklist],
            iteration_id=strawberry.ID(to_global_id("Iteration", row.iteration_id))
            if row.iteration_id
            else None,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _project_pk=row.project_id,
            **governed_fields(row, info.context.app.engine),
        )
        return without_internal(deliverable, info.context)
