"""Change requests: raised by the team or the customer, assessed by the team, decided through the
lifecycle (``fireTransition``)."""

from __future__ import annotations

from typing import cast

import strawberry

from pmflow.api.changes.types import ChangeRequest
from pmflow.api.context import Info
from pmflow.api.errors import Error, attempt
from pmflow.api.ids import expect_id
from pmflow.api.inputs import service_input
from pmflow.api.iterations.mutations import split_update
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh, visible_row


@strawberry.input(description="Customers may raise change requests on their own projects.")
class CreateChangeRequestInput:
    project_id: strawberry.ID
    title: str
    description: str = strawberry.field(description="What changes.")
    reason: str = strawberry.field(description="Why.")
    requested_by_contact_id: strawberry.ID | None = strawberry.field(
        default=None, description="The customer's contact who asks for it."
    )
    affected_requirement_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input(description="The impact assessment; only the fields given change.")
class AssessChangeRequestInput:
    id: strawberry.ID
    expected_version: int | None = None
    impact_schedule_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days the schedule moves (negative: earlier)."
    )
    impact_cost: float | None = strawberry.UNSET
    impact_risk: str | None = strawberry.UNSET
    affected_requirement_ids: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.type
class ChangeRequestPayload:
    change_request: ChangeRequest | None
    errors: list[Error]


@strawberry.type
class ChangeRequestMutation:
    @strawberry.mutation(description="Raise a change request: what changes and why.")
    async def create_change_request(
        self, info: Info, input: CreateChangeRequestInput
    ) -> ChangeRequestPayload:
        context = info.context

        async def act() -> ChangeRequest:
            actor = context.actor
            data = service_input(
                input,
                {
                    "project_id": "Project",
                    "requested_by_contact_id": "Contact",
                    "affected_requirement_ids": "Requirement",
                },
            )
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            # Another customer's contacts and requirements answer NOT_FOUND, as unknown ids do.
            if data.get("requested_by_contact_id") is not None:
                await visible_row(info, "Contact", data["requested_by_contact_id"], "requestedByContactId")
            for requirement_id in data.get("affected_requirement_ids") or []:
                await visible_row(info, "Requirement", requirement_id, "affectedRequirementIds")
            row = await in_thread(context.domain.change_requests.create, actor, project_id, data)
            return cast(ChangeRequest, await fresh(info, "ChangeRequest", row["id"]))

        change_request, errors = await attempt(act)
        return ChangeRequestPayload(change_request=change_request, errors=errors)

    @strawberry.mutation(
        description="Record the impact (schedule, cost, risk, affected requirements) before the decision."
    )
    async def assess_change_request(
        self, info: Info, input: AssessChangeRequestInput
    ) -> ChangeRequestPayload:
        context = info.context

        async def act() -> ChangeRequest:
            pk = expect_id(input.id, "ChangeRequest")
            await visible_row(info, "ChangeRequest", pk)
            patch, expected = split_update(service_input(input, {"affected_requirement_ids": "Requirement"}))
            await in_thread(
                lambda: context.domain.change_requests.assess(
                    context.actor, pk, patch, expected_version=expected
                )
            )
            return cast(ChangeRequest, await fresh(info, "ChangeRequest", pk))

        change_request, errors = await attempt(act)
        return ChangeRequestPayload(change_request=change_request, errors=errors)
