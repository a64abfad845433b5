"""What every service shares: input parsing, the write transaction, versions, the audit trail."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Table, select, update

from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import Conflict, InvalidInput, NotFound, PmflowError
from pmflow.core.fields import check_fields
from pmflow.core.tables import subjects
from pmflow.core.types import Actor, Subject
from pmflow.domain.audit import announce_records_changed, custom, jsonable, record_changes
from pmflow.domain.tables import projects

__all__ = [
    "Day",
    "EditConflict",
    "GovernedInput",
    "GovernedPatch",
    "Input",
    "Service",
    "changed",
    "check_dates",
    "is_id",
    "jsonable",
    "parse",
]

M = TypeVar("M", bound=BaseModel)

# Fields no edit may touch: the lifecycle owns them. A create may name its `workflow` (see
# GovernedInput): a model that declares one of these names accepts it.
LIFECYCLE_FIELDS = frozenset({"state", "version", "workflow", "workflow_version"})
# What a governed create or edit carries besides the entity's own columns.
GOVERNED_FIELDS = ("workflow", "fields")
# Ids are BIGINT on PostgreSQL: anything outside 1..MAX_ID cannot name a row.
MAX_ID = 2**63 - 1

# A calendar day: strict models still read "2025-03-03" (JSON has no date type).
Day = Annotated[date, Field(strict=False)]


def is_id(value: object) -> bool:
    """An integer that can name a row (not a bool, within 1..2**63-1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


class Input(BaseModel):
    """Base of every service input: unknown keys are errors, strings are trimmed, types are strict
    (no "1" for 1, no NaN or Infinity); dates are the exception (declare them as ``Day``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class GovernedInput(Input):
    """A new governed entity: which lifecycle (when several govern the kind) and its custom fields."""

    workflow: str | None = Field(default=None, min_length=1, max_length=100)
    fields: dict[str, Any] = Field(default_factory=dict)


class GovernedPatch(Input):
    """An edit of a governed entity may change its custom fields (``None`` removes one)."""

    fields: dict[str, Any] | None = None


def _unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """The first value no database stores faithfully: text with NUL, a NaN or an infinite number."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "text cannot contain the NUL character (\\x00)"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return path, "a number must be finite (not NaN or Infinity)"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return where, "a name cannot contain the NUL character (\\x00)"
            found = _unstorable(item, where)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}.{index}")
            if found:
                return found
    return None


def parse(model: type[M], data: Mapping[str, Any], *, what: str) -> M:
    """Validate ``data``; the first problem becomes an ``InvalidInput`` naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what}: expected an object with fields")
    lifecycle = sorted((set(data) & LIFECYCLE_FIELDS) - set(model.model_fields))
    if lifecycle:
        raise InvalidInput(
            f"{what}: '{lifecycle[0]}' changes only through the lifecycle: fire a transition instead",
            field=lifecycle[0],
        )
    bad = _unstorable(data, "")
    if bad:
        raise InvalidInput(f"{what}: {bad[0]}: {bad[1]}", field=bad[0])
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            own = [n for n in model.model_fields if n not in GOVERNED_FIELDS]
            known = own + [n for n in GOVERNED_FIELDS if n in model.model_fields]
            message = f"unknown field (known: {', '.join(known)})"
        raise InvalidInput(f"{what}: {field + ': ' if field else ''}{message}", field=field) from error


class EditConflict(Conflict):
    """Someone else edited an entity without a lifecycle (customer, work item) first.

    Same code as ``Conflict`` (``CONFLICT``); the message names the entity and its version now.
    Such entities have no state: ``current_state`` is empty.
    """

    def __init__(self, entity: str, entity_id: int, current_version: int) -> None:
        PmflowError.__init__(
            self,
            f"{entity.replace('_', ' ')} {entity_id} was changed concurrently: "
            f"it is now at version {current_version}",
            field="expectedVersion",
        )
        self.entity = entity
        self.entity_id = entity_id
        self.current_version = current_version
        self.current_state = ""


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
        found = None
        if is_id(row_id):
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
        """A reference given in the input names an existing row (an id out of range names none)."""
        if row_id is None:
            return
        if not is_id(row_id) or conn.execute(select(table.c.id).where(table.c.id == row_id)).first() is None:
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
        return record_changes(
            conn,
            entity=entity or self.entity,
            entity_id=entity_id,
            actor_id=actor.id,
            old=old,
            new=new,
            now=now,
        )

    # ---- governed entities: a lifecycle, custom fields, the subject's version ----------------

    def create_subject(self, conn: Connection, kind: str, actor: Actor, given: GovernedInput) -> Subject:
        """The new entity's subject: in the named workflow (needed when several govern ``kind``),
        its custom fields checked against that workflow's ``fields:`` (required ones too)."""
        values = {name: value for name, value in given.fields.items() if value is not None}
        registry = self.engine.registry
        candidates = registry.for_subject(kind)
        definition = (
            registry.get(given.workflow)
            if given.workflow is not None
            else (candidates[0] if len(candidates) == 1 else None)
        )
        if definition is not None and definition.subject == kind:
            check_custom(definition, values, complete=True)
        # the engine resolves the workflow again and refuses a missing, foreign or ambiguous one
        return self.engine.create(kind, actor, workflow=given.workflow, data=values, connection=conn).subject

    def audit_created(
        self, conn: Connection, actor: Actor, subject: Subject, columns: Mapping[str, Any], now: datetime
    ) -> None:
        """Audit a new governed entity: its columns and its custom fields (as ``fields.<name>``)."""
        self.audit(conn, actor, subject.id, {}, {**columns, **custom(subject.data)}, now)

    def save_governed(
        self,
        conn: Connection,
        actor: Actor,
        table: Table,
        row: Any,
        patch: Mapping[str, Any],
        expected_version: int | None,
        now: datetime,
    ) -> None:
        """Write an edit of a governed entity: custom fields (``patch["fields"]``) checked and merged
        into the subject's data, the subject's version moved like a transition moves it, the
        columns written; every changed value audited."""
        columns = {k: v for k, v in patch.items() if k != "fields"}
        given = patch.get("fields") or {}
        old: dict[str, Any] = dict(row._mapping)
        new: dict[str, Any] = dict(columns)
        data = None
        if given:
            self._lock_subject(conn, row.id)
            subject = self.engine.get(row.id, connection=conn)
            check_custom(self.engine.definition_of(subject), given, complete=False)
            data = {k: v for k, v in {**subject.data, **given}.items() if v is not None}
            old.update(custom(subject.data))
            new.update(custom(given))
        self.bump_subject_version(conn, row.id, expected_version, now, data=data)
        if columns:
            conn.execute(update(table).where(table.c.id == row.id).values(**columns))
        fields = self.audit(conn, actor, row.id, old, new, now)
        if fields:
            # an edit writes no history event: readers of the project after commit (its health: a
            # risk re-scored, a milestone moved) hear of it this way
            project_id = int(row.id if table.name == "projects" else row.project_id)
            announce_records_changed(
                conn, project_id=project_id, entity=self.entity, entity_id=int(row.id), fields=fields, now=now
            )

    def _lock_subject(self, conn: Connection, subject_id: int) -> Any:
        return conn.execute(
            select(subjects.c.version, subjects.c.state).where(subjects.c.id == subject_id).with_for_update()
        ).one()

    def bump_own_version(
        self, conn: Connection, table: Table, row: Any, expected: int | None, now: datetime
    ) -> int:
        """Optimistic concurrency for entities outside a lifecycle (their own version column)."""
        if expected is not None and row.version != expected:
            raise EditConflict(self.entity, row.id, row.version)
        result = conn.execute(
            update(table)
            .where(table.c.id == row.id, table.c.version == row.version)
            .values(version=row.version + 1, updated_at=now)
        )
        if result.rowcount != 1:
            raise EditConflict(self.entity, row.id, row.version + 1)
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
        current = self._lock_subject(conn, subject_id)
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


def check_custom(definition: WorkflowDefinition, values: Mapping[str, Any], *, complete: bool) -> None:
    """``check_fields`` for the ``fields`` of a service input: a problem names ``fields.<name>``."""
    try:
        check_fields(definition, values, complete=complete)
    except InvalidInput as error:
        raise InvalidInput(
            error.message, field=f"fields.{error.field}" if error.field else "fields"
        ) from error


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
