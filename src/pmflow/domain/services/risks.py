"""The risk register: probability and impact (1-5), owner, mitigation and contingency plans."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import Field

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.services.base import GovernedInput, GovernedPatch, Service, changed, is_id, parse
from pmflow.domain.services.requirements import governed_record
from pmflow.domain.tables import memberships, risks
from pmflow.domain.vocabulary import RISK, RiskCategory

Score = Field(default=None, ge=1, le=5)


class RiskInput(GovernedInput):
    title: str = Field(min_length=1, max_length=300)
    category: RiskCategory = "other"
    probability: int | None = Score
    impact: int | None = Score
    owner_user_id: int | None = None
    mitigation_plan: str | None = None
    contingency_plan: str | None = None
    early_warning_indicator: str | None = None
    review_due_on: date | None = None


class RiskPatch(GovernedPatch):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    category: RiskCategory | None = None
    probability: int | None = Score
    impact: int | None = Score
    owner_user_id: int | None = None
    mitigation_plan: str | None = None
    contingency_plan: str | None = None
    early_warning_indicator: str | None = None
    review_due_on: date | None = None


class Risks(Service):
    entity = "risk"

    def _check_owner(self, conn: Any, project_id: int, owner: int | None) -> None:
        if owner is None:
            return
        member = (
            is_id(owner)
            and conn.execute(
                memberships.select().where(
                    memberships.c.project_id == project_id, memberships.c.user_id == owner
                )
            ).first()
        )
        if not member:
            raise InvalidInput(
                f"the owner (user {owner}) is not a member of this project", field="owner_user_id"
            )

    def create(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(RiskInput, data, what="risk")
        now = self.now()
        with self.write() as conn:
            self.open_project(conn, project_id)
            self._check_owner(conn, project_id, given.owner_user_id)
            subject = self.create_subject(conn, RISK, actor, given)
            values = given.model_dump(exclude={"workflow", "fields"})
            conn.execute(risks.insert(), {**values, "id": subject.id, "project_id": project_id})
            columns = {k: v for k, v in values.items() if v is not None}
            self.audit_created(conn, actor, subject, columns, now)
            return governed_record(conn, risks, subject.id)

    def update(
        self, actor: Actor, risk_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        patch = changed(parse(RiskPatch, data, what="risk"), required=frozenset({"title", "category"}))
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, risks, risk_id, "risk", lock=True)
            if "owner_user_id" in patch:
                self._check_owner(conn, row.project_id, patch["owner_user_id"])
            self.save_governed(conn, actor, risks, row, patch, expected_version, now)
            return governed_record(conn, risks, risk_id)
