"""Demo data through the real lifecycles, and the progress report a manager sends as is."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pmflow.cli import cli
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.types import Actor
from pmflow.domain.demo import DemoAlreadyLoaded, DemoData, load_demo
from pmflow.domain.report import iteration_report, project_report
from pmflow.domain.services import Domain
from pmflow.domain.tables import iterations

SECTIONS = [
    "## Summary",
    "## Done",
    "## In progress",
    "## Next",
    "## Decisions",
    "## Changes",
    "## Open risks",
    "## Customer feedback",
]


@pytest.fixture
def demo(engine: WorkflowEngine) -> DemoData:
    return load_demo(engine)


def test_demo_has_two_customers_and_three_projects_in_different_phases(
    engine: WorkflowEngine, demo: DemoData
) -> None:
    assert len(demo.customers) == 2
    states = {key: engine.get(pid).state for key, pid in demo.projects.items()}
    assert states == {
        "portal": "execution",
        "fleet": "requirements.confirmation",
        "scheduling": "maintenance",
    }
    # real history: every phase change is an event, spread over past weeks
    history = engine.history(demo.projects["scheduling"])
    assert [e.trigger for e in history] == [
        "create",
        "start_requirements",
        "request_confirmation",
        "confirm_requirements",
        "start_delivery",
        "pass_internal_qa",
        "request_acceptance",
        "accept_delivery",
    ]
    assert (history[-1].occurred_at - history[0].occurred_at).days >= 14


def test_markdown_report_of_the_demo_project_has_every_section(
    engine: WorkflowEngine, demo: DemoData
) -> None:
    markdown = project_report(engine, demo.projects["portal"]).to_markdown()

    assert markdown.startswith("# Progress report: Customer portal\n")
    positions = [markdown.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "**Customer:** Northwind Logistics" in markdown
    assert "**Status:** Execution" in markdown
    assert "Requirements: 2 (2 confirmed)." in markdown
    assert "- Claim form with photo upload (Dev Developer)" in markdown
    assert "**blocked:** Waiting for Northwind's SMTP relay credentials" in markdown
    assert "Search by customer reference: approved (+3 days, cost 4,200)" in markdown
    assert "SMTP relay not ready for go-live (score 12/25, mitigating, owner Mia Manager)" in markdown
    assert "Carla Northwind on iteration 1 4/5" in markdown
    assert "kickoff: Weekly status report every Friday" in markdown


def test_report_as_structured_data(engine: WorkflowEngine, demo: DemoData) -> None:
    data = project_report(engine, demo.projects["portal"]).as_dict()
    assert data["kind"] == "project" and data["state"] == "execution"
    assert [r["score"] for r in data["open_risks"]] == [12, 6]  # the worst first
    assert data["changes"][0]["decision"] == "approved"
    json.dumps(data, default=str)  # serialisable for an API


def test_iteration_report_only_covers_that_iteration(engine: WorkflowEngine, demo: DemoData) -> None:
    project = demo.projects["portal"]
    first = next(r for r in _iterations(engine, project) if r[1] == 1)[0]
    report = iteration_report(engine, first)
    assert report.kind == "iteration" and report.title == "Customer portal, iteration 1"
    assert [w.title for w in report.done] == ["Build: Shipment tracking"]
    assert report.state == "closed" and len(report.feedback) == 1
    with pytest.raises(NotFound):
        iteration_report(engine, 999_999)
    for huge in (2**63, -1):  # ids the database cannot hold: answered without asking it
        with pytest.raises(NotFound, match=f"no iteration with id {huge}"):
            iteration_report(engine, huge)
        with pytest.raises(NotFound, match=f"no project with id {huge}"):
            project_report(engine, huge)


def _iterations(engine: WorkflowEngine, project_id: int) -> list[tuple[int, int]]:
    with engine.database.read() as conn:
        rows = conn.execute(
            select(iterations.c.id, iterations.c.number).where(iterations.c.project_id == project_id)
        )
        return [(r.id, r.number) for r in rows]


def test_demo_loads_once_and_never_into_real_data(engine: WorkflowEngine, demo: DemoData) -> None:
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(engine)
    Domain(engine).customers.create(Actor("u", frozenset()), {"name": "A real customer"})
    with pytest.raises(InvalidInput, match="empty one only"):
        load_demo(engine)


def test_cli_demo_then_report(database_url: str) -> None:
    runner = CliRunner()
    env = {"PMFLOW_DATABASE_URL": database_url}

    loaded = runner.invoke(cli, ["demo"], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "scheduling  maintenance" in loaded.output
    again = runner.invoke(cli, ["demo"], env=env)
    assert again.exit_code == 0 and "already loaded" in again.output

    report = runner.invoke(cli, ["report", "1"], env=env)
    assert report.exit_code == 0, report.output
    assert report.output.startswith("# Progress report: Customer portal")
    as_json = runner.invoke(cli, ["report", "1", "--format", "json"], env=env)
    assert json.loads(as_json.output)["customer"] == "Northwind Logistics"
    missing = runner.invoke(cli, ["report", "424242"], env=env)
    assert missing.exit_code == 1 and "no project with id 424242" in missing.output
    assert "Traceback" not in missing.output


def test_demo_lists_the_iterations_of_each_project(engine: WorkflowEngine, demo: DemoData) -> None:
    for key, project in demo.projects.items():
        assert demo.iterations[key] == [
            i for i, _ in sorted(_iterations(engine, project), key=lambda r: r[1])
        ]
    assert (len(demo.iterations["portal"]), demo.iterations["fleet"]) == (2, [])


# ---- edited workflows that no longer fit the story ---------------------------------------------------

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
EDITS = {
    # a guard the story does not satisfy, late: two projects are loaded, the third stops half-way
    "late": (
        "customer-project.yaml",
        "conditions: [actor_is_customer_contact, deliverables_accepted]",
        "conditions: [actor_is_customer_contact, deliverables_accepted, comment_given]",
        "fire 'accept_delivery' on project",
        "'accept_delivery' needs a comment saying why",
    ),
    # a required custom field the story does not give, early: in the first project
    "early": (
        "requirement.yaml",
        "\nstates:\n",
        "\nfields:\n  ticket: {type: string, required: true}\n\nstates:\n",
        "requirements.create 'Track a shipment by number'",
        "field 'ticket' (Ticket) is required",
    ),
}


def _edited(tmp_path: Path, edit: str) -> Path:
    name, old, new, _, _ = EDITS[edit]
    folder = tmp_path / f"edited-{edit}"
    shutil.copytree(WORKFLOWS, folder)
    text = (folder / name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    (folder / name).write_text(text.replace(old, new), encoding="utf-8")
    return folder


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_story_that_no_longer_fits_says_where_and_is_not_taken_for_loaded(
    engine: WorkflowEngine, tmp_path: Path, catalog: Catalog, plugins: pluggy.PluginManager, edit: str
) -> None:
    registry = WorkflowRegistry.load([_edited(tmp_path, edit)], catalog)
    edited = WorkflowEngine(engine.database, registry, plugins)
    *_, step, reason = EDITS[edit]

    with pytest.raises(InvalidInput) as info:
        load_demo(edited)

    message = info.value.message
    assert message.startswith("the edited workflows no longer fit the demo story: step ")
    assert step in message and reason in message
    # a second run, with either workflows, does not claim the demo is loaded
    for again in (edited, engine):
        with pytest.raises(InvalidInput, match="a previous `pmflow demo` stopped part-way") as second:
            load_demo(again)
        assert second.value.message.endswith("load the demo into an empty database")


def test_cli_demo_stopped_part_way_fails_then_and_after(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"PMFLOW_DATABASE_URL": database_url}
    edited = str(_edited(tmp_path, "late"))
    first = runner.invoke(cli, ["--workflows", edited, "demo"], env=env)
    assert first.exit_code == 1 and "no longer fit the demo story" in first.output
    again = runner.invoke(cli, ["demo"], env=env)
    assert again.exit_code == 1 and "stopped part-way" in again.output
    assert "already loaded" not in again.output and "Traceback" not in again.output


def test_cli_demo_prints_the_iterations_to_report_on(database_url: str) -> None:
    runner = CliRunner()
    env = {"PMFLOW_DATABASE_URL": database_url}
    loaded = runner.invoke(cli, ["demo"], env=env)
    assert loaded.exit_code == 0, loaded.output
    portal = re.search(r"^  project +(\d+)  portal +execution  iterations (\d+), (\d+)$", loaded.output, re.M)
    assert portal is not None, loaded.output
    assert re.search(r"^  project +\d+  fleet +requirements.confirmation$", loaded.output, re.M)
    assert "`pmflow report <project id> --iteration <iteration id>`" in loaded.output
    project, first = portal.group(1), portal.group(2)
    report = runner.invoke(cli, ["report", project, "--iteration", first], env=env)
    assert report.exit_code == 0, report.output
    assert report.output.startswith("# Progress report: Customer portal, iteration 1")
