"""Token and account mutations: one's own tokens for everyone; other users' tokens and accounts
for admins. Every refusal is a typed error in the payload."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry

from pmflow.api.context import Context, Info
from pmflow.api.customers.mutations import UserPayload
from pmflow.api.customers.types import User
from pmflow.api.errors import Error, attempt
from pmflow.api.identity.types import ApiToken
from pmflow.api.ids import expect_id
from pmflow.api.inputs import service_input
from pmflow.api.loaders import in_thread
from pmflow.api.mutations import fresh
from pmflow.core.errors import NotAllowed, NotFound
from pmflow.domain.identity import Accounts, TokenInfo, get_token, issue_token, revoke_token


@strawberry.input
class CreateTokenInput:
    name: str = strawberry.field(
        description="What it is for, e.g. 'laptop' or 'ci' (at most 100 characters)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it stops working (UTC without an offset); never when not given."
    )


@strawberry.input
class CreateUserTokenInput:
    user_id: strawberry.ID
    name: str
    expires_at: datetime | None = None


@strawberry.input
class RevokeTokenInput:
    id: strawberry.ID = strawberry.field(description="The ApiToken's id.")


@strawberry.input(description="Only the fields given change.")
class UpdateUserInput:
    id: strawberry.ID
    email: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    role: str | None = strawberry.field(
        default=strawberry.UNSET, description="admin, manager, member or customer."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Required for (and only for) customer users; null to unbind."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false: the user's tokens stop working until reactivated."
    )


@strawberry.type
class CreateTokenPayload:
    token: str | None = strawberry.field(description="The secret: shown this once, store it now.")
    api_token: ApiToken | None
    errors: list[Error]


@strawberry.type
class RevokeTokenPayload:
    api_token: ApiToken | None
    errors: list[Error]


def _viewer_id(context: Context) -> int:
    context.actor  # noqa: B018  (refuses anonymous requests)
    assert context.user is not None  # the line above guarantees it
    return int(context.user.id)


def _shown(context: Context, token: TokenInfo) -> ApiToken:
    return ApiToken.from_row(token, context.app.engine.clock(), token.user_active)


async def _issue(
    context: Context, user_id: int, name: str, expires_at: datetime | None
) -> CreateTokenPayload:
    issued = await in_thread(
        lambda: issue_token(context.app.engine, user_id, name=name, expires_at=expires_at)
    )
    shown = await in_thread(get_token, context.app.engine, issued.id)
    return CreateTokenPayload(token=issued.token, api_token=_shown(context, shown), errors=[])


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="A new API token for yourself; the secret is in `token`, shown once.")
    async def create_token(self, info: Info, input: CreateTokenInput) -> CreateTokenPayload:
        context = info.context

        async def act() -> CreateTokenPayload:
            return await _issue(context, _viewer_id(context), input.name, input.expires_at)

        payload, errors = await attempt(act)
        return payload or CreateTokenPayload(token=None, api_token=None, errors=errors)

    @strawberry.mutation(
        description="A new API token for another user (admins only), e.g. for a service account."
    )
    async def create_user_token(self, info: Info, input: CreateUserTokenInput) -> CreateTokenPayload:
        context = info.context

        async def act() -> CreateTokenPayload:
            context.actor  # noqa: B018
            if not context.is_admin:
                raise NotAllowed("only an admin issues tokens for other users")
            user_id = expect_id(input.user_id, "User", field="userId")
            return await _issue(context, user_id, input.name, input.expires_at)

        payload, errors = await attempt(act)
        return payload or CreateTokenPayload(token=None, api_token=None, errors=errors)

    @strawberry.mutation(
        description="Revoke one of your tokens (admins: anyone's); requests with it fail from now on."
    )
    async def revoke_token(self, info: Info, input: RevokeTokenInput) -> RevokeTokenPayload:
        context = info.context

        async def act() -> ApiToken:
            viewer = _viewer_id(context)
            token_id = expect_id(input.id, "ApiToken")
            # someone else's token is answered exactly like an id that does not exist
            owner = None if context.is_admin else viewer
            try:
                revoked = await in_thread(lambda: revoke_token(context.app.engine, token_id, user_id=owner))
            except NotFound:
                raise NotFound("no token with this id", field="id") from None
            return _shown(context, revoked)

        token, errors = await attempt(act)
        return RevokeTokenPayload(api_token=token, errors=errors)

    @strawberry.mutation(
        description="Change a user's email, name, role, customer or active flag (admins only). "
        "A deactivated user's tokens stop working."
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        context = info.context

        async def act() -> User:
            actor = context.actor
            if not context.is_admin:
                raise NotAllowed("only an admin changes user accounts")
            user_id = expect_id(input.id, "User")
            data = service_input(input, {"customer_id": "Customer"})
            data.pop("id")
            row = await in_thread(Accounts(context.app.engine).update, actor, user_id, data)
            return cast(User, await fresh(info, "User", row["id"]))

        user, errors = await attempt(act)
        return UserPayload(user=user, errors=errors)
