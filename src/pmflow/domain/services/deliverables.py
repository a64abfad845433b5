"""Deliverables: contract acceptance criteria and the internal QA checklist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.services.base import Input, Service, changed, jsonable, parse
from pmflow.domain.services.requirements import governed_record
from pmflow.domain.tables import deliverables, iterations
from pmflow.domain.vocabulary import DELIVERABLE, DeliverableKind

FROZEN_STATES = ("customer_acceptance", "accepted")


class ChecklistItem(Input):
    item: str = Field(min_length=1)
    done: bool = False


class DeliverableInput(Input):
    title: str = Field(min_length=1, max_length=300)
    kind: DeliverableKind
    acceptance_criteria: list[str] = Field(default_factory=list)
    qa_checklist: list[ChecklistItem] = Field(default_factory=list)
    iteration_id: int | None = None


class DeliverablePatch(Input):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    kind: DeliverableKind | None = None
    acceptance_criteria: list[str] | None = None
    qa_checklist: list[ChecklistItem] | None = None
    iteration_id: int | None = None


class Deliverables(Service):
    entity = "deliverable"

    def create(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(DeliverableInput, data, what="deliverable")
        now = self.now()
        with self.write() as conn:
            self.open_project(conn, project_id)
            if (
                given.iteration_id is not None
                and self.row(
                    conn, iterations, given.iteration_id, "iteration", field="iteration_id"
                ).project_id
                != project_id
            ):
                raise InvalidInput(
                    f"iteration {given.iteration_id} is not in this project", field="iteration_id"
                )
            subject = self.engine.create(DELIVERABLE, actor, connection=conn).subject
            values = jsonable(given.model_dump())
            conn.execute(deliverables.insert(), {**values, "id": subject.id, "project_id": project_id})
            self.audit(conn, actor, subject.id, {}, values, now)
            return governed_record(conn, deliverables, subject.id)

    def update(
        self,
        actor: Actor,
        deliverable_id: int,
        data: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        patch = changed(
            parse(DeliverablePatch, data, what="deliverable"),
            required=frozenset({"title", "kind", "acceptance_criteria", "qa_checklist"}),
        )
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, deliverables, deliverable_id, "deliverable", lock=True)
            state = self.state_of(conn, deliverable_id)
            if state in FROZEN_STATES:
                raise InvalidInput(
                    f"deliverable {deliverable_id} is {state.replace('_', ' ')}: it cannot be edited now",
                    field="state",
                )
            if (
                patch.get("iteration_id") is not None
                and self.row(
                    conn, iterations, patch["iteration_id"], "iteration", field="iteration_id"
                ).project_id
                != row.project_id
            ):
                raise InvalidInput(
                    f"iteration {patch['iteration_id']} is not in this project", field="iteration_id"
                )
            values = jsonable(patch)
            self.bump_subject_version(conn, deliverable_id, expected_version, now)
            conn.execute(deliverables.update().where(deliverables.c.id == deliverable_id).values(**values))
            self.audit(conn, actor, deliverable_id, row._mapping, values, now)
            return governed_record(conn, deliverables, deliverable_id)
