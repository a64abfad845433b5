"""Project health in the GraphQL API, through a real HTTP app: ``Project.health`` computed live with
its explanation, ``Project.healthHistory`` as recorded, both null for customer users; and a workflow
guard ``health_at_least`` refusing ``fireTransition`` with its reason, shown in
``availableTransitions.blockedBy``, until the project is healthy again."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from api_helpers import WORKFLOWS, Api, app_state, data_of, global_id, gql, running_api
from domain_helpers import World, make_world
from pmflow.api.app import Settings, create_app
from pmflow.api.limits import Limits
from pmflow.domain.identity import issue_token
from pmflow.domain.services import Domain
from pmflow.plugins.health import MONITOR_PLUGIN
from pmflow.plugins.health.monitor import HealthMonitor
from test_health import GATE, close_risk, gated_deliverable, risk, work_item

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

HEALTH = """query($id: ID!) { node(id: $id) { ... on Project {
  health { score level threshold computedAt signals { code message severity value penalty weight points } }
  healthHistory(first: 10) { totalCount nodes { score warning computedAt signals { code points } } }
} } }"""


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def test_the_team_reads_health_with_its_explanation_and_history(api: Api) -> None:
    portal = api.demo.projects["portal"]
    node = api.data(HEALTH, {"id": api.project_id("portal")}, as_="mia")["node"]
    health = node["health"]
    signals = {s["code"]: s for s in health["signals"]}
    assert list(signals) == [
        "open_high_risks",
        "overdue_schedule",
        "scope_change_rate",
        "satisfaction_trend",
        "blocked_work",
        "customer_latency",
    ]
    # the demo's portal: one high risk of 12 open, one of its two open work items blocked
    assert signals["open_high_risks"] | {"message": ""} == {
        "code": "open_high_risks",
        "message": "",
        "severity": "WARNING",
        "value": 1.0,
        "penalty": 0.25,
        "weight": 25.0,
        "points": 6.25,
    }
    assert signals["blocked_work"]["value"] == 1 and signals["blocked_work"]["points"] == 5
    assert "Claim confirmation email" in signals["blocked_work"]["message"]
    lost = sum(s["points"] for s in health["signals"])
    assert health["score"] == int(100 - lost + 0.5) and health["threshold"] == 60
    assert health["level"] == ("HEALTHY" if health["score"] >= 60 else "AT_RISK")
    assert node["healthHistory"] == {"totalCount": 0, "nodes": []}  # no worker ran: nothing recorded

    monitor = api.built.plugins.get_plugin(MONITOR_PLUGIN)
    assert isinstance(monitor, HealthMonitor)
    recorded = monitor.check(portal)
    assert recorded is not None and recorded.stored
    history = api.data(HEALTH, {"id": api.project_id("portal")}, as_="sam")["node"]["healthHistory"]
    assert history["totalCount"] == 1
    (row,) = history["nodes"]
    assert (row["score"], row["warning"]) == (recorded.report.score, recorded.report.score < 60)
    assert {s["code"]: s["points"] for s in row["signals"]}["blocked_work"] == 5


def test_health_is_null_for_customer_users(api: Api) -> None:
    monitor = api.built.plugins.get_plugin(MONITOR_PLUGIN)
    assert isinstance(monitor, HealthMonitor)
    monitor.check(api.demo.projects["portal"])
    result = api.gql(HEALTH, {"id": api.project_id("portal")}, as_="carla")
    assert "errors" not in result
    assert result["data"]["node"] == {"health": None, "healthHistory": None}
    listed = api.data("{ projects(first: 5) { nodes { name health { score } } } }", as_="carla")
    assert {p["health"] for p in listed["projects"]["nodes"]} == {None}
    team = api.data("{ projects(first: 5) { nodes { name health { score } } } }", as_="mia")
    assert all(isinstance(p["health"]["score"], int) for p in team["projects"]["nodes"])


FIRE = """mutation($input: FireTransitionInput!) {
  fireTransition(input: $input) { subject { state } errors { code message reasons } }
}"""
OPTIONS = """query($id: ID!) { node(id: $id) { ... on Deliverable {
  availableTransitions { trigger allowed blockedBy }
} } }"""


@pytest.fixture
def gated_api(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, World]]:
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE, encoding="utf-8")
    settings = Settings(
        database_url=database_url,
        workflows=[WORKFLOWS, gate],
        worker=False,
        limits=replace(Limits.from_env({}, development=True), rate_limit=0),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        domain: Domain = app_state(app)["domain"]
        yield client, make_world(domain, defined=True)


def test_a_health_guard_refuses_fire_transition_with_its_reason_until_health_recovers(
    gated_api: tuple[TestClient, World],
) -> None:
    client, world = gated_api
    engine = world.domain.engine
    token = issue_token(engine, world.manager_id, name="test").token
    deliverable = gated_deliverable(world)
    critical = [risk(world, "Vendor insolvent", 5, 4), risk(world, "Key developer leaves", 4, 4)]
    stuck = work_item(world, "Payment provider", blocked="No contract yet")
    # the API's clock is the wall clock: both milestones of 2025 are past
    reason = "project health is 52, below 60 (open high risks -25, overdue schedule -13.3, blocked work -10)"
    gate_id = global_id("Deliverable", deliverable)

    options = data_of(gql(client, OPTIONS, {"id": gate_id}, token=token))["node"]["availableTransitions"]
    release = next(o for o in options if o["trigger"] == "release")
    assert release == {"trigger": "release", "allowed": False, "blockedBy": [reason]}
    fired = data_of(gql(client, FIRE, {"input": {"id": gate_id, "trigger": "release"}}, token=token))
    assert fired["fireTransition"]["subject"] is None
    (error,) = fired["fireTransition"]["errors"]
    assert error["code"] == "GUARD_FAILED" and error["reasons"] == [reason]

    for risk_id in critical:
        close_risk(world, risk_id)
    world.domain.work_items.update(world.manager, stuck, {"blocked_reason": None})
    options = data_of(gql(client, OPTIONS, {"id": gate_id}, token=token))["node"]["availableTransitions"]
    assert next(o for o in options if o["trigger"] == "release")["allowed"] is True
    fired = data_of(gql(client, FIRE, {"input": {"id": gate_id, "trigger": "release"}}, token=token))
    assert fired["fireTransition"] == {"subject": {"state": "released"}, "errors": []}
