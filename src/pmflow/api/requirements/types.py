"""Requirements: researched by the team, confirmed by the customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node


@strawberry.type(description="What the customer needs, with acceptance criteria; confirmed by the customer.")
class Requirement(Node, Governed, InProject):
    id: strawberry.ID
    title: str
    description: str | None
    priority: str = strawberry.field(description="critical, high, medium or low.")
    acceptance_criteria: list[str]
    source: str = strawberry.field(description="interview, survey, workshop, change_request or other.")
    confirmed_by_contact_id: strawberry.ID | None
    confirmed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Requirement:
        return cls(
            id=strawberry.ID(to_global_id("Requirement", row.id)),
            title=row.title,
            description=row.description,
            priority=row.priority,
            acceptance_criteria=list(row.acceptance_criteria),
            source=row.source,
            confirmed_by_contact_id=strawberry.ID(to_global_id("Contact", row.confirmed_by_contact_id))
            if row.confirmed_by_contact_id
            else None,
            confirmed_at=row.confirmed_at,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _project_pk=row.project_id,
            **governed_fields(row, info.context.app.engine),
        )
