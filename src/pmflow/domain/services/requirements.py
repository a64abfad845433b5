"""Requirements: researched by the team, confirmed by the customer, changed only through change requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, select

from pmflow.core.errors import InvalidInput
from pmflow.core.tables import subjects
from pmflow.core.types import Actor
from pmflow.domain.services.base import GovernedInput, GovernedPatch, Service, changed, is_id, parse
from pmflow.domain.tables import requirements
from pmflow.domain.vocabulary import REQUIREMENT, Priority, RequirementSource

# Once the customer has confirmed (or the requirement is closed) its content is frozen.
EDITABLE_STATES = ("draft", "under_review")


class RequirementInput(GovernedInput):
    title: str = Field(min_length=1, max_length=300)
    description: str | None = None
    priority: Priority = "medium"
    acceptance_criteria: list[str] = Field(default_factory=list)
    source: RequirementSource = "interview"


class RequirementPatch(GovernedPatch):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = None
    priority: Priority | None = None
    acceptance_criteria: list[str] | None = None
    source: RequirementSource | None = None


def governed_record(conn: Connection, table: Any, row_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(table, subjects.c.state, subjects.c.version)
        .join(subjects, subjects.c.id == table.c.id)
        .where(table.c.id == row_id)
    ).one()
    return dict(row._mapping)


class Requirements(Service):
    entity = "requirement"

    def create(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(RequirementInput, data, what="requirement")
        now = self.now()
        with self.write() as conn:
            self.open_project(conn, project_id)
            subject = self.create_subject(conn, REQUIREMENT, actor, given)
            values = given.model_dump(exclude={"workflow", "fields"})
            conn.execute(requirements.insert(), {**values, "id": subject.id, "project_id": project_id})
            self.audit_created(conn, actor, subject, values, now)
            return governed_record(conn, requirements, subject.id)

    def update(
        self,
        actor: Actor,
        requirement_id: int,
        data: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        patch = changed(
            parse(RequirementPatch, data, what="requirement"),
            required=frozenset({"title", "priority", "acceptance_criteria", "source"}),
        )
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, requirements, requirement_id, "requirement", lock=True)
            state = self.state_of(conn, requirement_id)
            if state not in EDITABLE_STATES:
                hint = (
                    "it was confirmed by the customer: raise a change request"
                    if state == "confirmed"
                    else f"it is {state.replace('_', ' ')}"
                )
                raise InvalidInput(f"requirement {requirement_id} cannot be edited: {hint}", field="state")
            self.save_governed(conn, actor, requirements, row, patch, expected_version, now)
            return governed_record(conn, requirements, requirement_id)

    def get(self, requirement_id: int) -> dict[str, Any]:
        with self.database.read() as conn:
            self.row(conn, requirements, requirement_id, "requirement")
            return governed_record(conn, requirements, requirement_id)


def check_requirements_of(conn: Connection, project_id: int, ids: list[int], field: str) -> None:
    if not ids:
        return
    found = set(
        conn.execute(
            select(requirements.c.id).where(
                requirements.c.id.in_([i for i in ids if is_id(i)]), requirements.c.project_id == project_id
            )
        ).scalars()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"not requirements of this project: {', '.join(map(str, missing))}", field=field)
