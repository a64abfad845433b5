"""Relay ``Node``: any object by its global id, answering exactly as for an unknown id when the
viewer may not see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from sqlalchemy import Table

from pmflow.api import access
from pmflow.api.context import Info
from pmflow.api.ids import from_global_id
from pmflow.domain import tables as t


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@dataclass(frozen=True)
class NodeKind:
    table: Table
    convert: Callable[[Any, Info], Any]


def _kinds() -> dict[str, NodeKind]:
    from pmflow.api.changes.types import ChangeRequest
    from pmflow.api.customers.types import Contact, Customer, User
    from pmflow.api.deliverables.types import Deliverable
    from pmflow.api.iterations.types import Iteration, WorkItem
    from pmflow.api.meetings.types import Feedback, Meeting
    from pmflow.api.projects.types import Project
    from pmflow.api.requirements.types import Requirement
    from pmflow.api.risks.types import Risk
    from pmflow.api.surveys.types import Survey

    return {
        "Customer": NodeKind(t.customers, lambda r, i: Customer.from_row(r)),
        "Contact": NodeKind(t.contacts, lambda r, i: Contact.from_row(r)),
        "User": NodeKind(t.users, lambda r, i: User.from_row(r)),  # internal fields resolve per viewer
        "Project": NodeKind(t.projects, Project.from_row),
        "Requirement": NodeKind(t.requirements, Requirement.from_row),
        "ChangeRequest": NodeKind(t.change_requests, ChangeRequest.from_row),
        "Iteration": NodeKind(t.iterations, Iteration.from_row),
        "WorkItem": NodeKind(t.work_items, WorkItem.from_row),
        "Deliverable": NodeKind(t.deliverables, Deliverable.from_row),
        "Risk": NodeKind(t.risks, Risk.from_row),
        "Meeting": NodeKind(t.meetings, Meeting.from_row),
        "Feedback": NodeKind(t.feedback, Feedback.from_row),
        "Survey": NodeKind(t.surveys, Survey.from_row),
    }


_KINDS: dict[str, NodeKind] | None = None


def kinds() -> dict[str, NodeKind]:
    global _KINDS
    if _KINDS is None:
        _KINDS = _kinds()
    return _KINDS


async def visible(info: Info, type_name: str, row: Any) -> bool:
    """Whether the viewer may see ``row`` (of node type ``type_name``); the rules live in ``access``."""
    context = info.context
    if type_name == "Project":
        return await access.may_see_project(context, row)
    if type_name in ("Customer", "Contact"):
        return access.may_see_customer(context, int(row.id if type_name == "Customer" else row.customer_id))
    if type_name == "User":
        return access.may_see_user(context, row)
    if type_name == "Feedback" and not access.may_see_feedback(context, row):
        return False
    # everything else is in a project, and visible exactly when its project is
    project = await context.loaders.by_id(t.projects).load(row.project_id)
    return project is not None and await access.may_see_project(context, project)


async def resolve_node(info: Info, global_id: str) -> Any | None:
    """The object behind ``global_id`` if it exists and the viewer may see it, else None."""
    info.context.actor  # noqa: B018  (anonymous requests are refused here)
    try:
        type_name, pk = from_global_id(global_id)
    except Exception:
        return None
    kind = kinds().get(type_name)
    if kind is None:
        return None
    row = await info.context.loaders.by_id(kind.table).load(pk)
    if row is None or not await visible(info, type_name, row):
        return None
    return kind.convert(row, info)


NodeResolver = Callable[[Info, str], Awaitable[Any | None]]
