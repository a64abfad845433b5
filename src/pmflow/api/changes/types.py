"""Change requests: what changes and why, its assessed impact, the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node


@strawberry.type(description="A requested change, assessed for impact and decided with the customer.")
class ChangeRequest(Node, Governed, InProject):
    id: strawberry.ID
    title: str
    description: str = strawberry.field(description="What changes.")
    reason: str = strawberry.field(description="Why.")
    requested_by_contact_id: strawberry.ID | None
    impact_schedule_days: int | None
    impact_cost: float | None
    impact_risk: str | None
    affected_requirement_ids: list[strawberry.ID]
    decision: str | None = strawberry.field(
        description="approved, rejected or deferred; null while undecided."
    )
    decision_rationale: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> ChangeRequest:
        return cls(
            id=strawberry.ID(to_global_id("ChangeRequest", row.id)),
            title=row.title,
            description=row.description,
            reason=row.reason,
            requested_by_contact_id=strawberry.ID(to_global_id("Contact", row.requested_by_contact_id))
            if row.requested_by_contact_id
            else None,
            impact_schedule_days=row.impact_schedule_days,
            impact_cost=row.impact_cost,
            impact_risk=row.impact_risk,
            affected_requirement_ids=[
                strawberry.ID(to_global_id("Requirement", r)) for r in row.affected_requirement_ids
            ],
            decision=row.decision,
            decision_rationale=row.decision_rationale,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _project_pk=row.project_id,
            **governed_fields(row, info.context.app.engine),
        )
