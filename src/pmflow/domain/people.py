"""Who acts: turning a signed-in user into an engine ``Actor`` and back."""

from __future__ import annotations

from typing import Any

from pmflow.core.types import Actor
from pmflow.domain.vocabulary import ADMIN_ROLE

_PREFIX = "user:"


def actor_for(user: Any) -> Actor:
    """An actor for a ``users`` row. Project roles come from memberships per subject, not from here."""
    roles = frozenset({ADMIN_ROLE}) if user.role == ADMIN_ROLE else frozenset()
    return Actor(id=f"{_PREFIX}{user.id}", roles=roles, name=user.name)


def user_id_of(actor: Actor) -> int | None:
    if not actor.id.startswith(_PREFIX):
        return None
    try:
        return int(actor.id[len(_PREFIX) :])
    except ValueError:
        return None
