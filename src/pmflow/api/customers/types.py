"""Customers (client organisations), their contacts, and users."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from pmflow.api.access import hides, may_see_project, team_only
from pmflow.api.context import Info
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node
from pmflow.api.pagination import Connection, connection, window
from pmflow.domain import tables as t

if TYPE_CHECKING:
    from pmflow.api.identity.types import ApiToken
    from pmflow.api.projects.types import Project

ProjectRef = Annotated["Project", strawberry.lazy("pmflow.api.projects.types")]
ApiTokenRef = Annotated["ApiToken", strawberry.lazy("pmflow.api.identity.types")]


@strawberry.type(description="A person at the customer: who confirms, reviews, accepts, answers.")
class Contact(Node):
    id: strawberry.ID
    database_id: int
    name: str
    email: str
    role: str | None = strawberry.field(description="Their role at the client, e.g. 'Head of Operations'.")
    user_id: strawberry.ID | None = strawberry.field(description="Their sign-in account, if they have one.")
    version: int

    @classmethod
    def from_row(cls, row: Any) -> Contact:
        return cls(
            id=strawberry.ID(to_global_id("Contact", row.id)),
            database_id=row.id,
            name=row.name,
            email=row.email,
            role=row.role,
            user_id=strawberry.ID(to_global_id("User", row.user_id)) if row.user_id else None,
            version=row.version,
        )


@strawberry.type(description="A client organisation.")
class Customer(Node):
    id: strawberry.ID
    database_id: int
    name: str
    version: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Customer:
        return cls(
            id=strawberry.ID(to_global_id("Customer", row.id)),
            database_id=row.id,
            name=row.name,
            version=row.version,
            created_at=row.created_at,
        )

    @strawberry.field
    async def contacts(self, info: Info) -> list[Contact]:
        rows = await info.context.loaders.by_column(t.contacts, "customer_id").load(self.database_id)
        return [Contact.from_row(row) for row in rows]

    @strawberry.field
    async def projects(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ProjectRef]:
        from pmflow.api.projects.types import Project

        rows = await info.context.loaders.by_column(t.projects, "customer_id").load(self.database_id)
        rows = [row for row in rows if await may_see_project(info.context, row)]  # members: their own
        page = window(len(rows), first=first, after=after, last=last, before=before)
        return connection(rows, page, lambda row: Project.from_row(row, info))


@strawberry.type(description="Someone who signs in: a team member, an admin, or a customer's contact.")
class User(Node):
    id: strawberry.ID
    database_id: int
    name: str
    role: str = strawberry.field(description="admin, manager, member or customer.")
    customer_id: strawberry.ID | None
    _email: strawberry.Private[str]
    _active: strawberry.Private[bool]
    _customer_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            database_id=row.id,
            name=row.name,
            role=row.role,
            customer_id=strawberry.ID(to_global_id("Customer", row.customer_id)) if row.customer_id else None,
            _email=row.email,
            _active=row.active,
            _customer_pk=row.customer_id,
        )

    # Resolved per viewer (not when built): a User is built in many places, some without the viewer.
    @strawberry.field(description=team_only(when="the account is not of your own organisation"))
    def email(self, info: Info) -> str | None:
        return None if hides(info.context, "User", self) else self._email

    @strawberry.field(description=team_only(when="the account is not of your own organisation"))
    def active(self, info: Info) -> bool | None:
        return None if hides(info.context, "User", self) else self._active

    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        if self._customer_pk is None:
            return None
        row = await info.context.loaders.by_id(t.customers).load(self._customer_pk)
        return Customer.from_row(row) if row else None

    @strawberry.field(
        description="Their API tokens, oldest first (never the secrets); null unless they are yours "
        "or you are an admin."
    )
    async def tokens(self, info: Info) -> list[ApiTokenRef] | None:
        from pmflow.api.identity.types import tokens_of

        return await tokens_of(info, self.database_id, self._active)
