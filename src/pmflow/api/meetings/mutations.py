"""Meetings (recorded by the team, action items becoming work items) and customer feedback."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import strawberry

from pmflow.api.context import Info
from pmflow.api.errors import Error, attempt
from pmflow.api.inputs import service_input
from pmflow.api.iterations.mutations import WORK_ITEM_FIELDS, WORK_ITEM_IDS, fields_named, renamed
from pmflow.api.loaders import in_thread
from pmflow.api.meetings.types import Feedback, Meeting
from pmflow.api.mutations import fresh, visible_row
from pmflow.core.errors import InvalidInput, NotAllowed, PmflowError
from pmflow.domain import tables as t


@strawberry.input(description="A task agreed in the meeting; it becomes a work item of the project.")
class ActionItemInput:
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
    blocked_reason: str | None = None


@strawberry.input
class RecordMeetingInput:
    project_id: strawberry.ID
    kind: str = strawberry.field(
        description="kickoff, daily_standup, iteration_review, retrospective, status_report, "
        "project_review or demo."
    )
    held_on: date
    iteration_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for an iteration_review."
    )
    notes: str | None = None
    decisions: list[str] = strawberry.field(default_factory=list)
    attendee_user_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Members of the project."
    )
    attendee_contact_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Contacts of the project's customer."
    )
    action_items: list[ActionItemInput] = strawberry.field(default_factory=list)


@strawberry.input(
    description="A customer user records feedback as themselves (contactId defaults to their own "
    "contact); the team records it on behalf of any contact of the project's customer."
)
class RecordFeedbackInput:
    project_id: strawberry.ID
    contact_id: strawberry.ID | None = None
    text: str
    rating: int | None = strawberry.field(default=None, description="1 to 5.")
    iteration_id: strawberry.ID | None = None
    deliverable_id: strawberry.ID | None = None


@strawberry.type
class MeetingPayload:
    meeting: Meeting | None
    errors: list[Error]


@strawberry.type
class FeedbackPayload:
    feedback: Feedback | None
    errors: list[Error]


async def _action_items(info: Info, project_id: int, given: list[ActionItemInput]) -> list[dict[str, Any]]:
    """Action items as the service takes them; a bad link names its item (``actionItems.1.assigneeId``),
    which the service, checking them inside the meeting's transaction, cannot."""
    loaders = info.context.loaders
    members: set[int] | None = None
    items = []
    for index, item in enumerate(given):
        prefix = f"actionItems.{index}."
        try:
            with fields_named(WORK_ITEM_FIELDS):
                data = service_input(item, WORK_ITEM_IDS)
        except PmflowError as error:
            error.field = prefix + (error.field or "")
            raise
        for field, table, what in (
            ("iteration_id", t.iterations, "iteration"),
            ("requirement_id", t.requirements, "requirement"),
        ):
            if data.get(field) is not None:
                row = await loaders.by_id(table).load(data[field])
                if row is None or row.project_id != project_id:
                    raise InvalidInput(f"no {what} {data[field]} in this project", field=prefix + field)
        if data.get("assignee_id") is not None:
            if members is None:
                rows = await loaders.by_column(t.memberships).load(project_id)
                members = {row.user_id for row in rows}
            if data["assignee_id"] not in members:
                raise InvalidInput(
                    f"the assignee (user {data['assignee_id']}) is not a member of this project",
                    field=prefix + "assigneeId",
                )
        items.append(renamed(data, WORK_ITEM_FIELDS))
    return items


@strawberry.type
class MeetingMutation:
    @strawberry.mutation(description="Record a meeting with its attendees; action items become work items.")
    async def record_meeting(self, info: Info, input: RecordMeetingInput) -> MeetingPayload:
        context = info.context

        async def act() -> Meeting:
            data = service_input(
                input,
                {
                    "project_id": "Project",
                    "iteration_id": "Iteration",
                    "attendee_user_ids": "User",
                    "attendee_contact_ids": "Contact",
                },
            )
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            data["action_items"] = await _action_items(info, project_id, input.action_items)
            row = await in_thread(context.domain.meetings.record, context.actor, project_id, data)
            return cast(Meeting, await fresh(info, "Meeting", row["id"]))

        meeting, errors = await attempt(act)
        return MeetingPayload(meeting=meeting, errors=errors)

    @strawberry.mutation(
        description="What a customer contact said about the project, an iteration or a deliverable."
    )
    async def record_feedback(self, info: Info, input: RecordFeedbackInput) -> FeedbackPayload:
        context = info.context

        async def act() -> Feedback:
            actor = context.actor
            data = service_input(
                input,
                {
                    "project_id": "Project",
                    "contact_id": "Contact",
                    "iteration_id": "Iteration",
                    "deliverable_id": "Deliverable",
                },
            )
            project_id = data.pop("project_id")
            await visible_row(info, "Project", project_id, "projectId")
            for field, type_name in (("iteration_id", "Iteration"), ("deliverable_id", "Deliverable")):
                if data.get(field) is not None:
                    await visible_row(info, type_name, data[field], field)
            data["contact_id"] = await _feedback_contact(info, data.get("contact_id"))
            row = await in_thread(context.domain.feedback.record, actor, project_id, data)
            return cast(Feedback, await fresh(info, "Feedback", row["id"]))

        feedback, errors = await attempt(act)
        return FeedbackPayload(feedback=feedback, errors=errors)


async def _feedback_contact(info: Info, contact_id: int | None) -> int:
    """Whose feedback it is: a customer user speaks only for themselves, the team for any contact."""
    context = info.context
    customer_id = context.customer_id
    if customer_id is None:
        if contact_id is None:
            raise InvalidInput(
                "give contactId: the customer contact whose feedback this is", field="contactId"
            )
        await visible_row(info, "Contact", contact_id, "contactId")
        return contact_id
    assert context.user is not None
    if contact_id is None:
        own = [
            row
            for row in await context.loaders.by_column(t.contacts, "customer_id").load(customer_id)
            if row.user_id == context.user.id
        ]
        if not own:
            raise NotAllowed(
                "your account is not linked to a contact of your organisation: ask the project team",
                field="contactId",
            )
        return int(own[0].id)
    contact = await visible_row(info, "Contact", contact_id, "contactId")
    if contact.user_id != context.user.id:
        raise NotAllowed(
            "you can record feedback only as yourself, not for another contact", field="contactId"
        )
    return contact_id
