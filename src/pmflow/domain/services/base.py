"""What every service shares: input parsing, the write transaction, versions, the audit trail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection, Table, select, update

from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import Conflict, InvalidInput, NotFound
from pmflow.core.tables import subjects
from pmflow.core.types import Actor
from pmflow.domain.tables import field_changes, projects

M = TypeVar("M", bound=BaseModel)

# Fields no edit may touch: the lifecycle owns them.
LIFECYCLE_FIELDS = frozenset({"state", "version", "workflow", "workflow_version"})


class Input(BaseModel):
    """Base of every service input: unknown keys are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)


def parse(model: type[M], data: Mapping[str, Any], *, what: str) -> M:
    """Validate ``data``; the first problem becomes an ``InvalidInput`` naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what}: expected an object with fields")
    lifecycle = sorted(set(data) & LIFECYCLE_FIELDS)
    if lifecycle:
        raise InvalidInput(
            f"{what}: '{lifecycle[0]}' changes only through the lifecycle: fire a transition instead",
            field=lifecycle[0],
        )
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field (known: {', '.join(model.model_fields)})"
        raise InvalidInput(f"{what}: {field + ': ' if field else ''}{message}", field=field) from error


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


class Service:
    """A service over one aggregate; every write is one transaction."""

    entity: str = ""

    def __init__(self, engine: WorkflowEngine) -> None:
        self.engine = engine
        self.database = engine.database

    def now(self) -> datetime:
        return self.engine.clock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.database.write() as conn:
            yield conn

    def row(
        self, conn: Connection, table: Table, row_id: int, what: str, *, lock: bool = False, field: str = "id"
    ) -> Any:
        """The row, or ``NotFound`` naming ``field`` (the input field the id came from)."""
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise InvalidInput(f"{what} id must be an integer, got {row_id!r}", field=field)
        query = select(table).where(table.c.id == row_id)
        found = conn.execute(query.with_for_update() if lock else query).first()
        if found is None:
            raise NotFound(f"no {what} with id {row_id}", field=field)
        return found

    def open_project(self, conn: Connection, project_id: int, *, lock: bool = False) -> Any:
        """The project row; refused once the project's lifecycle has ended (closed, cancelled)."""
        project = self.row(conn, projects, project_id, "project", lock=lock)
        subject = self.engine.get(project_id, connection=conn)
        if self.engine.definition_of(subject).is_final(subject.state):
            raise InvalidInput(
                f"project {project_id} is {subject.state.replace('_', ' ')}: "
                "nothing more can be added or changed",
                field="project_id",
            )
        return project

    def exists(self, conn: Connection, table: Table, row_id: int | None, what: str, field: str) -> None:
        if row_id is None:
            return
        if conn.execute(select(table.c.id).where(table.c.id == row_id)).first() is None:
            raise InvalidInput(f"no {what} with id {row_id}", field=field)

    def audit(
        self,
        conn: Connection,
        actor: Actor,
        entity_id: int,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        now: datetime,
        *,
        entity: str | None = None,
    ) -> list[str]:
        """Record each field whose value changes; returns the changed field names."""
        rows: list[dict[str, Any]] = [
            {
                "entity": entity or self.entity,
                "entity_id": entity_id,
                "field": name,
                "old_value": {"value": jsonable(old.get(name))},
                "new_value": {"value": jsonable(value)},
                "actor_id": actor.id,
                "changed_at": now,
            }
            for name, value in new.items()
            if jsonable(old.get(name)) != jsonable(value)
        ]
        if rows:
            conn.execute(field_changes.insert(), rows)
        return [str(r["field"]) for r in rows]

    def bump_own_version(
        self, conn: Connection, table: Table, row: Any, expected: int | None, now: datetime
    ) -> int:
        """Optimistic concurrency for entities outside a lifecycle (their own version column)."""
        if expected is not None and row.version != expected:
            raise Conflict(row.id, row.version, "edited")
        result = conn.execute(
            update(table)
            .where(table.c.id == row.id, table.c.version == row.version)
            .values(version=row.version + 1, updated_at=now)
        )
        if result.rowcount != 1:
            raise Conflict(row.id, row.version + 1, "edited")
        return int(row.version) + 1

    def bump_subject_version(
        self,
        conn: Connection,
        subject_id: int,
        expected: int | None,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """An edit of a governed entity moves its subject's version like a transition does."""
        current = conn.execute(
            select(subjects.c.version, subjects.c.state).where(subjects.c.id == subject_id).with_for_update()
        ).one()
        if expected is not None and current.version != expected:
            raise Conflict(subject_id, current.version, current.state)
        values: dict[str, Any] = {"version": current.version + 1, "updated_at": now}
        if data is not None:
            values["data"] = dict(data)
        result = conn.execute(
            update(subjects)
            .where(subjects.c.id == subject_id, subjects.c.version == current.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict(subject_id, current.version + 1, current.state)
        return int(current.version) + 1

    def state_of(self, conn: Connection, subject_id: int) -> str:
        return str(conn.execute(select(subjects.c.state).where(subjects.c.id == subject_id)).scalar_one())


def changed(patch: BaseModel, *, required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a patch sets (present in the input), with their new values.

    ``required`` fields may be changed but not emptied.
    """
    values = {name: getattr(patch, name) for name in patch.model_fields_set}
    for name in sorted(required & set(values)):
        if values[name] is None:
            raise InvalidInput(f"{name} cannot be empty", field=name)
    if not values:
        raise InvalidInput("nothing to change: give at least one field")
    return values


def check_dates(start: date | None, end: date | None, start_name: str, end_name: str) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"{end_name} ({end}) is before {start_name} ({start})", field=end_name)
