"""Iterations and work items: planned and kept up to date by the team."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, cast

import strawberry

from pmflow.api.context import Info
from pmflow.api.errors import Error, attempt
from pmflow.api.ids import expect_id
from pmflow.api.inputs import service_input
from pmflow.api.iterations.types import Iteration, WorkItem
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh, visible_row
from pmflow.core.errors import PmflowError

# Input field -> service field, for the ids whose service name says more than the API's.
WORK_ITEM_FIELDS = {"assignee_id": "assignee_user_id"}
WORK_ITEM_IDS = {"iteration_id": "Iteration", "requirement_id": "Requirement", "assignee_id": "User"}


def renamed(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in data.items()}


@contextmanager
def fields_named(names: dict[str, str]) -> Iterator[None]:
    """Errors name the input's field: ``names`` maps input fields to the service's names, and a
    service error naming ``assignee_user_id`` comes back as ``assigneeId``."""
    back = {service: given for given, service in names.items()}
    try:
        yield
    except PmflowError as error:
        if error.field is not None:
            error.field = ".".join(back.get(part, part) for part in error.field.split("."))
        raise


def split_update(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The patch without ``id`` and ``expected_version``, and the expected version."""
    data.pop("id", None)
    return data, data.pop("expected_version", None)


# ---- iterations -------------------------------------------------------------------------------


@strawberry.input(
    description="An iteration lasts 5 to 14 days unless the iteration workflow allows otherwise."
)
class PlanIterationInput:
    project_id: strawberry.ID
    goal: str
    start_date: date
    end_date: date


@strawberry.input(description="Only the fields given change; dates only while the iteration is planned.")
class UpdateIterationInput:
    id: strawberry.ID
    expected_version: int | None = None
    goal: str | None = strawberry.UNSET
    start_date: date | None = strawberry.UNSET
    end_date: date | None = strawberry.UNSET


@strawberry.type
class IterationPayload:
    iteration: Iteration | None
    errors: list[Error]


# ---- work items -------------------------------------------------------------------------------


@strawberry.input
class CreateWorkItemInput:
    project_id: strawberry.ID
    title: str
    iteration_id: strawberry.ID | None = None
    requirement_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="A User who is a member of the project."
    )
    estimate: float | None = strawberry.field(default=None, description="Hours.")
    status: str | None = strawberry.field(
        default=strawberry.UNSET, description="todo (default), in_progress or done."
    )
    blocked_reason: str | None = strawberry.field(
        default=None, description="Why it cannot move on; null when it is not blocked."
    )


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateWorkItemInput:
    id: strawberry.ID
    expected_version: int | None = None
    title: str | None = strawberry.UNSET
    iteration_id: strawberry.ID | None = strawberry.UNSET
    requirement_id: strawberry.ID | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET
    estimate: float | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    blocked_reason: str | None = strawberry.UNSET


@strawberry.type
class WorkItemPayload:
    work_item: WorkItem | None
    errors: list[Error]


@strawberry.type
class IterationMutation:
    @strawberry.mutation(description="Plan the project's next iteration (numbered in order).")
    async def plan_iteration(self, info: Info, input: PlanIterationInput) -> IterationPayload:
        context = info.context

        async def act() -> Iteration:
            data = service_input(input, {"project_id": "Project"})
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            row = await in_thread(context.domain.iterations.plan, context.actor, project_id, data)
            return cast(Iteration, await fresh(info, "Iteration", row["id"]))

        iteration, errors = await attempt(act)
        return IterationPayload(iteration=iteration, errors=errors)

    @strawberry.mutation(description="Change an iteration's goal or, while it is planned, its dates.")
    async def update_iteration(self, info: Info, input: UpdateIterationInput) -> IterationPayload:
        context = info.context

        async def act() -> Iteration:
            pk = expect_id(input.id, "Iteration")
            await visible_row(info, "Iteration", pk)
            patch, expected = split_update(service_input(input))
            await in_thread(
                lambda: context.domain.iterations.update(context.actor, pk, patch, expected_version=expected)
            )
            return cast(Iteration, await fresh(info, "Iteration", pk))

        iteration, errors = await attempt(act)
        return IterationPayload(iteration=iteration, errors=errors)

    @strawberry.mutation(description="Add a task to the project, optionally in an iteration.")
    async def create_work_item(self, info: Info, input: CreateWorkItemInput) -> WorkItemPayload:
        context = info.context

        async def act() -> WorkItem:
            with fields_named(WORK_ITEM_FIELDS):
                data = service_input(input, {"project_id": "Project", **WORK_ITEM_IDS})
                project_id = data.pop("project_id")
                await visible_row(info, "Project", project_id, "projectId")
                row = await in_thread(
                    context.domain.work_items.create,
                    context.actor,
                    project_id,
                    renamed(data, WORK_ITEM_FIELDS),
                )
            return cast(WorkItem, await fresh(info, "WorkItem", row["id"]))

        work_item, errors = await attempt(act)
        return WorkItemPayload(work_item=work_item, errors=errors)

    @strawberry.mutation(description="Change a task: status, assignee, estimate, blocked reason ...")
    async def update_work_item(self, info: Info, input: UpdateWorkItemInput) -> WorkItemPayload:
        context = info.context

        async def act() -> WorkItem:
            with fields_named(WORK_ITEM_FIELDS):
                pk = expect_id(input.id, "WorkItem")
                await visible_row(info, "WorkItem", pk)
                patch, expected = split_update(service_input(input, WORK_ITEM_IDS))
                await in_thread(
                    lambda: context.domain.work_items.update(
                        context.actor, pk, renamed(patch, WORK_ITEM_FIELDS), expected_version=expected
                    )
                )
            return cast(WorkItem, await fresh(info, "WorkItem", pk))

        work_item, errors = await attempt(act)
        return WorkItemPayload(work_item=work_item, errors=errors)
