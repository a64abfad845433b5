"""The generic built-in conditions, as a lifecycle uses them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pmflow import Actor
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import GuardFailed
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry
from pmflow.domain.services import Domain

PERSON = Actor("u-1", frozenset({"manager"}))

HOLDABLE = """
workflow: holdable
version: 1
subject: job
initial: draft
states:
  - name: draft
  - name: running
  - name: paused
  - name: done
    final: true
transitions:
  - trigger: run
    source: draft
    dest: running
  - trigger: pause
    source: [draft, running]
    dest: paused
  - trigger: note
    source: paused
    internal: true
  - trigger: back_to_draft
    source: paused
    dest: draft
    conditions: [{came_from: draft}]
  - trigger: back_to_running
    source: paused
    dest: running
    conditions: [{came_from: running}]
  - trigger: finish
    source: running
    dest: done
"""


@pytest.fixture
def holdable(database: Database, write_workflow: Callable[[str], Path]) -> WorkflowEngine:
    pm = make_plugin_manager()
    return WorkflowEngine(
        database, WorkflowRegistry.load([write_workflow(HOLDABLE)], Catalog.from_plugins(pm)), pm
    )


def test_came_from_returns_only_where_the_subject_was(holdable: WorkflowEngine) -> None:
    job = holdable.create("job", PERSON).subject
    holdable.fire(job.id, "run", PERSON)
    holdable.fire(job.id, "pause", PERSON)
    with pytest.raises(GuardFailed, match="did not come here from Draft"):
        holdable.fire(job.id, "back_to_draft", PERSON)
    assert holdable.fire(job.id, "back_to_running", PERSON).subject.state == "running"


def test_came_from_looks_past_internal_transitions(holdable: WorkflowEngine) -> None:
    job = holdable.create("job", PERSON).subject
    holdable.fire(job.id, "pause", PERSON)
    holdable.fire(job.id, "note", PERSON, comment="waiting for the customer")
    holdable.fire(job.id, "note", PERSON, comment="still waiting")
    assert holdable.fire(job.id, "back_to_draft", PERSON).subject.state == "draft"


def test_a_project_put_on_hold_and_edited_can_still_resume(domain: Domain) -> None:
    customer = domain.customers.create(PERSON, {"name": "Acme"})
    project = domain.projects.create(PERSON, {"customer_id": customer["id"], "name": "Portal"})
    domain.fire(PERSON, project["id"], "put_on_hold", payload={"reason": "budget review"})
    domain.projects.update(PERSON, project["id"], {"goal": "A portal customers love"})  # moves the version
    resumed = domain.fire(PERSON, project["id"], "resume_initiation")
    assert resumed.subject.state == "initiation"
