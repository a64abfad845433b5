"""The risk register: the team records and keeps risks up to date; their lifecycle runs through
``fireTransition``."""

from __future__ import annotations

from datetime import date
from typing import cast

import strawberry

from pmflow.api.context import Info
from pmflow.api.errors import Error, attempt
from pmflow.api.ids import expect_id
from pmflow.api.inputs import service_input
from pmflow.api.iterations.mutations import fields_named, renamed, split_update
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh, visible_row
from pmflow.api.risks.types import Risk

RISK_FIELDS = {"owner_id": "owner_user_id"}


@strawberry.input
class CreateRiskInput:
    project_id: strawberry.ID
    title: str
    category: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="schedule, budget, scope, technical, resource, customer, quality or other (default).",
    )
    probability: int | None = strawberry.field(default=None, description="1 (rare) to 5 (almost certain).")
    impact: int | None = strawberry.field(default=None, description="1 (minor) to 5 (severe).")
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="A User who is a member of the project."
    )
    mitigation_plan: str | None = None
    contingency_plan: str | None = None
    early_warning_indicator: str | None = None
    review_due_on: date | None = strawberry.field(
        default=None, description="When the risk is next reviewed; past it, the risk's review is overdue."
    )


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateRiskInput:
    id: strawberry.ID
    expected_version: int | None = None
    title: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    impact: int | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    mitigation_plan: str | None = strawberry.UNSET
    contingency_plan: str | None = strawberry.UNSET
    early_warning_indicator: str | None = strawberry.UNSET
    review_due_on: date | None = strawberry.UNSET


@strawberry.type
class RiskPayload:
    risk: Risk | None
    errors: list[Error]


@strawberry.type
class RiskMutation:
    @strawberry.mutation
    async def create_risk(self, info: Info, input: CreateRiskInput) -> RiskPayload:
        context = info.context

        async def act() -> Risk:
            with fields_named(RISK_FIELDS):
                data = service_input(input, {"project_id": "Project", "owner_id": "User"})
                project_id = data.pop("project_id")
                await visible_row(info, "Project", project_id, "projectId")
                row = await in_thread(
                    context.domain.risks.create, context.actor, project_id, renamed(data, RISK_FIELDS)
                )
            return cast(Risk, await fresh(info, "Risk", row["id"]))

        risk, errors = await attempt(act)
        return RiskPayload(risk=risk, errors=errors)

    @strawberry.mutation
    async def update_risk(self, info: Info, input: UpdateRiskInput) -> RiskPayload:
        context = info.context

        async def act() -> Risk:
            with fields_named(RISK_FIELDS):
                pk = expect_id(input.id, "Risk")
                await visible_row(info, "Risk", pk)
                patch, expected = split_update(service_input(input, {"owner_id": "User"}))
                await in_thread(
                    lambda: context.domain.risks.update(
                        context.actor, pk, renamed(patch, RISK_FIELDS), expected_version=expected
                    )
                )
            return cast(Risk, await fresh(info, "Risk", pk))

        risk, errors = await attempt(act)
        return RiskPayload(risk=risk, errors=errors)
