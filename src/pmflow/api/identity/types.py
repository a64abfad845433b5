"""API tokens as the API shows them (never the secret), who may see them, and the users list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import OperationType
from sqlalchemy import Select, func, or_, select

from pmflow.api.context import Info
from pmflow.api.customers.types import User
from pmflow.api.ids import expect_id, to_global_id
from pmflow.api.loaders import in_thread
from pmflow.api.pagination import Connection, connection, window
from pmflow.core.errors import NotAllowed
from pmflow.domain import tables as t


@strawberry.type(description="An API token, without its secret: that is shown once, when it is created.")
class ApiToken:
    id: strawberry.ID
    database_id: int = strawberry.field(description="The number `pmflow token revoke` takes.")
    name: str = strawberry.field(description="What it is for, e.g. 'laptop' or 'ci'.")
    prefix: str = strawberry.field(description="The token's first characters, to tell tokens apart.")
    user_id: strawberry.ID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    active: bool = strawberry.field(
        description="Accepted now: not revoked, not expired, and its user is not deactivated."
    )

    @classmethod
    def from_row(cls, row: Any, now: datetime, user_active: bool) -> ApiToken:
        return cls(
            id=strawberry.ID(to_global_id("ApiToken", row.id)),
            database_id=row.id,
            name=row.name,
            prefix=row.prefix,
            user_id=strawberry.ID(to_global_id("User", row.user_id)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            active=user_active
            and row.revoked_at is None
            and (row.expires_at is None or row.expires_at > now),
        )


def may_see_tokens(info: Info, user_id: int) -> bool:
    """Admins see everyone's tokens, others their own. Not in subscriptions for non-admins: viewers
    with the same role and customer share one execution of an event (``pmflow.api.fanout``), so an
    answer there must not depend on who exactly is asking."""
    context = info.context
    context.actor  # noqa: B018  (refuses anonymous requests)
    if context.is_admin:
        return True
    own = context.user is not None and context.user.id == user_id
    return own and info.operation.operation is not OperationType.SUBSCRIPTION


async def tokens_of(info: Info, user_id: int, user_active: bool) -> list[ApiToken] | None:
    """A user's tokens, oldest first, or None when the viewer may not see them."""
    if not may_see_tokens(info, user_id):
        return None
    rows = await info.context.loaders.by_column(t.api_tokens, "user_id").load(user_id)
    now = info.context.app.engine.clock()
    return [ApiToken.from_row(row, now, user_active) for row in rows]


@strawberry.input(description="All given conditions must hold.")
class UserFilter:
    role: str | None = strawberry.field(default=None, description="admin, manager, member or customer.")
    customer_id: strawberry.ID | None = None
    active: bool | None = None
    search: str | None = strawberry.field(default=None, description="Text in the email or name (any case).")


def _filtered(query: Select[Any], given: UserFilter | None) -> Select[Any]:
    if given is None:
        return query
    if given.role is not None:
        query = query.where(t.users.c.role == given.role)
    if given.customer_id is not None:
        query = query.where(
            t.users.c.customer_id == expect_id(given.customer_id, "Customer", field="filter.customerId")
        )
    if given.active is not None:
        query = query.where(t.users.c.active.is_(given.active))
    if given.search:
        text = given.search.lower()
        query = query.where(
            or_(
                func.lower(t.users.c.email).contains(text, autoescape=True),
                func.lower(t.users.c.name).contains(text, autoescape=True),
            )
        )
    return query


async def users_page(
    info: Info,
    given: UserFilter | None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[User]:
    """Sign-in accounts by email, for admins; anyone else is refused with NOT_ALLOWED."""
    context = info.context
    context.actor  # noqa: B018
    if not context.is_admin:
        raise NotAllowed("only an admin lists user accounts")
    base = _filtered(select(t.users), given)
    ordered = base.order_by(t.users.c.email, t.users.c.id)

    def load() -> tuple[list[Any], Any]:
        with context.app.database.read() as conn:
            total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
            page = window(total, first=first, after=after, last=last, before=before)
            rows = list(conn.execute(ordered.offset(page.start).limit(page.end - page.start)))
        return rows, page

    rows, page = await in_thread(load)
    return connection(rows, page, User.from_row, offset=page.start)


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Sign-in accounts, filtered, by email (admins only); at most 100 a page.")
    async def users(
        self,
        info: Info,
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[User]:
        return await users_page(info, filter, first=first, after=after, last=last, before=before)
