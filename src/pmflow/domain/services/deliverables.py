"""Deliverables: contract acceptance criteria and the internal QA checklist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.services.base import GovernedInput, GovernedPatch, Input, Service, changed, jsonable, parse
from pmflow.domain.services.requirements import governed_record
from pmflow.domain.tables import deliverables, iterations
from pmflow.domain.vocabulary import DELIVERABLE, DeliverableKind

FROZEN_STATES = ("customer_acceptance", "accepted")


class ChecklistItem(Input):
    item: str = Field(min_length=1)
    done: bool = False


class DeliverableInput(GovernedInput):
    title: str = Field(min_length=1, max_length=300)
    kind: DeliverableKind
    acceptance_criteria: list[str] = Field(default_factory=list)
    qa_checklist: list[ChecklistItem] = Field(default_factory=list)
    iteration_id: int | None = None


class DeliverablePatch(GovernedPatch):
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
            subject = self.create_subject(conn, DELIVERABLE, actor, given)
            values = jsonable(given.model_dump(exclude={"workflow", "fields"}))
            conn.execute(deliverables.insert(), {**values, "id": subject.id, "project_id": project_id})
            self.audit_created(conn, actor, subject, values, now)
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
            self.save_governed(conn, actor, deliverables, row, jsonable(patch), expected_version, now)
            return governed_record(conn, deliverables, deliverable_id)
