"""Mutations: every expected failure is a typed error in the payload, never an exception."""

from __future__ import annotations

import contextlib
from datetime import date
from types import SimpleNamespace
from typing import Any

import strawberry
from strawberry.scalars import JSON

from pmflow.api.context import Info
from pmflow.api.customers.types import Contact, Customer
from pmflow.api.errors import Error, attempt
from pmflow.api.governed import Governed, HistoryEvent
from pmflow.api.ids import expect_id, from_global_id, to_global_id
from pmflow.api.inputs import service_input
from pmflow.api.loaders import in_thread
from pmflow.api.node import kinds, visible
from pmflow.api.projects.types import Membership, Project
from pmflow.api.requirements.types import Requirement
from pmflow.core.errors import NotFound

GOVERNED_TYPES = ("Project", "Requirement", "ChangeRequest", "Iteration", "Deliverable", "Risk")


async def visible_row(info: Info, type_name: str, pk: int, field: str = "id") -> Any:
    """The row behind an id the viewer may see; NOT_FOUND exactly as for an id that does not exist."""
    kind = kinds()[type_name]
    row = await info.context.loaders.by_id(kind.table).load(pk)
    if row is None or not await visible(info, type_name, row):
        raise NotFound(f"no {type_name} with this id", field=field)
    return row


async def fresh(info: Info, type_name: str, pk: int) -> Any:
    kind = kinds()[type_name]
    loader = info.context.loaders.by_id(kind.table)
    with contextlib.suppress(KeyError):  # strawberry's clear() raises for an id never loaded
        loader.clear(pk)
    return kind.convert(await loader.load(pk), info)


# ---- fireTransition ------------------------------------------------------------------------


@strawberry.input
class FireTransitionInput:
    id: strawberry.ID = strawberry.field(
        description="A Project, Requirement, ChangeRequest, Iteration, Deliverable or Risk."
    )
    trigger: str
    expected_version: int | None = strawberry.field(
        default=None,
        description="The version you saw; a concurrent change then gives CONFLICT instead of a surprise.",
    )
    comment: str | None = None
    payload: JSON | None = strawberry.field(
        default=None, description="Data the transition asks for (see its workflow)."
    )


@strawberry.type
class FireTransitionPayload:
    subject: Governed | None
    event: HistoryEvent | None
    errors: list[Error]


# ---- inputs of the set-up mutations -----------------------------------------------------------


@strawberry.input
class CreateCustomerInput:
    name: str


@strawberry.input
class AddContactInput:
    customer_id: strawberry.ID
    name: str
    email: str
    role: str | None = None
    user_id: strawberry.ID | None = None


@strawberry.input
class MilestoneInput:
    name: str
    due: date


@strawberry.input
class CreateProjectInput:
    customer_id: strawberry.ID
    name: str
    goal: str | None = None
    scope: str | None = None
    milestones: list[MilestoneInput] | None = strawberry.UNSET
    start_date: date | None = None
    target_date: date | None = None
    custom_fields: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Validated by the workflow file."
    )
    manager_id: strawberry.ID | None = strawberry.field(default=None, description="Default: you.")


@strawberry.input(description="Only the fields given change; each change is audited.")
class UpdateProjectInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = strawberry.UNSET
    goal: str | None = strawberry.UNSET
    scope: str | None = strawberry.UNSET
    milestones: list[MilestoneInput] | None = strawberry.UNSET
    start_date: date | None = strawberry.UNSET
    target_date: date | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input
class AddProjectMemberInput:
    project_id: strawberry.ID
    user_id: strawberry.ID
    role: str = strawberry.field(
        description="manager, analyst, developer, designer, tester or customer_representative."
    )


@strawberry.input
class CreateRequirementInput:
    project_id: strawberry.ID
    title: str
    description: str | None = None
    priority: str | None = strawberry.UNSET
    acceptance_criteria: list[str] | None = strawberry.UNSET
    source: str | None = strawberry.UNSET


@strawberry.input(description="Only the fields given change; refused once the customer confirmed it.")
class UpdateRequirementInput:
    id: strawberry.ID
    expected_version: int | None = None
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    priority: str | None = strawberry.UNSET
    acceptance_criteria: list[str] | None = strawberry.UNSET
    source: str | None = strawberry.UNSET


@strawberry.type
class CustomerPayload:
    customer: Customer | None
    errors: list[Error]


@strawberry.type
class ContactPayload:
    contact: Contact | None
    errors: list[Error]


@strawberry.type
class ProjectPayload:
    project: Project | None
    errors: list[Error]


@strawberry.type
class MembershipPayload:
    membership: Membership | None
    errors: list[Error]


@strawberry.type
class RequirementPayload:
    requirement: Requirement | None
    errors: list[Error]


def _payload(value: Any) -> Any:
    """The payload as given; the engine refuses anything but a JSON object with a clear error."""
    return value


def _rename(data: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    return {renames.get(k, k): v for k, v in data.items()}


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Move a governed object through its lifecycle.")
    async def fire_transition(self, info: Info, input: FireTransitionInput) -> FireTransitionPayload:
        context = info.context

        async def act() -> tuple[Any, HistoryEvent]:
            actor = context.actor
            type_name, pk = from_global_id(input.id)
            if type_name not in GOVERNED_TYPES:
                raise NotFound("no object with a lifecycle has this id", field="id")
            await visible_row(info, type_name, pk)  # NOT_FOUND for what the viewer may not see
            result = await in_thread(
                lambda: context.app.engine.fire(
                    pk,
                    input.trigger,
                    actor,
                    expected_version=input.expected_version,
                    comment=input.comment,
                    payload=_payload(input.payload),
                )
            )
            # subscribers hear of it from the commit itself (api/announce.py, api/listen.py)
            return await fresh(info, type_name, pk), HistoryEvent.from_row(result.event, type_name)

        done, errors = await attempt(act)
        subject, event = done if done else (None, None)
        return FireTransitionPayload(subject=subject, event=event, errors=errors)

    @strawberry.mutation
    async def create_customer(self, info: Info, input: CreateCustomerInput) -> CustomerPayload:
        context = info.context

        async def act() -> Customer:
            row = await in_thread(context.domain.customers.create, context.actor, service_input(input))
            return Customer.from_row(SimpleNamespace(**row))

        customer, errors = await attempt(act)
        return CustomerPayload(customer=customer, errors=errors)

    @strawberry.mutation
    async def add_contact(self, info: Info, input: AddContactInput) -> ContactPayload:
        context = info.context

        async def act() -> Contact:
            data = service_input(input, {"customer_id": "Customer", "user_id": "User"})
            customer_id = data.pop("customer_id")
            row = await in_thread(context.domain.customers.add_contact, context.actor, customer_id, data)
            return Contact.from_row(SimpleNamespace(**row))

        contact, errors = await attempt(act)
        return ContactPayload(contact=contact, errors=errors)

    @strawberry.mutation
    async def create_project(self, info: Info, input: CreateProjectInput) -> ProjectPayload:
        context = info.context

        async def act() -> Project:
            data = service_input(input, {"customer_id": "Customer", "manager_id": "User"})
            data = _rename(data, {"custom_fields": "fields", "manager_id": "manager_user_id"})
            row = await in_thread(context.domain.projects.create, context.actor, data)
            return await fresh(info, "Project", row["id"])  # type: ignore[no-any-return]

        project, errors = await attempt(act)
        return ProjectPayload(project=project, errors=errors)

    @strawberry.mutation
    async def update_project(self, info: Info, input: UpdateProjectInput) -> ProjectPayload:
        context = info.context

        async def act() -> Project:
            pk = expect_id(input.id, "Project")
            await visible_row(info, "Project", pk)
            data = _rename(service_input(input), {"custom_fields": "fields"})
            data.pop("id")
            expected = data.pop("expected_version", None)
            await in_thread(
                lambda: context.domain.projects.update(context.actor, pk, data, expected_version=expected)
            )
            return await fresh(info, "Project", pk)  # type: ignore[no-any-return]

        project, errors = await attempt(act)
        return ProjectPayload(project=project, errors=errors)

    @strawberry.mutation
    async def add_project_member(self, info: Info, input: AddProjectMemberInput) -> MembershipPayload:
        context = info.context

        async def act() -> Membership:
            data = service_input(input, {"project_id": "Project", "user_id": "User"})
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            row = await in_thread(context.domain.projects.add_member, context.actor, project_id, data)
            return Membership(
                id=strawberry.ID(to_global_id("Membership", row["id"])),
                role=row["role"],
                _user_pk=row["user_id"],
            )

        membership, errors = await attempt(act)
        return MembershipPayload(membership=membership, errors=errors)

    @strawberry.mutation
    async def create_requirement(self, info: Info, input: CreateRequirementInput) -> RequirementPayload:
        context = info.context

        async def act() -> Requirement:
            data = service_input(input, {"project_id": "Project"})
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            row = await in_thread(context.domain.requirements.create, context.actor, project_id, data)
            return await fresh(info, "Requirement", row["id"])  # type: ignore[no-any-return]

        requirement, errors = await attempt(act)
        return RequirementPayload(requirement=requirement, errors=errors)

    @strawberry.mutation
    async def update_requirement(self, info: Info, input: UpdateRequirementInput) -> RequirementPayload:
        context = info.context

        async def act() -> Requirement:
            pk = expect_id(input.id, "Requirement")
            await visible_row(info, "Requirement", pk)
            data = service_input(input)
            data.pop("id")
            expected = data.pop("expected_version", None)
            await in_thread(
                lambda: context.domain.requirements.update(context.actor, pk, data, expected_version=expected)
            )
            return await fresh(info, "Requirement", pk)  # type: ignore[no-any-return]

        requirement, errors = await attempt(act)
        return RequirementPayload(requirement=requirement, errors=errors)
