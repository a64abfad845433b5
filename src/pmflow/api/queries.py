"""Top-level queries: the viewer, any node by id, projects (filtered, ordered, paged), workflows."""

from __future__ import annotations

import asyncio
from datetime import date
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Select, asc, desc, func, select

from pmflow.api.access import project_clause
from pmflow.api.context import Info
from pmflow.api.customers.types import Customer, User
from pmflow.api.ids import expect_id
from pmflow.api.loaders import in_thread
from pmflow.api.node import Node, resolve_node
from pmflow.api.pagination import MAX_PAGE, Connection, connection, window
from pmflow.api.projects.types import Project
from pmflow.api.workflows import Workflow
from pmflow.core.errors import InvalidInput
from pmflow.core.tables import subjects
from pmflow.domain import tables as t


@strawberry.enum
class ProjectOrderField(Enum):
    NAME = "name"
    START_DATE = "start_date"
    TARGET_DATE = "target_date"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input
class ProjectOrder:
    field: ProjectOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input(description="All given conditions must hold.")
class ProjectFilter:
    state: list[str] | None = strawberry.field(
        default=None, description="Any of these states; a parent state matches its nested states."
    )
    customer_id: strawberry.ID | None = None
    search: str | None = strawberry.field(default=None, description="Text in the project's name (any case).")
    start_date_from: date | None = None
    start_date_to: date | None = None
    target_date_from: date | None = None
    target_date_to: date | None = None


def _filtered(query: Select[Any], given: ProjectFilter | None, customer_scope: int | None) -> Select[Any]:
    if customer_scope is not None:
        query = query.where(t.projects.c.customer_id == customer_scope)
    if given is None:
        return query
    if given.state:
        conditions = [subjects.c.state == s for s in given.state] + [
            subjects.c.state.startswith(s + ".", autoescape=True) for s in given.state
        ]
        from sqlalchemy import or_

        query = query.where(or_(*conditions))
    if given.customer_id is not None:
        query = query.where(
            t.projects.c.customer_id == expect_id(given.customer_id, "Customer", field="filter.customerId")
        )
    if given.search:
        query = query.where(func.lower(t.projects.c.name).contains(given.search.lower(), autoescape=True))
    for column, low, high in (
        (t.projects.c.start_date, given.start_date_from, given.start_date_to),
        (t.projects.c.target_date, given.target_date_from, given.target_date_to),
    ):
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    return query


_ORDER_COLUMNS = {
    ProjectOrderField.NAME: t.projects.c.name,
    ProjectOrderField.START_DATE: t.projects.c.start_date,
    ProjectOrderField.TARGET_DATE: t.projects.c.target_date,
    ProjectOrderField.CREATED_AT: subjects.c.created_at,
    ProjectOrderField.UPDATED_AT: subjects.c.updated_at,
}


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in person.")
    def viewer(self, info: Info) -> User:
        info.context.actor  # noqa: B018  (refuses anonymous requests)
        return User.from_row(info.context.user)

    @strawberry.field(
        description="Any object by its global id; null when it does not exist or is not yours to see."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(description="Several objects by id, in the same order; null for each one not found.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE:
            raise InvalidInput(f"at most {MAX_PAGE} ids at once", field="ids")
        # gathered, so the DataLoaders see every id in one tick and batch them
        return list(await asyncio.gather(*(resolve_node(info, i) for i in ids)))

    @strawberry.field(description="Projects the viewer may see, filtered and ordered; at most 100 a page.")
    async def projects(
        self,
        info: Info,
        filter: ProjectFilter | None = None,
        order_by: ProjectOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Project]:
        context = info.context
        context.actor  # noqa: B018
        base = select(t.projects.c.id).join(subjects, subjects.c.id == t.projects.c.id)
        base = _filtered(base, filter, None)
        scope = project_clause(context)  # who sees which projects: pmflow.api.access
        if scope is not None:
            base = base.where(scope)
        order = order_by or ProjectOrder(field=ProjectOrderField.CREATED_AT)
        column = _ORDER_COLUMNS[order.field]
        direction = asc if order.direction == OrderDirection.ASC else desc
        ordered = base.order_by(direction(column), direction(t.projects.c.id))

        def load() -> tuple[int, list[int], Any]:
            with context.app.database.read() as conn:
                total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
                page = window(total, first=first, after=after, last=last, before=before)
                ids = list(conn.execute(ordered.offset(page.start).limit(page.end - page.start)).scalars())
            return total, ids, page

        _, ids, page = await in_thread(load)
        rows = list(await context.loaders.by_id(t.projects).load_many(ids)) if ids else []  # one batch
        return connection(rows, page, lambda row: Project.from_row(row, info), offset=page.start)

    @strawberry.field(description="Customers the viewer may see (a customer sees only their own).")
    async def customers(self, info: Info) -> list[Customer]:
        context = info.context
        context.actor  # noqa: B018

        def load() -> list[Any]:
            query = select(t.customers).order_by(t.customers.c.name)
            if context.customer_id is not None:
                query = query.where(t.customers.c.id == context.customer_id)
            with context.app.database.read() as conn:
                return list(conn.execute(query))

        return [Customer.from_row(row) for row in await in_thread(load)]

    @strawberry.field(description="Lifecycles in use: every version, or one by name (and version).")
    def workflows(self, info: Info, name: str | None = None, version: int | None = None) -> list[Workflow]:
        info.context.actor  # noqa: B018
        registry = info.context.app.registry
        return [
            Workflow.of(d)
            for d in registry
            if (name is None or d.name == name) and (version is None or d.version == version)
        ]
