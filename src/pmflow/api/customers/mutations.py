"""Users: accounts are created by an admin (tokens are issued separately, e.g. `pmflow user create`)."""

from __future__ import annotations

from typing import cast

import strawberry

from pmflow.api.context import Info
from pmflow.api.customers.types import User
from pmflow.api.errors import Error, attempt
from pmflow.api.inputs import service_input
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    role: str = strawberry.field(description="admin, manager, member or customer.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for (and only for) customer users."
    )


@strawberry.type
class UserPayload:
    user: User | None
    errors: list[Error]


@strawberry.type
class CustomerMutation:
    @strawberry.mutation(description="Create a sign-in account (admins only); no token is issued here.")
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        context = info.context

        async def act() -> User:
            actor = context.actor  # admins only: pmflow.api.access
            data = service_input(input, {"customer_id": "Customer"})
            row = await in_thread(context.domain.users.create, actor, data)
            return cast(User, await fresh(info, "User", row["id"]))

        user, errors = await attempt(act)
        return UserPayload(user=user, errors=errors)
