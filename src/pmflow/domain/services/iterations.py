"""Iterations (1-2 weeks unless the workflow file allows otherwise) and their work items."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import Field, NonNegativeFloat
from sqlalchemy import Connection, func, select

from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.audit import announce_records_changed
from pmflow.domain.services.base import (
    Day,
    GovernedInput,
    GovernedPatch,
    Input,
    Service,
    changed,
    check_dates,
    is_id,
    parse,
)
from pmflow.domain.services.requirements import governed_record
from pmflow.domain.tables import iterations, meetings, memberships, requirements, users, work_items
from pmflow.domain.vocabulary import ITERATION, WorkStatus

DEFAULT_LENGTH_DAYS = (5, 14)  # one working week to two calendar weeks, both ends included
PLANNABLE_STATES = ("planned",)
# Work-item fields the project's health reads (its blocked-work signal).
HEALTH_FIELDS = frozenset({"status", "blocked_reason"})


class IterationInput(GovernedInput):
    goal: str = Field(min_length=1)
    start_date: Day
    end_date: Day


class IterationPatch(GovernedPatch):
    goal: str | None = Field(default=None, min_length=1)
    start_date: Day | None = None
    end_date: Day | None = None


class WorkItemInput(Input):
    title: str = Field(min_length=1, max_length=300)
    iteration_id: int | None = None
    requirement_id: int | None = None
    assignee_user_id: int | None = None
    estimate: NonNegativeFloat | None = None
    status: WorkStatus = "todo"
    blocked_reason: str | None = None


class WorkItemPatch(Input):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    iteration_id: int | None = None
    requirement_id: int | None = None
    assignee_user_id: int | None = None
    estimate: NonNegativeFloat | None = None
    status: WorkStatus | None = None
    blocked_reason: str | None = None


def length_limits(engine: WorkflowEngine) -> tuple[int, int]:
    """Allowed iteration length in days, from `settings: {iteration_days: {min, max}}` of the workflow."""
    definition = engine.registry.get("iteration")
    settings = getattr(definition, "settings", None) or {}
    days = settings.get("iteration_days") or {}
    try:
        return int(days.get("min", DEFAULT_LENGTH_DAYS[0])), int(days.get("max", DEFAULT_LENGTH_DAYS[1]))
    except (AttributeError, TypeError, ValueError) as error:
        raise InvalidInput(
            f"settings.iteration_days of the iteration workflow must be {{min: <days>, max: <days>}}, "
            f"got {days!r}",
            field="settings.iteration_days",
        ) from error


class Iterations(Service):
    entity = "iteration"

    def _check_length(self, start: date, end: date) -> None:
        check_dates(start, end, "start_date", "end_date")
        low, high = length_limits(self.engine)
        days = (end - start).days + 1
        if not low <= days <= high:
            raise InvalidInput(
                f"an iteration lasts {low} to {high} days; {start} to {end} is {days} days "
                "(the iteration workflow's settings.iteration_days allows otherwise)",
                field="end_date",
            )

    def plan(self, actor: Actor, project_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(IterationInput, data, what="iteration")
        self._check_length(given.start_date, given.end_date)
        now = self.now()
        with self.write() as conn:
            self.open_project(conn, project_id, lock=True)
            number = 1 + int(
                conn.execute(
                    select(func.coalesce(func.max(iterations.c.number), 0)).where(
                        iterations.c.project_id == project_id
                    )
                ).scalar_one()
            )
            subject = self.create_subject(conn, ITERATION, actor, given)
            values = given.model_dump(exclude={"workflow", "fields"})
            conn.execute(
                iterations.insert(), {**values, "id": subject.id, "project_id": project_id, "number": number}
            )
            self.audit_created(conn, actor, subject, values, now)
            return governed_record(conn, iterations, subject.id)

    def update(
        self, actor: Actor, iteration_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        patch = changed(
            parse(IterationPatch, data, what="iteration"),
            required=frozenset({"goal", "start_date", "end_date"}),
        )
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, iterations, iteration_id, "iteration", lock=True)
            if ("start_date" in patch or "end_date" in patch) and self.state_of(
                conn, iteration_id
            ) not in PLANNABLE_STATES:
                raise InvalidInput("the dates of a started iteration cannot change", field="start_date")
            self._check_length(patch.get("start_date", row.start_date), patch.get("end_date", row.end_date))
            self.save_governed(conn, actor, iterations, row, patch, expected_version, now)
            return governed_record(conn, iterations, iteration_id)

    def get(self, iteration_id: int) -> dict[str, Any]:
        with self.database.read() as conn:
            self.row(conn, iterations, iteration_id, "iteration")
            return governed_record(conn, iterations, iteration_id)


class WorkItems(Service):
    entity = "work_item"

    def _check_links(self, conn: Connection, project_id: int, values: Mapping[str, Any]) -> None:
        for field, table, what in (
            ("iteration_id", iterations, "iteration"),
            ("requirement_id", requirements, "requirement"),
        ):
            linked = values.get(field)
            if linked is not None:
                owner = (
                    conn.execute(select(table.c.project_id).where(table.c.id == linked)).scalar()
                    if is_id(linked)
                    else None
                )
                if owner != project_id:
                    raise InvalidInput(f"no {what} {linked} in this project", field=field)
        assignee = values.get("assignee_user_id")
        if assignee is not None:
            self.exists(conn, users, assignee, "user", "assignee_user_id")
            member = conn.execute(
                select(memberships.c.id).where(
                    memberships.c.project_id == project_id, memberships.c.user_id == assignee
                )
            ).first()
            if member is None:
                raise InvalidInput(
                    f"the assignee (user {assignee}) is not a member of this project",
                    field="assignee_user_id",
                )

    def create(
        self,
        actor: Actor,
        project_id: int,
        data: Mapping[str, Any],
        *,
        meeting_id: int | None = None,
        connection: Connection | None = None,
    ) -> dict[str, Any]:
        given = parse(WorkItemInput, data, what="work item")
        now = self.now()
        if connection is not None:
            return self._create(connection, actor, project_id, given, meeting_id, now)
        with self.write() as conn:
            return self._create(conn, actor, project_id, given, meeting_id, now)

    def _create(
        self,
        conn: Connection,
        actor: Actor,
        project_id: int,
        given: WorkItemInput,
        meeting_id: int | None,
        now: Any,
    ) -> dict[str, Any]:
        self.open_project(conn, project_id)
        values = given.model_dump()
        self._check_links(conn, project_id, values)
        if meeting_id is not None:
            self.exists(conn, meetings, meeting_id, "meeting", "meeting_id")
        item_id = conn.execute(
            work_items.insert().returning(work_items.c.id),
            {
                **values,
                "project_id": project_id,
                "meeting_id": meeting_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        fields = self.audit(conn, actor, item_id, {}, {k: v for k, v in values.items() if v is not None}, now)
        self._announce(conn, project_id, item_id, fields, now)
        return dict(self.row(conn, work_items, item_id, "work item")._mapping)

    def _announce(self, conn: Connection, project_id: int, item_id: int, fields: list[str], now: Any) -> None:
        # what the project's health reads of work items (blocked work): say so after commit
        if HEALTH_FIELDS.intersection(fields):
            announce_records_changed(
                conn, project_id=project_id, entity="work_item", entity_id=item_id, fields=fields, now=now
            )

    def update(
        self, actor: Actor, item_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        patch = changed(parse(WorkItemPatch, data, what="work item"), required=frozenset({"title", "status"}))
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, work_items, item_id, "work item", lock=True)
            self._check_links(conn, row.project_id, patch)
            self.bump_own_version(conn, work_items, row, expected_version, now)
            conn.execute(work_items.update().where(work_items.c.id == item_id).values(**patch))
            fields = self.audit(conn, actor, item_id, row._mapping, patch, now)
            self._announce(conn, row.project_id, item_id, fields, now)
            return dict(self.row(conn, work_items, item_id, "work item")._mapping)
