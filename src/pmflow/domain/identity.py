"""API tokens: random, shown once, stored hashed, revocable, with optional expiry and last use."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.domain.tables import api_tokens, users

TOKEN_PREFIX = "pmf_"
# Only write last_used_at when it is older than this: a token used per request must not turn every
# read into a write.
LAST_USED_RESOLUTION_SECONDS = 60


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    user_id: int
    token: str  # the only time the secret is visible
    prefix: str
    expires_at: datetime | None


def issue_token(
    engine: WorkflowEngine, user_id: int, *, name: str = "default", expires_at: datetime | None = None
) -> IssuedToken:
    now = engine.clock()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("the expiry must be in the future", field="expires_at")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.database.write() as conn:
        user = conn.execute(select(users.c.id, users.c.active).where(users.c.id == user_id)).first()
        if user is None:
            raise NotFound(f"no user with id {user_id}", field="user_id")
        if not user.active:
            raise InvalidInput(f"user {user_id} is deactivated", field="user_id")
        token_id = conn.execute(
            api_tokens.insert().returning(api_tokens.c.id),
            {
                "user_id": user_id,
                "name": name[:100],
                "token_hash": hash_token(token),
                "prefix": token[: len(TOKEN_PREFIX) + 6],
                "created_at": now,
                "expires_at": expires_at,
            },
        ).scalar_one()
    return IssuedToken(int(token_id), user_id, token, token[: len(TOKEN_PREFIX) + 6], expires_at)


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


def revoke_token(engine: WorkflowEngine, token_id: int, *, user_id: int | None = None) -> None:
    with engine.database.write() as conn:
        query = update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        if conn.execute(query.values(revoked_at=engine.clock())).rowcount != 1:
            raise NotFound(f"no active token with id {token_id}", field="id")
