"""Governed entities beyond projects: custom fields and the choice of workflow on every create and
edit; the audit trail covers changes made inside transitions and cannot be rewritten; concurrent
edits of entities without a lifecycle name the entity; strict input (no "1" for 1, no NUL, no NaN,
no id the database cannot hold)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
from alembic import command
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from domain_helpers import (
    DAY0,
    World,
    counts,
    day,
    make_world,
    plan_iteration,
    refused,
    requirement,
    rows,
    to_execution,
)
from pmflow.app import MIGRATIONS
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import Conflict, ErrorCode, InvalidInput, NotFound, PluginError
from pmflow.core.hookspecs import hookimpl
from pmflow.core.migrate import alembic_config
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.types import HistoryEvent, TransitionContext
from pmflow.domain.services import Domain
from pmflow.domain.tables import field_changes, work_items

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
FILES = {
    "requirement": "requirement.yaml",
    "change_request": "change-request.yaml",
    "iteration": "iteration.yaml",
    "deliverable": "deliverable.yaml",
    "risk": "risk.yaml",
}
FIELDS = """
fields:
  ticket: {type: string, maxLength: 20, required: true, label: Ticket}
  points: {type: integer, minimum: 0}
"""

Create = Callable[[Domain, World, dict[str, Any]], dict[str, Any]]
Edit = Callable[[Domain, World, int, dict[str, Any]], dict[str, Any]]


def _domain_over(
    engine: WorkflowEngine, folder: Path, catalog: Catalog, plugins: pluggy.PluginManager
) -> Domain:
    """Services over the same database as ``engine``, with the workflows in ``folder``."""
    return Domain(WorkflowEngine(engine.database, WorkflowRegistry.load([folder], catalog), plugins))


@pytest.fixture
def world(domain: Domain) -> World:
    w = make_world(domain, defined=True)
    to_execution(w)
    return w


@pytest.fixture
def fielded(
    world: World, engine: WorkflowEngine, tmp_path: Path, catalog: Catalog, plugins: pluggy.PluginManager
) -> Domain:
    """The same database, with workflows where every governed kind declares `ticket` (required)
    and `points`."""
    folder = tmp_path / "fielded"
    shutil.copytree(WORKFLOWS, folder)
    for name in FILES.values():
        with (folder / name).open("a", encoding="utf-8") as file:
            file.write(FIELDS)
    return _domain_over(engine, folder, catalog, plugins)


@pytest.fixture
def twins(
    world: World, engine: WorkflowEngine, tmp_path: Path, catalog: Catalog, plugins: pluggy.PluginManager
) -> Domain:
    """The same database, where each kind is governed by two workflows: the shipped one and
    '<name>-lite', a copy under another name."""
    folder = tmp_path / "twins"
    shutil.copytree(WORKFLOWS, folder)
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        name = path.stem
        source = path.read_text(encoding="utf-8")
        assert f"\nworkflow: {name}\n" in source
        (folder / f"{name}-lite.yaml").write_text(
            source.replace(f"\nworkflow: {name}\n", f"\nworkflow: {name}-lite\n"), encoding="utf-8"
        )
    return _domain_over(engine, folder, catalog, plugins)


# ---- one create and one edit per governed kind -------------------------------------------------------

CREATES: dict[str, Create] = {
    "project": lambda d, w, extra: d.projects.create(
        w.manager, {"customer_id": w.customer_id, "name": "Shop", **extra}
    ),
    "requirement": lambda d, w, extra: d.requirements.create(
        w.manager, w.project_id, {"title": "T", **extra}
    ),
    "change_request": lambda d, w, extra: d.change_requests.create(
        w.manager, w.project_id, {"title": "T", "description": "D", "reason": "R", **extra}
    ),
    "iteration": lambda d, w, extra: d.iterations.plan(
        w.manager,
        w.project_id,
        {"goal": "G", "start_date": day(28).isoformat(), "end_date": day(41).isoformat(), **extra},
    ),
    "deliverable": lambda d, w, extra: d.deliverables.create(
        w.manager, w.project_id, {"title": "T", "kind": "code", **extra}
    ),
    "risk": lambda d, w, extra: d.risks.create(w.manager, w.project_id, {"title": "T", **extra}),
}

EDITS: dict[str, Edit] = {
    "project": lambda d, w, i, data: d.projects.update(w.manager, i, data),
    "requirement": lambda d, w, i, data: d.requirements.update(w.manager, i, data),
    "change_request": lambda d, w, i, data: d.change_requests.assess(w.manager, i, data),
    "iteration": lambda d, w, i, data: d.iterations.update(w.manager, i, data),
    "deliverable": lambda d, w, i, data: d.deliverables.update(w.manager, i, data),
    "risk": lambda d, w, i, data: d.risks.update(w.manager, i, data),
}

FIELDED = sorted(FILES)


def _audited(domain: Domain, entity: str, entity_id: int) -> dict[str, tuple[Any, Any]]:
    """The audit trail of one entity, latest change of each field: name -> (old, new)."""
    found = rows(
        domain, field_changes, field_changes.c.entity == entity, field_changes.c.entity_id == entity_id
    )
    return {r["field"]: (r["old_value"]["value"], r["new_value"]["value"]) for r in found}


@pytest.mark.parametrize("kind", FIELDED)
def test_custom_fields_on_create_are_checked_stored_and_audited(
    world: World, fielded: Domain, kind: str
) -> None:
    w, create = world, CREATES[kind]
    # a required field must be given, values follow their schema, unknown names are refused
    required = r"field 'ticket' \(Ticket\) is required"
    with refused(fielded, InvalidInput, field="fields.ticket", match=required):
        create(fielded, w, {})
    with refused(fielded, InvalidInput, field="fields.ticket", match="is too long"):
        create(fielded, w, {"fields": {"ticket": "T" * 21}})
    with refused(fielded, InvalidInput, field="fields.point", match="did you mean 'points'"):
        create(fielded, w, {"fields": {"ticket": "PM-1", "point": 3}})
    with refused(fielded, InvalidInput, field="fields", match="valid dictionary"):
        create(fielded, w, {"fields": ["ticket"]})

    created = create(fielded, w, {"fields": {"ticket": "PM-1", "points": 3}})

    assert fielded.engine.get(created["id"]).data == {"ticket": "PM-1", "points": 3}
    audited = _audited(fielded, kind, created["id"])
    assert audited["fields.ticket"] == (None, "PM-1")
    assert audited["fields.points"] == (None, 3)


@pytest.mark.parametrize("kind", FIELDED)
def test_custom_fields_on_edit_are_checked_merged_and_audited(
    world: World, fielded: Domain, kind: str
) -> None:
    w, edit = world, EDITS[kind]
    entity = CREATES[kind](fielded, w, {"fields": {"ticket": "PM-1", "points": 3}})["id"]
    version = fielded.engine.get(entity).version
    with refused(fielded, InvalidInput, field="fields.points", match="-1 is less than the minimum of 0"):
        edit(fielded, w, entity, {"fields": {"points": -1}})
    with refused(fielded, InvalidInput, field="fields.budget", match="unknown field 'budget'"):
        edit(fielded, w, entity, {"fields": {"budget": 1}})

    edit(fielded, w, entity, {"fields": {"points": 5}})

    subject = fielded.engine.get(entity)
    assert subject.data == {"ticket": "PM-1", "points": 5}, "the other fields are kept"
    assert subject.version == version + 1
    assert _audited(fielded, kind, entity)["fields.points"] == (3, 5)
    # None removes an optional field
    edit(fielded, w, entity, {"fields": {"points": None}})
    assert fielded.engine.get(entity).data == {"ticket": "PM-1"}
    assert _audited(fielded, kind, entity)["fields.points"] == (5, None)


def test_custom_fields_given_when_a_project_is_created_are_audited(world: World) -> None:
    w = world
    created = CREATES["project"](w.domain, w, {"fields": {"budget": 5000, "contract_reference": "K-1"}})
    audited = _audited(w.domain, "project", created["id"])
    assert audited["fields.budget"] == (None, 5000)
    assert audited["fields.contract_reference"] == (None, "K-1")
    assert audited["name"] == (None, "Shop")


def test_a_kind_without_custom_fields_refuses_them(world: World) -> None:
    with refused(world.domain, InvalidInput, field="fields.ticket") as info:
        CREATES["risk"](world.domain, world, {"fields": {"ticket": "PM-1"}})
    assert info.value.message == "unknown field 'ticket' for risk (workflow 'risk' declares: none)"


# ---- several workflows for one kind ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CREATES))
def test_a_create_names_its_workflow_when_several_govern_the_kind(
    world: World, twins: Domain, kind: str
) -> None:
    w, create = world, CREATES[kind]
    with refused(twins, InvalidInput, field="workflow", match="several workflows govern") as info:
        create(twins, w, {})
    assert info.value.message.endswith("say which one")
    with refused(twins, NotFound, field="workflow", match="no workflow named 'nope'"):
        create(twins, w, {"workflow": "nope"})
    with refused(twins, InvalidInput, field="workflow", match="not"):
        create(twins, w, {"workflow": "risk-lite" if kind != "risk" else "iteration-lite"})

    name = {"project": "customer-project", "change_request": "change-request"}.get(kind, kind)
    created = create(twins, w, {"workflow": f"{name}-lite"})

    subject = twins.engine.get(created["id"])
    assert (subject.kind, subject.workflow) == (kind, f"{name}-lite")
    # the workflow is the lifecycle's: an edit cannot change it
    with refused(twins, InvalidInput, field="workflow", match="only through the lifecycle"):
        EDITS[kind](twins, w, created["id"], {"workflow": name})


# ---- changes made inside transitions are audited -------------------------------------------------------


def test_decisions_and_confirmations_are_audited_in_their_transition(world: World) -> None:
    w = world
    login = requirement(w, "Export")
    w.fire(w.manager, login, "submit_for_review")
    confirmed = w.fire(w.customer, login, "confirm").event
    assert _audited(w.domain, "requirement", login)["confirmed_by_contact_id"] == (None, w.contact_id)
    trail = rows(w.domain, field_changes, field_changes.c.entity_id == login)
    confirmation = [r for r in trail if r["field"] in ("confirmed_by_contact_id", "confirmed_at")]
    assert [(r["actor_id"], r["changed_at"]) for r in confirmation] == [
        (w.customer.id, confirmed.occurred_at)
    ] * 2

    change = w.domain.change_requests.create(
        w.customer,
        w.project_id,
        {"title": "CSV too", "description": "d", "reason": "r", "affected_requirement_ids": [login]},
    )["id"]
    w.fire(w.manager, change, "start_assessment")
    w.domain.change_requests.assess(
        w.manager, change, {"impact_schedule_days": 1, "impact_cost": 10.0, "impact_risk": "none"}
    )
    w.fire(w.manager, change, "submit_assessment")
    approved = w.fire(w.customer, change, "approve", payload={"rationale": "cheap"}).event

    decision = _audited(w.domain, "change_request", change)
    assert decision["decision"] == (None, "approved")
    assert decision["decision_rationale"] == (None, "cheap")
    assert decision["decided_by"] == (None, w.customer.id)
    assert decision["decided_at"] == (None, approved.occurred_at.isoformat())
    # the approval reopened the requirement: its confirmation was cleared, by the same person
    cleared = _audited(w.domain, "requirement", login)
    assert cleared["confirmed_by_contact_id"] == (w.contact_id, None)
    assert cleared["confirmed_at"][1] is None
    revise = w.domain.engine.history(login)[-1]
    assert revise.trigger == "revise"
    last = rows(w.domain, field_changes, field_changes.c.entity_id == login)[-1]
    assert (last["actor_id"], last["changed_at"]) == (w.customer.id, revise.occurred_at)


def test_custom_fields_set_by_actions_are_audited(world: World) -> None:
    # copy_payload on put_on_hold writes the project's on_hold_reason
    w = world
    first = w.fire(w.manager, w.project_id, "put_on_hold", payload={"reason": "budget freeze"}).event
    assert _audited(w.domain, "project", w.project_id)["fields.on_hold_reason"] == (None, "budget freeze")
    w.fire(w.manager, w.project_id, "resume_execution")
    w.fire(w.manager, w.project_id, "put_on_hold", payload={"reason": "holidays"})
    # the old value comes from the subject as it was before the transition
    assert _audited(w.domain, "project", w.project_id)["fields.on_hold_reason"] == (
        "budget freeze",
        "holidays",
    )
    row = rows(w.domain, field_changes, field_changes.c.field == "fields.on_hold_reason")[0]
    assert (row["entity"], row["actor_id"], row["changed_at"]) == ("project", w.manager.id, first.occurred_at)


class _FailOnHold:
    """A broken plugin: its after-transition hook raises when a project is put on hold."""

    @hookimpl
    def pmflow_after_transition(self, context: TransitionContext, event: HistoryEvent) -> None:
        if context.trigger == "put_on_hold":
            raise RuntimeError("mail server down")


def test_audit_rows_of_a_transition_commit_with_it_or_not_at_all(world: World) -> None:
    w = world
    before = counts(w.domain)
    plugin = _FailOnHold()
    w.domain.engine.plugins.register(plugin)
    try:
        with pytest.raises(PluginError, match="mail server down"):
            w.fire(w.manager, w.project_id, "put_on_hold", payload={"reason": "budget freeze"})
    finally:
        w.domain.engine.plugins.unregister(plugin)
    assert counts(w.domain) == before
    assert "fields.on_hold_reason" not in _audited(w.domain, "project", w.project_id)


# ---- the audit trail is append-only ------------------------------------------------------------------


def test_the_audit_trail_refuses_edits_and_deletes_in_the_database(world: World) -> None:
    w = world
    trail = rows(w.domain, field_changes)
    assert trail
    for statement in (
        update(field_changes).values(new_value={"value": "forged"}),
        delete(field_changes).where(field_changes.c.entity_id == w.project_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), w.domain.engine.database.write() as conn:
            conn.execute(statement)
    assert rows(w.domain, field_changes) == trail


def test_the_append_only_migration_goes_down_and_up_again(database: Database) -> None:
    config = alembic_config(MIGRATIONS)

    def migrate(step: Callable[..., None], revision: str) -> None:
        with database.write() as connection:
            config.attributes["connection"] = connection
            step(config, revision)

    now = datetime.now(UTC)
    row = {"entity": "x", "entity_id": 1, "field": "f", "actor_id": "a", "changed_at": now}
    migrate(command.downgrade, "0002_api_tokens")
    with database.write() as conn:
        conn.execute(field_changes.insert(), row)
        conn.execute(update(field_changes).values(field="g"))  # no trigger any more
        conn.execute(delete(field_changes))
    migrate(command.upgrade, "heads")
    with database.write() as conn:
        conn.execute(field_changes.insert(), row)
    with pytest.raises(DBAPIError, match="append-only"), database.write() as conn:
        conn.execute(delete(field_changes))
    if database.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), database.write() as conn:
            conn.execute(text("TRUNCATE field_changes"))
    with database.read() as conn:
        assert conn.execute(select(field_changes.c.field)).scalars().all() == ["f"]


# ---- conflicts on entities without a lifecycle ---------------------------------------------------------


def test_a_stale_edit_of_an_entity_without_lifecycle_names_it(world: World) -> None:
    w = world
    item = w.domain.work_items.create(w.manager, w.project_id, {"title": "Wire up login"})
    w.domain.work_items.update(w.manager, item["id"], {"status": "in_progress"}, expected_version=1)
    with refused(w.domain, Conflict, field="expectedVersion") as info:
        w.domain.work_items.update(w.manager, item["id"], {"status": "done"}, expected_version=1)
    assert info.value.message == f"work item {item['id']} was changed concurrently: it is now at version 2"
    assert (info.value.code, info.value.current_version) == (ErrorCode.CONFLICT, 2)
    assert info.value.as_dict()["code"] == "CONFLICT"
    with refused(w.domain, Conflict, match=f"customer {w.customer_id} was changed concurrently: it is now"):
        w.domain.customers.update(w.admin, w.customer_id, {"name": "Acme 2"}, expected_version=9)
    assert rows(w.domain, work_items, work_items.c.id == item["id"])[0]["status"] == "in_progress"


# ---- strict input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "field"),
    [
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, {"customer_id": str(w.customer_id), "name": "S"}),
            "customer_id",
            id="project.customer_id",
        ),
        pytest.param(
            lambda w: w.domain.risks.create(w.manager, w.project_id, {"title": "t", "probability": "3"}),
            "probability",
            id="risk.probability",
        ),
        pytest.param(
            lambda w: w.domain.work_items.create(w.manager, w.project_id, {"title": "t", "estimate": "2.5"}),
            "estimate",
            id="work_item.estimate",
        ),
        pytest.param(
            lambda w: w.domain.change_requests.create(
                w.manager,
                w.project_id,
                {"title": "t", "description": "d", "reason": "r", "affected_requirement_ids": ["1"]},
            ),
            "affected_requirement_ids.0",
            id="change_request.affected_requirement_ids",
        ),
        pytest.param(
            lambda w: w.domain.feedback.record(
                w.manager, w.project_id, {"contact_id": w.contact_id, "text": "t", "rating": 4.0}
            ),
            "rating",
            id="feedback.rating-float",
        ),
        pytest.param(
            lambda w: w.domain.deliverables.create(
                w.manager,
                w.project_id,
                {"title": "t", "kind": "code", "qa_checklist": [{"item": "x", "done": "yes"}]},
            ),
            "qa_checklist.0.done",
            id="deliverable.checklist-done",
        ),
    ],
)
def test_numbers_ids_and_flags_are_not_read_from_text(world: World, case: Any, field: str) -> None:
    with refused(world.domain, InvalidInput, field=field) as info:
        case(world)
    assert field in info.value.message


def test_dates_are_still_read_from_text(world: World) -> None:
    w = world
    iteration = plan_iteration(w, 28)
    assert w.domain.iterations.get(iteration)["start_date"] == day(28)
    meeting = w.domain.meetings.record(
        w.manager,
        w.project_id,
        {"kind": "status_report", "held_on": DAY0, "attendee_user_ids": [w.manager_id]},
    )
    assert meeting["held_on"] == DAY0


@pytest.mark.parametrize(
    ("case", "field"),
    [
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, {"customer_id": w.customer_id, "name": "Sh\x00p"}),
            "name",
            id="project.name",
        ),
        pytest.param(
            lambda w: w.domain.projects.update(
                w.manager, w.project_id, {"milestones": [{"name": "\x00", "due": "2025-05-01"}]}
            ),
            "milestones.0.name",
            id="project.milestone",
        ),
        pytest.param(
            lambda w: w.domain.projects.update(
                w.manager, w.project_id, {"fields": {"contract_reference": "K\x00"}}
            ),
            "fields.contract_reference",
            id="project.custom-field",
        ),
        pytest.param(
            lambda w: w.domain.requirements.create(
                w.manager, w.project_id, {"title": "t", "acceptance_criteria": ["ok", "b\x00d"]}
            ),
            "acceptance_criteria.1",
            id="requirement.criteria",
        ),
        pytest.param(
            lambda w: w.domain.customers.create(w.admin, {"name": "\x00"}),
            "name",
            id="customer.name",
        ),
    ],
)
def test_text_with_a_nul_character_is_refused(world: World, case: Any, field: str) -> None:
    with refused(world.domain, InvalidInput, field=field) as info:
        case(world)
    assert info.value.message.endswith(f"{field}: text cannot contain the NUL character (\\x00)")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(world: World, value: float) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="estimate", match="must be finite"):
        w.domain.work_items.create(w.manager, w.project_id, {"title": "t", "estimate": value})
    change = w.domain.change_requests.create(
        w.manager, w.project_id, {"title": "t", "description": "d", "reason": "r"}
    )["id"]
    with refused(w.domain, InvalidInput, field="impact_cost", match="must be finite"):
        w.domain.change_requests.assess(w.manager, change, {"impact_cost": value})
    with refused(w.domain, InvalidInput, field="fields.budget", match="must be finite"):
        w.domain.projects.update(w.manager, w.project_id, {"fields": {"budget": value}})


HUGE = 2**63


@pytest.mark.parametrize("bad_id", [0, -1, HUGE, 10**30])
def test_ids_the_database_cannot_hold_are_simply_not_found(world: World, bad_id: int) -> None:
    w = world
    calls: list[Callable[[], Any]] = [
        lambda: w.domain.projects.get(bad_id),
        lambda: w.domain.requirements.update(w.manager, bad_id, {"title": "t"}),
        lambda: w.domain.risks.create(w.manager, bad_id, {"title": "t"}),
        lambda: w.domain.work_items.update(w.manager, bad_id, {"title": "t"}),
    ]
    for call in calls:
        with refused(w.domain, NotFound, field="id", match=f"no \\w+( \\w+)? with id {bad_id}"):
            call()
    with refused(w.domain, NotFound, field="customer_id", match=f"no customer with id {bad_id}"):
        w.domain.projects.create(w.manager, {"customer_id": bad_id, "name": "S"})
    # references given in the input are refused like any unknown id
    with refused(w.domain, InvalidInput, field="manager_user_id", match=f"no user with id {bad_id}"):
        w.domain.projects.create(
            w.manager, {"customer_id": w.customer_id, "name": "S", "manager_user_id": bad_id}
        )
    with refused(w.domain, InvalidInput, field="affected_requirement_ids", match=str(bad_id)):
        w.domain.change_requests.create(
            w.manager,
            w.project_id,
            {"title": "t", "description": "d", "reason": "r", "affected_requirement_ids": [bad_id]},
        )
    with refused(w.domain, InvalidInput, field="iteration_id", match=f"no iteration {bad_id}"):
        w.domain.work_items.create(w.manager, w.project_id, {"title": "t", "iteration_id": bad_id})
    with refused(w.domain, InvalidInput, field="owner_user_id", match=f"user {bad_id}"):
        w.domain.risks.create(w.manager, w.project_id, {"title": "t", "owner_user_id": bad_id})
    with refused(w.domain, InvalidInput, field="user_id", match=f"no user with id {bad_id}"):
        w.domain.customers.add_contact(
            w.admin, w.customer_id, {"name": "X", "email": "x@acme.example", "user_id": bad_id}
        )
