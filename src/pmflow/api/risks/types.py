"""The risk register."""

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


@strawberry.type(description="A risk: how likely, how bad, who owns it, how to mitigate, what if it happens.")
class Risk(Node, Governed, InProject):
    id: strawberry.ID
    title: str
    category: str
    probability: int | None = strawberry.field(description="1 (rare) to 5 (almost certain).")
    impact: int | None = strawberry.field(description="1 (minor) to 5 (severe).")
    score: int | None = strawberry.field(description="probability x impact, 1 to 25.")
    owner_id: strawberry.ID | None = strawberry.field(description=team_only("The User who owns it."))
    mitigation_plan: str | None = strawberry.field(description=team_only())
    contingency_plan: str | None = strawberry.field(description=team_only())
    early_warning_indicator: str | None = strawberry.field(description=team_only())
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Risk:
        risk = cls(
            id=strawberry.ID(to_global_id("Risk", row.id)),
            title=row.title,
            category=row.category,
            probability=row.probability,
            impact=row.impact,
            score=row.probability * row.impact if row.probability and row.impact else None,
            owner_id=strawberry.ID(to_global_id("User", row.owner_user_id)) if row.owner_user_id else None,
            mitigation_plan=row.mitigation_plan,
            contingency_plan=row.contingency_plan,
            early_warning_indicator=row.early_warning_indicator,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _project_pk=row.project_id,
            **governed_fields(row, info.context.app.engine),
        )
        return without_internal(risk, info.context)
