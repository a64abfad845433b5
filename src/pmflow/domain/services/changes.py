"""Change requests: what changes and why, its assessed impact; decided through the lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, NonNegativeFloat

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.people import user_id_of
from pmflow.domain.services.base import GovernedInput, GovernedPatch, Service, changed, parse
from pmflow.domain.services.requirements import check_requirements_of, governed_record
from pmflow.domain.tables import change_requests, contacts, users
from pmflow.domain.vocabulary import CHANGE_REQUEST

ASSESSABLE_STATES = ("submitted", "under_assessment", "deferred")


class ChangeRequestInput(GovernedInput):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    requested_by_contact_id: int | None = None
    affected_requirement_ids: list[int] = Field(default_factory=list)


class ImpactInput(GovernedPatch):
    impact_schedule_days: int | None = Field(default=None, ge=-365, le=3650)
    impact_cost: NonNegativeFloat | None = None
    impact_risk: str | None = None
    affected_requirement_ids: list[int] | None = None


class ChangeRequests(Service):
    entity = "change_request"

    def create(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(ChangeRequestInput, data, what="change request")
        now = self.now()
        with self.write() as conn:
            project = self.open_project(conn, project_id)
            if given.requested_by_contact_id is not None:
                contact = self.row(
                    conn, contacts, given.requested_by_contact_id, "contact", field="requested_by_contact_id"
                )
                if contact.customer_id != project.customer_id:
                    raise InvalidInput(
                        "the requesting contact is not a contact of this project's customer",
                        field="requested_by_contact_id",
                    )
            check_requirements_of(
                conn, project_id, given.affected_requirement_ids, "affected_requirement_ids"
            )
            requested_by_user = user_id_of(actor)
            self.exists(conn, users, requested_by_user, "user", "actor")
            subject = self.create_subject(conn, CHANGE_REQUEST, actor, given)
            values = given.model_dump(exclude={"workflow", "fields"})
            conn.execute(
                change_requests.insert(),
                {
                    **values,
                    "id": subject.id,
                    "project_id": project_id,
                    "requested_by_user_id": requested_by_user,
                },
            )
            self.audit_created(conn, actor, subject, values, now)
            return governed_record(conn, change_requests, subject.id)

    def assess(
        self, actor: Actor, change_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Record the impact assessment (schedule days, cost, risk, affected requirements), and
        custom fields of the change request's workflow under ``fields``."""
        patch = changed(
            parse(ImpactInput, data, what="impact assessment"),
            required=frozenset({"affected_requirement_ids"}),
        )
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, change_requests, change_id, "change request", lock=True)
            state = self.state_of(conn, change_id)
            if state not in ASSESSABLE_STATES:
                raise InvalidInput(
                    f"change request {change_id} is {state.replace('_', ' ')}: "
                    "its assessment can no longer change",
                    field="state",
                )
            if "affected_requirement_ids" in patch:
                check_requirements_of(
                    conn, row.project_id, patch["affected_requirement_ids"], "affected_requirement_ids"
                )
            self.save_governed(conn, actor, change_requests, row, patch, expected_version, now)
            return governed_record(conn, change_requests, change_id)

    def get(self, change_id: int) -> dict[str, Any]:
        with self.database.read() as conn:
            self.row(conn, change_requests, change_id, "change request")
            return governed_record(conn, change_requests, change_id)
