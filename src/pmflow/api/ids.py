"""Relay global ids: ``base64("Project:12")``, opaque to clients, typed for the server."""

from __future__ import annotations

import base64
import binascii

from pmflow.core.errors import InvalidInput
from pmflow.domain.services.base import MAX_ID


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str, *, field: str = "id") -> tuple[str, int]:
    """(type name, primary key); ``InvalidInput`` naming ``field`` when it is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        # a larger number names no row; the database drivers would raise on it instead of finding nothing
        if type_name and pk.isdigit() and int(pk) <= MAX_ID:
            return type_name, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput(f"'{global_id}' is not a pmflow id", field=field)


def expect_id(global_id: str, type_name: str, *, field: str = "id") -> int:
    """The primary key of a global id that must name a ``type_name``."""
    found, pk = from_global_id(global_id, field=field)
    if found != type_name:
        raise InvalidInput(f"'{global_id}' is a {found} id, expected a {type_name} id", field=field)
    return pk
