"""API tokens (random, shown once, stored hashed, revocable, optional expiry, last use) and the
admin's management of sign-in accounts (role, customer binding, deactivation)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import EmailStr, Field
from sqlalchemy import Connection, func, select, update

from pmflow.core.durations import DurationError, parse_duration
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.core.types import Actor
from pmflow.domain.services.base import Input, Service, changed, is_id, parse
from pmflow.domain.tables import api_tokens, contacts, customers, memberships, projects, users
from pmflow.domain.vocabulary import ADMIN_ROLE, CUSTOMER_ROLE, OrgRole

TOKEN_PREFIX = "pmf_"
# Only write last_used_at when it is older than this: a token used per request must not turn every
# read into a write.
LAST_USED_RESOLUTION_SECONDS = 60
MAX_TOKEN_NAME = 100
_SHOWN_PREFIX = len(TOKEN_PREFIX) + 6


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    user_id: int
    token: str  # the only time the secret is visible
    prefix: str
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: everything but its secret and its hash."""

    id: int
    user_id: int
    user_email: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_active: bool

    def status(self, now: datetime) -> str:
        """``active``, ``revoked``, ``expired`` or ``user deactivated`` (refused while the user is
        deactivated; works again if the user is reactivated)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active" if self.user_active else "user deactivated"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a token needs a name, e.g. 'laptop' or 'ci'", field="name")
    if len(name.strip()) > MAX_TOKEN_NAME or "\x00" in name:
        raise InvalidInput(
            f"a token name has at most {MAX_TOKEN_NAME} characters and no NUL character", field="name"
        )
    return name.strip()


def aware(moment: datetime) -> datetime:
    """The same moment in UTC (what ``pmflow`` stores and prints); no offset means UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_expiry(
    now: datetime, *, expires_in: str | None = None, expires_at: str | datetime | None = None
) -> datetime | None:
    """When a new token expires: ``expires_in`` an ISO-8601 duration (``P30D``, ``PT12H``) from
    ``now``, or ``expires_at`` an ISO-8601 time (UTC when it has no offset); None: never."""
    if expires_in is not None and expires_at is not None:
        raise InvalidInput("give either an expiry duration or an expiry time, not both", field="expires_in")
    if expires_in is not None:
        try:
            return now + parse_duration(expires_in)
        except DurationError as error:
            raise InvalidInput(
                str(error).replace("a timeout", "a token's lifetime"), field="expires_in"
            ) from None
    if expires_at is None:
        return None
    if isinstance(expires_at, str):
        try:
            expires_at = datetime.fromisoformat(expires_at.strip())
        except ValueError:
            raise InvalidInput(
                f"'{expires_at}' is not an ISO-8601 time such as '2027-01-31' or '2027-01-31T18:00:00+01:00'",
                field="expires_at",
            ) from None
    return aware(expires_at)


def issue_token(
    engine: WorkflowEngine, user_id: int, *, name: str = "default", expires_at: datetime | None = None
) -> IssuedToken:
    now = engine.clock()
    name = _check_name(name)
    if expires_at is not None:
        expires_at = aware(expires_at)
        if expires_at <= now:
            raise InvalidInput(
                f"the expiry ({expires_at.isoformat(timespec='seconds')}) must be in the future",
                field="expires_at",
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.database.write() as conn:
        user = (
            conn.execute(select(users.c.id, users.c.active).where(users.c.id == user_id)).first()
            if is_id(user_id)
            else None
        )
        if user is None:
            raise NotFound(f"no user with id {user_id}", field="user_id")
        if not user.active:
            raise InvalidInput(f"user {user_id} is deactivated", field="user_id")
        token_id = conn.execute(
            api_tokens.insert().returning(api_tokens.c.id),
            {
                "user_id": user_id,
                "name": name,
                "token_hash": hash_token(token),
                "prefix": token[:_SHOWN_PREFIX],
                "created_at": now,
                "expires_at": expires_at,
            },
        ).scalar_one()
    return IssuedToken(int(token_id), user_id, token, token[:_SHOWN_PREFIX], expires_at)


def authenticate(engine: WorkflowEngine, token: str) -> Any | None:
    """The active user a valid (unrevoked, unexpired) token belongs to, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = engine.clock()
    with engine.database.read() as conn:
        found = conn.execute(
            select(
                users,
                api_tokens.c.id.label("token_id"),
                api_tokens.c.expires_at.label("token_expires_at"),
                api_tokens.c.revoked_at.label("token_revoked_at"),
                api_tokens.c.last_used_at.label("token_last_used_at"),
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == hash_token(token))
        ).first()
    if found is None or found.token_revoked_at is not None or not found.active:
        return None
    if found.token_expires_at is not None and found.token_expires_at <= now:
        return None
    last_used = found.token_last_used_at
    if last_used is None or (now - last_used).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        with engine.database.write() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == found.token_id).values(last_used_at=now))
    return found


_TOKEN_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.user_id,
    users.c.email.label("user_email"),
    api_tokens.c.name,
    api_tokens.c.prefix,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.last_used_at,
    api_tokens.c.revoked_at,
    users.c.active.label("user_active"),
)


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(**{column.name: getattr(row, column.name) for column in _TOKEN_COLUMNS})


def list_tokens(engine: WorkflowEngine, user_id: int | None = None) -> list[TokenInfo]:
    """Tokens (of one user, or everyone's), oldest first; revoked and expired ones included."""
    query = select(*_TOKEN_COLUMNS).join(users, users.c.id == api_tokens.c.user_id)
    if user_id is not None:
        if not is_id(user_id):
            return []
        query = query.where(api_tokens.c.user_id == user_id)
    with engine.database.read() as conn:
        return [_token_info(row) for row in conn.execute(query.order_by(api_tokens.c.id))]


def get_token(engine: WorkflowEngine, token_id: int, *, user_id: int | None = None) -> TokenInfo:
    """One token; ``user_id`` limits the search to that user's tokens, so a token of someone else
    is answered exactly like an id that does not exist."""
    with engine.database.read() as conn:
        return _token_info(_token_row(conn, token_id, user_id))


def _token_row(conn: Connection, token_id: int, user_id: int | None) -> Any:
    query = (
        select(*_TOKEN_COLUMNS)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.id == token_id)
    )
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    found = conn.execute(query).first() if is_id(token_id) else None
    if found is None:
        raise NotFound(f"no token with id {token_id}", field="id")
    return found


def revoke_token(engine: WorkflowEngine, token_id: int, *, user_id: int | None = None) -> TokenInfo:
    """Revoke a token for good (``user_id``: only if it is theirs); requests with it fail at once."""
    now = engine.clock()
    with engine.database.write() as conn:
        row = _token_row(conn, token_id, user_id)
        if row.revoked_at is not None:
            raise InvalidInput(
                f"token {token_id} was already revoked at {row.revoked_at.isoformat(timespec='seconds')}",
                field="id",
            )
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now))
        return _token_info(_token_row(conn, token_id, user_id))


def user_by_email(engine: WorkflowEngine, email: str) -> Any:
    """The user with this email (any case), or ``NotFound`` naming ``email``."""
    with engine.database.read() as conn:
        found = conn.execute(select(users).where(func.lower(users.c.email) == email.strip().lower())).first()
    if found is None:
        raise NotFound(f"no user with email {email}", field="email")
    return found


# ---- accounts: what an admin changes about a user ---------------------------------------------------


class UserPatch(Input):
    email: EmailStr | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: OrgRole | None = None
    customer_id: int | None = None
    active: bool | None = None


class Accounts(Service):
    """Admin changes to sign-in accounts; who may call them is the caller's decision (the API lets
    only admins)."""

    entity = "user"

    def update(
        self, actor: Actor, user_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Change a user's email, name, role, customer binding or ``active``. A customer user must
        belong to a customer and only they may; a deactivated user's tokens stop working (and work
        again when the user is reactivated, unless revoked meanwhile)."""
        patch = changed(
            parse(UserPatch, data, what="user"), required=frozenset({"email", "name", "role", "active"})
        )
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, users, user_id, "user", lock=True)
            role = patch.get("role", row.role)
            customer_id = patch.get("customer_id", row.customer_id)
            if role == CUSTOMER_ROLE and customer_id is None:
                raise InvalidInput(
                    "a customer user must belong to a customer: give the customer", field="customer_id"
                )
            if role != CUSTOMER_ROLE and customer_id is not None:
                raise InvalidInput(
                    f"only customer users belong to a customer: clear the customer to make them a {role}",
                    field="customer_id",
                )
            self.exists(conn, customers, patch.get("customer_id"), "customer", "customer_id")
            if "email" in patch:
                self._unique_email(conn, patch["email"], user_id)
            if customer_id != row.customer_id:
                self._check_rebinding(conn, user_id, customer_id)
            if (
                row.role == ADMIN_ROLE
                and row.active
                and (role != ADMIN_ROLE or not patch.get("active", True))
            ):
                self._keep_an_admin(conn, user_id, "role" if role != ADMIN_ROLE else "active")
            self.bump_own_version(conn, users, row, expected_version, now)
            conn.execute(users.update().where(users.c.id == user_id).values(**patch))
            self.audit(conn, actor, user_id, row._mapping, patch, now)
            return dict(self.row(conn, users, user_id, "user")._mapping)

    def deactivate(self, actor: Actor, user_id: int) -> dict[str, Any]:
        return self.update(actor, user_id, {"active": False})

    def _unique_email(self, conn: Connection, email: str, own_id: int) -> None:
        other = conn.execute(select(users.c.id).where(func.lower(users.c.email) == email.lower())).scalar()
        if other is not None and other != own_id:
            raise InvalidInput(f"a user with email {email} already exists", field="email")

    def _check_rebinding(self, conn: Connection, user_id: int, customer_id: int | None) -> None:
        """A user's ties to the old customer (a contact's account, a project membership) would give
        them a view into a customer they no longer belong to: undo those first."""
        contact = conn.execute(
            select(contacts.c.name, contacts.c.customer_id).where(contacts.c.user_id == user_id)
        ).first()
        if contact is not None and contact.customer_id != customer_id:
            raise InvalidInput(
                f"this user is the account of contact '{contact.name}' of customer {contact.customer_id}: "
                "unlink the contact first",
                field="customer_id",
            )
        if customer_id is None:
            return
        foreign = conn.execute(
            select(projects.c.name)
            .join(memberships, memberships.c.project_id == projects.c.id)
            .where(memberships.c.user_id == user_id, projects.c.customer_id != customer_id)
            .limit(1)
        ).scalar()
        if foreign is not None:
            raise InvalidInput(
                f"this user is a member of project '{foreign}' of another customer: "
                "remove that membership first",
                field="customer_id",
            )

    def _keep_an_admin(self, conn: Connection, user_id: int, field: str) -> None:
        others = conn.execute(
            select(func.count())
            .select_from(users)
            .where(users.c.role == ADMIN_ROLE, users.c.active.is_(True), users.c.id != user_id)
        ).scalar_one()
        if not others:
            raise InvalidInput("this is the last active admin: make another user admin first", field=field)
