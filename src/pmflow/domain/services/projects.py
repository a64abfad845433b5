"""Projects and their members."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, select

from pmflow.core.errors import InvalidInput
from pmflow.core.tables import subjects
from pmflow.core.types import Actor
from pmflow.domain.people import user_id_of
from pmflow.domain.services.base import (
    Day,
    GovernedInput,
    GovernedPatch,
    Input,
    Service,
    changed,
    check_dates,
    jsonable,
    parse,
)
from pmflow.domain.tables import customers, memberships, projects, users
from pmflow.domain.vocabulary import PROJECT, ProjectRole


class Milestone(Input):
    name: str = Field(min_length=1, max_length=200)
    due: Day


class ProjectInput(GovernedInput):
    customer_id: int
    name: str = Field(min_length=1, max_length=200)
    goal: str | None = None
    scope: str | None = None
    milestones: list[Milestone] = Field(default_factory=list)
    start_date: Day | None = None
    target_date: Day | None = None
    manager_user_id: int | None = None


class ProjectPatch(GovernedPatch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    goal: str | None = None
    scope: str | None = None
    milestones: list[Milestone] | None = None
    start_date: Day | None = None
    target_date: Day | None = None


class MemberInput(Input):
    user_id: int
    role: ProjectRole


def project_record(conn: Connection, project_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(
            projects,
            subjects.c.state,
            subjects.c.version,
            subjects.c.workflow,
            subjects.c.workflow_version,
            subjects.c.data.label("fields"),
        )
        .join(subjects, subjects.c.id == projects.c.id)
        .where(projects.c.id == project_id)
    ).one()
    return dict(row._mapping)


class Projects(Service):
    entity = "project"

    def create(self, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(ProjectInput, data, what="project")
        check_dates(given.start_date, given.target_date, "start_date", "target_date")
        now = self.now()
        with self.write() as conn:
            self.row(conn, customers, given.customer_id, "customer", field="customer_id")
            manager = given.manager_user_id if given.manager_user_id is not None else user_id_of(actor)
            self.exists(conn, users, manager, "user", "manager_user_id")
            subject = self.create_subject(conn, PROJECT, actor, given)
            values = given.model_dump(exclude={"workflow", "fields", "manager_user_id"})
            values["milestones"] = jsonable(values["milestones"])
            conn.execute(projects.insert(), {**values, "id": subject.id})
            if manager is not None:
                self._insert_member(conn, subject.id, manager, "manager", now)
            columns = {k: v for k, v in values.items() if v not in (None, [])}
            self.audit_created(conn, actor, subject, columns, now)
            return project_record(conn, subject.id)

    def get(self, project_id: int) -> dict[str, Any]:
        with self.database.read() as conn:
            self.row(conn, projects, project_id, "project")
            return project_record(conn, project_id)

    def update(
        self, actor: Actor, project_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Edit fields (custom ones under ``fields``, validated by the workflow file); audited."""
        patch = changed(parse(ProjectPatch, data, what="project"), required=frozenset({"name", "milestones"}))
        now = self.now()
        with self.write() as conn:
            row = self.open_project(conn, project_id, lock=True)
            check_dates(
                patch.get("start_date", row.start_date),
                patch.get("target_date", row.target_date),
                "start_date",
                "target_date",
            )
            if "milestones" in patch:
                patch["milestones"] = jsonable(patch["milestones"])
            self.save_governed(conn, actor, projects, row, patch, expected_version, now)
            return project_record(conn, project_id)

    def add_member(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(MemberInput, data, what="membership")
        now = self.now()
        with self.write() as conn:
            project = self.open_project(conn, project_id)
            user = self.row(conn, users, given.user_id, "user", field="user_id")
            if given.role == "customer_representative" and user.customer_id != project.customer_id:
                raise InvalidInput(
                    "a customer representative must be a user of this project's customer", field="user_id"
                )
            if given.role != "customer_representative" and user.role == "customer":
                raise InvalidInput("customer users join a project as customer_representative", field="role")
            member_id = self._insert_member(conn, project_id, given.user_id, given.role, now)
            self.audit(conn, actor, member_id, {}, given.model_dump(), now, entity="membership")
            return dict(self.row(conn, memberships, member_id, "membership")._mapping)

    def members(self, project_id: int) -> list[dict[str, Any]]:
        with self.database.read() as conn:
            rows = conn.execute(
                select(memberships, users.c.name, users.c.email)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.project_id == project_id)
                .order_by(memberships.c.id)
            ).all()
            return [dict(r._mapping) for r in rows]

    def _insert_member(self, conn: Connection, project_id: int, user_id: int, role: str, now: Any) -> int:
        taken = conn.execute(
            select(memberships.c.role).where(
                memberships.c.project_id == project_id, memberships.c.user_id == user_id
            )
        ).scalar()
        if taken is not None:
            raise InvalidInput(f"this user is already a member of the project (as {taken})", field="user_id")
        return int(
            conn.execute(
                memberships.insert().returning(memberships.c.id),
                {
                    "project_id": project_id,
                    "user_id": user_id,
                    "role": role,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )
