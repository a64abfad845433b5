"""The risk register."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.access import team_only, without_internal
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node
from pmflow.domain.vocabulary import RISK_DONE_STATES, risk_level, risk_score


def review_overdue(row: Any, now: datetime) -> bool:
    due: date | None = row.review_due_on
    return due is not None and due < now.date() and row.state not in RISK_DONE_STATES


@strawberry.enum(description="A risk's level from its score on a 5x5 matrix.")
class RiskLevel(Enum):
    LOW = "low"  # score 1-4
    MEDIUM = "medium"  # 5-9
    HIGH = "high"  # 10-15
    CRITICAL = "critical"  # 16-25


@strawberry.type(description="A risk: how likely, how bad, who owns it, how to mitigate, what if it happens.")
class Risk(Node, Governed, InProject):
    id: strawberry.ID
    title: str
    category: str
    probability: int | None = strawberry.field(description="1 (rare) to 5 (almost certain).")
    impact: int | None = strawberry.field(description="1 (minor) to 5 (severe).")
    score: int | None = strawberry.field(description="probability x impact, 1 to 25.")
    level: RiskLevel | None = strawberry.field(
        description="LOW (score 1-4), MEDIUM (5-9), HIGH (10-15) or CRITICAL (16-25); null until scored."
    )
    review_due_on: date | None = strawberry.field(description="When the risk is next reviewed.")
    review_overdue: bool = strawberry.field(
        description="Whether the review date has passed while the risk is still open."
    )
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
            score=risk_score(row.probability, row.impact),
            level=RiskLevel(level) if (level := risk_level(row.probability, row.impact)) else None,
            review_due_on=row.review_due_on,
            review_overdue=review_overdue(row, info.context.app.engine.clock()),
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
