"""The audit trail: one ``field_changes`` row per field a write sets or changes (append-only).

Shared by the services (edits) and the domain's actions and hooks (changes made inside a
transition), so every change lands in the same table, in the transaction that made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert

from pmflow.core.outbox import pending_row
from pmflow.core.tables import outbox
from pmflow.domain.tables import field_changes

# Custom fields (declared under `fields:` in a workflow file) are audited as `fields.<name>`.
CUSTOM_PREFIX = "fields."

# Outbox topic announcing that a project's records changed without a history event (a work item
# blocked or done): after-commit readers of the project, such as the health score, look again.
RECORDS_CHANGED = "project.records_changed"


def jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def custom(values: Mapping[str, Any]) -> dict[str, Any]:
    """Custom field values keyed as the audit trail names them (``fields.<name>``)."""
    return {f"{CUSTOM_PREFIX}{name}": value for name, value in values.items()}


def record_changes(
    conn: Connection,
    *,
    entity: str,
    entity_id: int,
    actor_id: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    now: datetime,
) -> list[str]:
    """Write one row per field of ``new`` whose value differs from ``old``; returns their names."""
    rows: list[dict[str, Any]] = [
        {
            "entity": entity,
            "entity_id": entity_id,
            "field": name,
            "old_value": {"value": jsonable(old.get(name))},
            "new_value": {"value": jsonable(value)},
            "actor_id": actor_id,
            "changed_at": now,
        }
        for name, value in new.items()
        if jsonable(old.get(name)) != jsonable(value)
    ]
    if rows:
        conn.execute(field_changes.insert(), rows)
    return [str(r["field"]) for r in rows]


def announce_records_changed(
    conn: Connection, *, project_id: int, entity: str, entity_id: int, fields: list[str], now: datetime
) -> None:
    """Queue, in the write's transaction, a ``RECORDS_CHANGED`` message about the project."""
    payload = {"project_id": project_id, "entity": entity, "id": entity_id, "fields": fields}
    conn.execute(
        insert(outbox).values(pending_row(str(uuid.uuid4()), RECORDS_CHANGED, project_id, payload, now))
    )
