"""Turning GraphQL inputs into service input: camelCase ids decoded, absent fields left out."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry

from pmflow.api.errors import camel
from pmflow.api.ids import expect_id


def service_input(given: Any, ids: dict[str, str] | None = None) -> dict[str, Any]:
    """Fields that were given (``UNSET`` ones are left out, so a patch changes only what it names);
    ``ids`` maps a field to the node type its global id must name, e.g. {"customer_id": "Customer"}."""
    ids = ids or {}
    out: dict[str, Any] = {}
    for item in dataclasses.fields(given):
        value = getattr(given, item.name)
        if value is strawberry.UNSET:
            continue
        if item.name in ids and value is not None:
            field = str(camel(item.name))
            value = (
                [expect_id(v, ids[item.name], field=field) for v in value]
                if isinstance(value, list)
                else expect_id(value, ids[item.name], field=field)
            )
        elif dataclasses.is_dataclass(value):
            value = service_input(value)
        elif isinstance(value, list):
            value = [service_input(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[item.name] = value
    return out
