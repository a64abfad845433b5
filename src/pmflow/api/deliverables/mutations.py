"""Deliverables: what the team delivers, with the contract's acceptance criteria and its QA checklist."""

from __future__ import annotations

from typing import cast

import strawberry

from pmflow.api.context import Info
from pmflow.api.deliverables.types import Deliverable
from pmflow.api.errors import Error, attempt
from pmflow.api.ids import expect_id
from pmflow.api.inputs import service_input
from pmflow.api.iterations.mutations import split_update
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh, visible_row


@strawberry.input
class ChecklistItemInput:
    item: str
    done: bool = False


@strawberry.input
class CreateDeliverableInput:
    project_id: strawberry.ID
    title: str
    kind: str = strawberry.field(description="document, code, product or service.")
    acceptance_criteria: list[str] = strawberry.field(default_factory=list, description="From the contract.")
    qa_checklist: list[ChecklistItemInput] = strawberry.field(
        default_factory=list, description="The internal quality checklist."
    )
    iteration_id: strawberry.ID | None = None


@strawberry.input(description="Only the fields given change; refused once it is with the customer.")
class UpdateDeliverableInput:
    id: strawberry.ID
    expected_version: int | None = None
    title: str | None = strawberry.UNSET
    kind: str | None = strawberry.UNSET
    acceptance_criteria: list[str] | None = strawberry.UNSET
    qa_checklist: list[ChecklistItemInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The whole checklist (replaces the old one)."
    )
    iteration_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class DeliverablePayload:
    deliverable: Deliverable | None
    errors: list[Error]


@strawberry.type
class DeliverableMutation:
    @strawberry.mutation
    async def create_deliverable(self, info: Info, input: CreateDeliverableInput) -> DeliverablePayload:
        context = info.context

        async def act() -> Deliverable:
            data = service_input(input, {"project_id": "Project", "iteration_id": "Iteration"})
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            row = await in_thread(context.domain.deliverables.create, context.actor, project_id, data)
            return cast(Deliverable, await fresh(info, "Deliverable", row["id"]))

        deliverable, errors = await attempt(act)
        return DeliverablePayload(deliverable=deliverable, errors=errors)

    @strawberry.mutation
    async def update_deliverable(self, info: Info, input: UpdateDeliverableInput) -> DeliverablePayload:
        context = info.context

        async def act() -> Deliverable:
            pk = expect_id(input.id, "Deliverable")
            await visible_row(info, "Deliverable", pk)
            patch, expected = split_update(service_input(input, {"iteration_id": "Iteration"}))
            await in_thread(
                lambda: context.domain.deliverables.update(
                    context.actor, pk, patch, expected_version=expected
                )
            )
            return cast(Deliverable, await fresh(info, "Deliverable", pk))

        deliverable, errors = await attempt(act)
        return DeliverablePayload(deliverable=deliverable, errors=errors)
