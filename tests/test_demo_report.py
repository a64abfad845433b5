"""Demo data through the real lifecycles, and the progress report a manager sends as is."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pmflow.cli import cli
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, NotFound
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
