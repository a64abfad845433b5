"""Projects: the customer's project, its members, milestones, everything it holds, its report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from pmflow.api.access import hides, may_see_feedback, team_only
from pmflow.api.context import Info
from pmflow.api.governed import Governed, governed_fields
from pmflow.api.ids import to_global_id
from pmflow.api.loaders import in_thread
from pmflow.api.node import Node
from pmflow.api.pagination import Connection, connection, window
from pmflow.domain import tables as t
from pmflow.domain.report import project_report

if TYPE_CHECKING:
    from pmflow.api.changes.types import ChangeRequest
    from pmflow.api.customers.types import Customer, User
    from pmflow.api.deliverables.types import Deliverable
    from pmflow.api.health.types import HealthScore, ProjectHealth
    from pmflow.api.iterations.types import Iteration, WorkItem
    from pmflow.api.meetings.types import Feedback, Meeting
    from pmflow.api.requirements.types import Requirement
    from pmflow.api.risks.types import Risk


CustomerRef = Annotated["Customer", strawberry.lazy("pmflow.api.customers.types")]
UserRef = Annotated["User", strawberry.lazy("pmflow.api.customers.types")]
RequirementRef = Annotated["Requirement", strawberry.lazy("pmflow.api.requirements.types")]
ChangeRequestRef = Annotated["ChangeRequest", strawberry.lazy("pmflow.api.changes.types")]
IterationRef = Annotated["Iteration", strawberry.lazy("pmflow.api.iterations.types")]
WorkItemRef = Annotated["WorkItem", strawberry.lazy("pmflow.api.iterations.types")]
DeliverableRef = Annotated["Deliverable", strawberry.lazy("pmflow.api.deliverables.types")]
RiskRef = Annotated["Risk", strawberry.lazy("pmflow.api.risks.types")]
MeetingRef = Annotated["Meeting", strawberry.lazy("pmflow.api.meetings.types")]
FeedbackRef = Annotated["Feedback", strawberry.lazy("pmflow.api.meetings.types")]
ProjectHealthRef = Annotated["ProjectHealth", strawberry.lazy("pmflow.api.health.types")]
HealthScoreRef = Annotated["HealthScore", strawberry.lazy("pmflow.api.health.types")]


T = TypeVar("T")


@strawberry.type
class Milestone:
    name: str
    due: date


@strawberry.type(description="A person's role in one project.")
class Membership:
    id: strawberry.ID
    role: str = strawberry.field(
        description="manager, analyst, developer, designer, tester or customer_representative."
    )
    _user_pk: strawberry.Private[int]

    @strawberry.field
    async def user(self, info: Info) -> UserRef:
        from pmflow.api.customers.types import User

        row = await info.context.loaders.by_id(t.users).load(self._user_pk)
        return User.from_row(row)


@strawberry.type(description="A report a manager can send as is: Markdown, or the parts of it.")
class ProgressReport:
    title: str
    state: str
    state_label: str
    markdown: str
    data: JSON = strawberry.field(description="Done, in progress, next, decisions, changes, risks, feedback.")


def _rows_connection(
    rows: list[Any],
    convert: Callable[[Any], T],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[T]:
    return connection(rows, window(len(rows), first=first, after=after, last=last, before=before), convert)


async def _governed_children(
    info: Info,
    table: Any,
    project_id: int,
    convert: Callable[[Any], T],
    state: list[str] | None,
    page: tuple[int | None, str | None, int | None, str | None],
) -> Connection[T]:
    """A project's requirements, change requests, ... in one batched load, optionally by state."""
    rows = await info.context.loaders.by_column(table).load(project_id)
    if state:
        rows = [row for row in rows if row.state in state]
    return _rows_connection(rows, convert, *page)


@strawberry.type(description="A customer's project, run by the customer-project lifecycle.")
class Project(Node, Governed):
    id: strawberry.ID
    name: str
    goal: str | None
    scope: str | None
    milestones: list[Milestone]
    start_date: date | None
    target_date: date | None
    custom_fields: JSON = strawberry.field(description="Fields declared by the workflow file (validated).")
    created_at: datetime
    updated_at: datetime
    _customer_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any, info: Info) -> Project:
        return cls(
            id=strawberry.ID(to_global_id("Project", row.id)),
            name=row.name,
            goal=row.goal,
            scope=row.scope,
            milestones=[Milestone(name=m["name"], due=date.fromisoformat(m["due"])) for m in row.milestones],
            start_date=row.start_date,
            target_date=row.target_date,
            custom_fields=row.custom_fields,
            created_at=row.subject_created_at,
            updated_at=row.subject_updated_at,
            _customer_pk=row.customer_id,
            **governed_fields(row, info.context.app.engine),
        )

    @strawberry.field
    async def customer(self, info: Info) -> CustomerRef:
        from pmflow.api.customers.types import Customer

        row = await info.context.loaders.by_id(t.customers).load(self._customer_pk)
        return Customer.from_row(row)

    @strawberry.field
    async def members(self, info: Info) -> list[Membership]:
        rows = await info.context.loaders.by_column(t.memberships).load(self.database_id)
        return [
            Membership(id=strawberry.ID(to_global_id("Membership", r.id)), role=r.role, _user_pk=r.user_id)
            for r in rows
        ]

    @strawberry.field
    async def requirements(
        self,
        info: Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[RequirementRef]:
        from pmflow.api.requirements.types import Requirement

        return await _governed_children(
            info,
            t.requirements,
            self.database_id,
            lambda r: Requirement.from_row(r, info),
            state,
            (first, after, last, before),
        )

    @strawberry.field
    async def change_requests(
        self,
        info: Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ChangeRequestRef]:
        from pmflow.api.changes.types import ChangeRequest

        return await _governed_children(
            info,
            t.change_requests,
            self.database_id,
            lambda r: ChangeRequest.from_row(r, info),
            state,
            (first, after, last, before),
        )

    @strawberry.field
    async def iterations(
        self,
        info: Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[IterationRef]:
        from pmflow.api.iterations.types import Iteration

        return await _governed_children(
            info,
            t.iterations,
            self.database_id,
            lambda r: Iteration.from_row(r, info),
            state,
            (first, after, last, before),
        )

    @strawberry.field
    async def deliverables(
        self,
        info: Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[DeliverableRef]:
        from pmflow.api.deliverables.types import Deliverable

        return await _governed_children(
            info,
            t.deliverables,
            self.database_id,
            lambda r: Deliverable.from_row(r, info),
            state,
            (first, after, last, before),
        )

    @strawberry.field
    async def risks(
        self,
        info: Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[RiskRef]:
        from pmflow.api.risks.types import Risk

        return await _governed_children(
            info,
            t.risks,
            self.database_id,
            lambda r: Risk.from_row(r, info),
            state,
            (first, after, last, before),
        )

    @strawberry.field(description="Work items; filter by assignee, status, or only the blocked ones.")
    async def work_items(
        self,
        info: Info,
        assignee_id: strawberry.ID | None = None,
        status: list[str] | None = None,
        blocked: bool | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WorkItemRef]:
        from pmflow.api.ids import expect_id
        from pmflow.api.iterations.types import WorkItem

        rows = await info.context.loaders.by_column(t.work_items).load(self.database_id)
        if assignee_id is not None:
            assignee = expect_id(assignee_id, "User", field="assigneeId")
            rows = [r for r in rows if r.assignee_user_id == assignee]
        if status:
            rows = [r for r in rows if r.status in status]
        if blocked is not None:
            rows = [r for r in rows if bool(r.blocked_reason) == blocked]
        return _rows_connection(rows, lambda r: WorkItem.from_row(r, info), first, after, last, before)

    @strawberry.field
    async def meetings(
        self,
        info: Info,
        kind: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MeetingRef]:
        from pmflow.api.meetings.types import Meeting

        rows = await info.context.loaders.by_column(t.meetings).load(self.database_id)
        rows = rows if not kind else [r for r in rows if r.kind in kind]
        return _rows_connection(rows, lambda r: Meeting.from_row(r, info), first, after, last, before)

    @strawberry.field
    async def feedback(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[FeedbackRef]:
        from pmflow.api.meetings.types import Feedback

        rows = await info.context.loaders.by_column(t.feedback).load(self.database_id)
        rows = [r for r in rows if may_see_feedback(info.context, r)]
        return _rows_connection(rows, lambda r: Feedback.from_row(r, info), first, after, last, before)

    @strawberry.field(
        description=team_only(
            "Health now (0-100), computed live from every risk signal, each with its value, weight and "
            "the points it took off."
        )
    )
    async def health(self, info: Info) -> ProjectHealthRef | None:
        from pmflow.api.health.types import project_health

        if hides(info.context, "Project", self):
            return None
        return await project_health(info, self.database_id)

    @strawberry.field(
        description=team_only(
            "Recorded health scores, oldest first (newest last): one each time the score or its "
            "signals changed; `warning` marks a fall below the threshold."
        )
    )
    async def health_history(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[HealthScoreRef] | None:
        from pmflow.api.health.types import health_history

        if hides(info.context, "Project", self):
            return None
        return await health_history(info, self.database_id, first, after, last, before)

    @strawberry.field(
        description="Progress report: done, in progress, next, decisions, changes, risks, feedback. "
        "Risk owners and mitigation plans are left out for customer users (see Risk)."
    )
    async def progress_report(self, info: Info) -> ProgressReport:
        customer = info.context.customer_id is not None
        report = await in_thread(
            partial(project_report, survey_feedback=not customer), info.context.app.engine, self.database_id
        )
        if info.context.customer_id is not None:  # risk notes are internal (pmflow.api.access)
            report.open_risks = [
                dataclasses.replace(r, owner=None, mitigation=None) for r in report.open_risks
            ]
        return ProgressReport(
            title=report.title,
            state=report.state,
            state_label=report.state_label,
            markdown=report.to_markdown(),
            data=_jsonable(report.as_dict()),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
