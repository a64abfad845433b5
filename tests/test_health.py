"""Project health (docs/health.md): each built-in signal from a known dataset, the score with its
weights and other plugins' signals, the settings, and the guards ``health_at_least`` and
``no_open_critical_risks`` blocking and passing as health changes. Through the services and the
engine like a user; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
from sqlalchemy import Connection, insert

from domain_helpers import DAY0, World, day, make_world, plan_iteration, requirement
from pmflow import hookimpl
from pmflow.app import App, build, plugin_manager
from pmflow.core.hookspecs import RiskSignal
from pmflow.core.settings import PluginSettingsError
from pmflow.core.types import Subject
from pmflow.domain import tables as t
from pmflow.domain.services import Domain
from pmflow.plugins.health import MONITOR_PLUGIN
from pmflow.plugins.health.monitor import HealthMonitor
from pmflow.plugins.health.score import HealthConfig, HealthReport, ScoredSignal, compute

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
START = datetime(DAY0.year, DAY0.month, DAY0.day, 9, tzinfo=UTC)
BUILT_IN = [
    "open_high_risks",
    "overdue_schedule",
    "scope_change_rate",
    "satisfaction_trend",
    "blocked_work",
    "customer_latency",
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def app_on(
    database_url: str, clock: Clock, *, plugins: pluggy.PluginManager | None = None, workflows: Any = None
) -> App:
    return build(database_url=database_url, workflows=workflows or WORKFLOWS, clock=clock, plugins=plugins)


@pytest.fixture
def app(database_url: str, clock: Clock) -> Iterator[App]:
    built = app_on(database_url, clock)
    try:
        yield built
    finally:
        built.database.dispose()


@pytest.fixture
def world(app: App) -> World:
    return make_world(Domain(app.engine), defined=True)


def monitor_of(app: App) -> HealthMonitor:
    monitor = app.plugins.get_plugin(MONITOR_PLUGIN)
    assert isinstance(monitor, HealthMonitor)
    return monitor


def health(app: App, project_id: int) -> HealthReport:
    with app.database.read() as conn:
        return monitor_of(app).compute(conn, project_id)


def signal(app: App, world: World, code: str) -> ScoredSignal:
    found = [x for x in health(app, world.project_id).signals if x.code == code]
    assert len(found) == 1, found
    return found[0]


def risk(world: World, title: str, probability: int, impact: int) -> int:
    data = {"title": title, "category": "technical", "probability": probability, "impact": impact}
    return int(world.domain.risks.create(world.manager, world.project_id, data)["id"])


def close_risk(world: World, risk_id: int) -> None:
    world.fire(world.manager, risk_id, "close", comment="no longer a threat")


def answer(app: App, world: World, kind: str, score: int, at: datetime) -> None:
    """One answered survey invitation (the survey plugin's tables, written as it would)."""
    with app.database.write() as conn:
        survey_id = conn.execute(
            insert(t.surveys).returning(t.surveys.c.id),
            {
                "project_id": world.project_id,
                "template": kind,
                "trigger": "test",
                "kind": kind,
                "title": f"How did we do? ({kind})",
                "questions": [],
                "event_id": str(uuid.uuid4()),
                "subject_id": world.project_id,
                "sent_at": at - timedelta(days=1),
                "closes_at": at + timedelta(days=14),
            },
        ).scalar_one()
        conn.execute(
            insert(t.survey_invitations),
            {
                "survey_id": survey_id,
                "contact_id": world.contact_id,
                "token_hash": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                "expires_at": at + timedelta(days=14),
                "sent_at": at - timedelta(days=1),
                "reminders": 0,
                "reminded_at": None,
                "answered_at": at,
                "answered_via": "token",
                "answers": {"score": score},
                "score": score,
            },
        )


def work_item(world: World, title: str, *, status: str = "todo", blocked: str | None = None) -> int:
    data = {"title": title, "status": status, "blocked_reason": blocked}
    return int(world.domain.work_items.create(world.manager, world.project_id, data)["id"])


# ---- the built-in signals ------------------------------------------------------------------------


def test_a_fresh_project_is_fully_healthy_and_every_built_in_signal_explains_why(
    app: App, world: World
) -> None:
    report = health(app, world.project_id)
    assert (report.score, report.level, report.threshold) == (100, "healthy", 60)
    assert [x.code for x in report.signals] == BUILT_IN
    assert all(x.penalty == 0 and x.points == 0 and x.severity == "info" for x in report.signals)
    assert sum(x.weight for x in report.signals) == 100
    messages = {x.code: x.message for x in report.signals}
    assert messages["satisfaction_trend"] == "no survey answers yet"
    assert messages["open_high_risks"] == "no open high or critical risk"


def test_open_high_risks_count_from_score_10_and_critical_ones_from_16_double(app: App, world: World) -> None:
    risk(world, "Medium at the edge", 3, 3)  # 9: medium, does not count
    assert (signal(app, world, "open_high_risks").value, signal(app, world, "open_high_risks").penalty) == (
        0,
        0,
    )

    risk(world, "High at the edge", 2, 5)  # 10: high
    found = signal(app, world, "open_high_risks")
    assert (found.value, found.penalty, found.severity, found.points) == (1, 0.25, "warning", 6.25)
    assert found.message == "1 high risk open: 'High at the edge' (10)"

    risk(world, "Highest high", 3, 5)  # 15: still high
    assert signal(app, world, "open_high_risks").penalty == 0.5

    critical = risk(world, "Lowest critical", 4, 4)  # 16: critical, counts double
    found = signal(app, world, "open_high_risks")
    assert (found.value, found.penalty, found.severity, found.points) == (3, 1.0, "critical", 25)
    assert found.message.startswith("1 critical risk and 2 high risks open: 'Lowest critical' (16, critical)")

    close_risk(world, critical)
    assert signal(app, world, "open_high_risks").penalty == 0.5


def test_one_critical_risk_alone_takes_half_the_weight(app: App, world: World) -> None:
    risk(world, "Data centre move", 5, 4)
    found = signal(app, world, "open_high_risks")
    assert (found.value, found.penalty, found.points) == (1, 0.5, 12.5)
    assert health(app, world.project_id).score == 88  # 87.5 rounds half up


def test_overdue_milestones_and_iterations(app: App, world: World, clock: Clock) -> None:
    iteration = plan_iteration(world, 0)  # DAY0 .. DAY0 + 13
    world.fire(world.manager, iteration, "start")
    clock.now = datetime.combine(day(13), START.timetz())  # the iteration's last day: not late yet
    assert signal(app, world, "overdue_schedule").value == 0

    clock.now = datetime.combine(day(60), START.timetz())  # 'Beta' is due today: not late yet
    found = signal(app, world, "overdue_schedule")
    assert (found.value, found.penalty) == (1, pytest.approx(1 / 3, abs=1e-4))
    assert found.message == f"1 overdue: iteration 1 ended {day(13).isoformat()} and is still active"

    clock.now = datetime.combine(day(61), START.timetz())
    found = signal(app, world, "overdue_schedule")
    assert (found.value, found.points) == (2, pytest.approx(13.33, abs=0.01))
    assert f"milestone 'Beta' was due {day(60).isoformat()}" in found.message

    world.fire(world.manager, iteration, "cancel", comment="replanned")
    assert signal(app, world, "overdue_schedule").value == 1


def test_scope_change_rate_counts_the_last_30_days_per_live_requirement(
    app: App, world: World, clock: Clock
) -> None:
    for title in ("Login", "Search", "Cart", "Checkout"):
        requirement(world, title)
    change = {"title": "Dark mode", "description": "A dark theme", "reason": "Night shifts"}
    world.domain.change_requests.create(world.customer, world.project_id, change)
    found = signal(app, world, "scope_change_rate")
    assert (found.value, found.penalty, found.points) == (0.25, 0.5, 5)
    assert found.message == "1 change request in the last 30 days for 4 requirements (0.25 per requirement)"

    clock.advance(days=31)
    assert signal(app, world, "scope_change_rate").penalty == 0


def test_satisfaction_without_answers_costs_nothing(app: App, world: World) -> None:
    found = signal(app, world, "satisfaction_trend")
    assert (found.value, found.penalty, found.message) == (None, 0, "no survey answers yet")


def test_satisfaction_all_answers_low_takes_the_whole_weight(app: App, world: World, clock: Clock) -> None:
    for offset in range(3):
        answer(app, world, "csat", 1, START - timedelta(days=offset + 1))
    answer(app, world, "nps", 0, START - timedelta(hours=1))
    found = signal(app, world, "satisfaction_trend")
    assert (found.value, found.penalty, found.severity, found.points) == (0, 1, "critical", 20)
    assert found.message == "satisfaction 0% over the last 4 answers, steady (from 0% to 0%)"


def test_satisfaction_counts_the_last_ten_answers_of_90_days_and_shows_the_trend(
    app: App, world: World, clock: Clock
) -> None:
    answer(app, world, "csat", 1, START - timedelta(days=100))  # too old to count
    for hours in range(12, 2, -1):  # ten perfect answers, oldest first
        answer(app, world, "csat", 5, START - timedelta(hours=hours))
    answer(app, world, "nps", 10, START - timedelta(hours=2))
    assert signal(app, world, "satisfaction_trend").penalty == 0

    answer(app, world, "csat", 3, START - timedelta(hours=1))  # 0.5
    answer(app, world, "nps", 5, START - timedelta(minutes=30))  # 0.5
    found = signal(app, world, "satisfaction_trend")
    assert found.penalty == pytest.approx(0.1)  # the last ten: eight perfect, two halfway
    assert found.value == pytest.approx(0.9)
    assert "over the last 10 answers, falling (from 100% to 86%)" in found.message


def test_blocked_work_is_blocked_open_items_per_open_item(app: App, world: World) -> None:
    assert signal(app, world, "blocked_work").value == 0  # no items at all
    work_item(world, "Done though once blocked", status="done", blocked="was waiting")
    work_item(world, "Claim form", status="in_progress")
    stuck = work_item(world, "Confirmation email", blocked="Waiting for SMTP credentials")
    found = signal(app, world, "blocked_work")
    assert (found.value, found.penalty, found.points) == (1, 0.5, 5)
    assert (
        found.message == "1 of 2 open work items blocked: 'Confirmation email' (Waiting for SMTP credentials)"
    )

    world.domain.work_items.update(world.manager, stuck, {"blocked_reason": None})
    assert signal(app, world, "blocked_work").penalty == 0


def test_customer_latency_counts_days_since_the_customer_was_asked_after_a_grace(
    app: App, world: World, clock: Clock
) -> None:
    login = requirement(world, "Login")
    world.fire(world.manager, login, "submit_for_review")
    clock.advance(days=2)
    found = signal(app, world, "customer_latency")
    assert (found.value, found.penalty) == (2, 0)  # two days to answer are normal

    clock.advance(days=7)
    found = signal(app, world, "customer_latency")
    assert (found.value, found.penalty, found.points) == (9, 0.5, 7.5)
    assert (
        found.message
        == "1 confirmation waiting for the customer; the oldest, requirement 'Login', for 9.0 days"
    )

    clock.advance(days=30)
    assert signal(app, world, "customer_latency").penalty == 1

    world.fire(world.customer, login, "confirm")
    assert signal(app, world, "customer_latency").value == 0


# ---- the score: weights, plugins' signals, settings ------------------------------------------------


def blocked_half(world: World) -> None:
    work_item(world, "Claim form")
    work_item(world, "Confirmation email", blocked="Waiting for SMTP credentials")


def test_a_weight_from_the_environment_changes_the_score(
    database_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WEIGHTS", '{"blocked_work": 30}')
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WARNING_THRESHOLD", "90")
    tuned = app_on(database_url, clock)
    try:
        world = make_world(Domain(tuned.engine))
        blocked_half(world)
        report = health(tuned, world.project_id)
        found = next(x for x in report.signals if x.code == "blocked_work")
        assert (found.weight, found.points, report.score, report.level) == (30, 15, 85, "at_risk")
        with tuned.database.read() as conn:  # the same project with the default weights
            assert compute(conn, world.project_id, clock(), config=HealthConfig()).score == 95
    finally:
        tuned.database.dispose()


def test_a_bad_weight_is_refused_naming_the_key(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WEIGHTS", '{"blocked_work": -5}')
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WARNING_THRESHOLD", "101")
    with pytest.raises(PluginSettingsError) as refused:
        build(database_url=database_url, workflows=WORKFLOWS)
    assert refused.value.problems == [
        "plugin 'health' setting 'warning_threshold' (from PMFLOW_PLUGIN_HEALTH_WARNING_THRESHOLD): "
        "101 is greater than the maximum of 100",
        "plugin 'health' setting 'weights.blocked_work' (from PMFLOW_PLUGIN_HEALTH_WEIGHTS): "
        "-5 is less than the minimum of 0",
    ]


class BugTracker:
    """Another plugin's signals: one by severity only, one with its own penalty, one informative."""

    @hookimpl
    def pmflow_risk_signals(self, project: Subject, connection: Connection) -> list[RiskSignal]:
        return [
            RiskSignal("bug_backlog", "42 open bugs", "critical", value=42),
            RiskSignal("flaky_tests", "3 flaky tests", "warning"),
            RiskSignal("slow_build", "builds take 20 minutes", "warning", penalty=0.2),
            RiskSignal("new_release", "a release is out", "info"),
        ]


def test_other_plugins_signals_count_by_severity_or_penalty_with_their_weight(
    database_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WEIGHTS", '{"slow_build": 50}')
    pm = plugin_manager(load_entrypoints=False)
    pm.register(BugTracker(), name="bug-tracker")
    built = app_on(database_url, clock, plugins=pm)
    try:
        world = make_world(Domain(built.engine))
        report = health(built, world.project_id)
        theirs = {
            x.code: (x.severity, x.penalty, x.weight, x.points)
            for x in report.signals
            if x.code not in BUILT_IN
        }
        assert theirs == {
            "bug_backlog": ("critical", 1, 10, 10),  # critical: the whole default weight of 10
            "flaky_tests": ("warning", 0.5, 10, 5),  # warning: half of it
            "slow_build": ("warning", 0.2, 50, 10),  # its own penalty, the weight from the settings
            "new_release": ("info", 0, 10, 0),
        }
        assert report.score == 75
        assert report.explain() == "bug backlog -10, slow build -10, flaky tests -5"
    finally:
        built.database.dispose()


# ---- the guards -------------------------------------------------------------------------------


GATE = """
workflow: release-gate
version: 1
subject: deliverable
initial: ready
states:
  - name: ready
  - name: released
    final: true
  - name: shipped
    final: true
transitions:
  - trigger: release
    source: ready
    dest: released
    conditions: [{health_at_least: 60}]
  - trigger: ship
    source: ready
    dest: shipped
    conditions: [no_open_critical_risks]
"""


@pytest.fixture
def gated(database_url: str, clock: Clock, tmp_path: Path) -> Iterator[App]:
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE, encoding="utf-8")
    built = app_on(database_url, clock, workflows=[WORKFLOWS, gate])
    try:
        yield built
    finally:
        built.database.dispose()


def gated_deliverable(world: World) -> int:
    data = {"workflow": "release-gate", "title": "Release 1", "kind": "product"}
    return int(world.domain.deliverables.create(world.manager, world.project_id, data)["id"])


def test_health_at_least_blocks_with_the_biggest_deductions_then_passes(gated: App, clock: Clock) -> None:
    world = make_world(Domain(gated.engine), defined=True)
    deliverable = gated_deliverable(world)
    first = risk(world, "Vendor insolvent", 5, 4)
    second = risk(world, "Key developer leaves", 4, 4)
    stuck = work_item(world, "Payment provider", blocked="No contract yet")
    world.domain.projects.update(
        world.manager,
        world.project_id,
        {"milestones": [{"name": f"M{n}", "due": day(-n).isoformat()} for n in (1, 2, 3)]},
    )
    # 100 - 25 (two critical risks) - 20 (three milestones late) - 10 (all open work blocked) = 45
    reasons = world.blocked(world.manager, deliverable, "release")
    assert reasons == [
        "project health is 45, below 60 (open high risks -25, overdue schedule -20, blocked work -10)"
    ]
    options = {o.trigger: o for o in gated.engine.available_transitions(deliverable, world.manager)}
    assert options["release"].allowed is False and options["release"].blocked_by == tuple(reasons)
    # the customer sees why the step waits, not the team's score and its deductions
    theirs = {o.trigger: o for o in gated.engine.available_transitions(deliverable, world.customer)}
    assert (
        "the project's health is below 60: the team has risks to deal with first"
        in theirs["release"].blocked_by
    )
    assert not any("45" in reason or "blocked work" in reason for reason in theirs["release"].blocked_by)

    close_risk(world, first)
    world.domain.work_items.update(world.manager, stuck, {"blocked_reason": None})
    # 100 - 12.5 (one critical risk) - 20 = 67.5 -> 68
    options = {o.trigger: o for o in gated.engine.available_transitions(deliverable, world.manager)}
    assert options["release"].allowed is True
    world.fire(world.manager, deliverable, "release")
    assert world.state(deliverable) == "released"
    assert second  # still open: health 68 is enough


def test_no_open_critical_risks_names_them_then_passes(gated: App) -> None:
    world = make_world(Domain(gated.engine), defined=True)
    deliverable = gated_deliverable(world)
    risk(world, "High but not critical", 3, 5)
    critical = risk(world, "Vendor insolvent", 5, 4)
    assert world.blocked(world.manager, deliverable, "ship") == [
        "1 critical risk is still open: 'Vendor insolvent' (score 20); mitigate or close first"
    ]
    close_risk(world, critical)
    world.fire(world.manager, deliverable, "ship")
    assert world.state(deliverable) == "shipped"


def test_guards_on_a_bare_engine_use_the_built_in_signals(
    database_url: str, clock: Clock, tmp_path: Path
) -> None:
    """No app bound to the database (a unit test's engine): built-in signals, default weights."""
    from pmflow.app import MIGRATIONS
    from pmflow.core.database import Database
    from pmflow.core.engine import WorkflowEngine
    from pmflow.core.migrate import upgrade
    from pmflow.core.plugins import Catalog
    from pmflow.core.registry import WorkflowRegistry

    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE, encoding="utf-8")
    database = Database(database_url)
    try:
        upgrade(database, locations=MIGRATIONS)
        pm = plugin_manager(load_entrypoints=False)
        pm.register(BugTracker(), name="bug-tracker")  # not consulted without a bound app
        registry = WorkflowRegistry.load([WORKFLOWS, gate], Catalog.from_plugins(pm))
        world = make_world(Domain(WorkflowEngine(database, registry, pm, clock=clock)), defined=True)
        deliverable = gated_deliverable(world)
        risk(world, "Vendor insolvent", 5, 5)
        risk(world, "Key developer leaves", 4, 4)
        for n in range(3):
            work_item(world, f"Blocked {n}", blocked="waiting")
        world.domain.projects.update(
            world.manager, world.project_id, {"milestones": [{"name": "M", "due": day(-1).isoformat()}]}
        )
        assert world.blocked(world.manager, deliverable, "release") == [
            "project health is 58, below 60 (open high risks -25, blocked work -10, overdue schedule -6.7)"
        ]
    finally:
        database.dispose()


def test_the_default_lifecycle_asks_for_acceptance_only_without_open_critical_risks(app: App) -> None:
    from domain_helpers import complete_iteration, deliverable_through_qa, demo, to_execution

    world = make_world(Domain(app.engine))
    to_execution(world)
    complete_iteration(world)
    world.fire(world.manager, world.project_id, "start_delivery")
    deliverable_through_qa(world)
    world.fire(world.tester, world.project_id, "pass_internal_qa")
    demo(world)
    critical = risk(world, "Go-live weekend clashes with the audit", 4, 5)
    assert world.blocked(world.manager, world.project_id, "request_acceptance") == [
        "1 critical risk is still open: 'Go-live weekend clashes with the audit' (score 20); "
        "mitigate or close first"
    ]
    close_risk(world, critical)
    world.fire(world.manager, world.project_id, "request_acceptance")
    assert world.state(world.project_id) == "delivery.customer_acceptance"


# ---- what one computation costs -------------------------------------------------------------------


def test_one_computation_sends_seven_statements_each_from_the_compiled_cache(
    app: App, world: World, clock: Clock
) -> None:
    """A deterministic proxy for the cost of health (benchmarks/bench_health.py measures the time): the
    project subject, then the project's row with its counts, open risks, overdue iterations, survey
    answers, blocked work and what waits for the customer, whatever the data; the statements are built
    once, so a second computation compiles none of them."""
    from sqlalchemy import event

    risk(world, "Vendor insolvent", 5, 4)
    work_item(world, "Claim form")
    work_item(world, "Confirmation email", blocked="Waiting for SMTP credentials")
    world.fire(world.manager, requirement(world, "Login"), "submit_for_review")
    world.domain.change_requests.create(
        world.customer,
        world.project_id,
        {"title": "Dark mode", "description": "A dark theme", "reason": "Night"},
    )
    world.fire(world.manager, plan_iteration(world, 0), "start")
    answer(app, world, "csat", 4, START - timedelta(hours=1))
    clock.advance(days=20)  # the iteration is late, the requirement waits, the change is recent

    sent: list[tuple[str, Any]] = []

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, context))

    with app.database.read() as conn:
        first = monitor_of(app).compute(conn, world.project_id)
        event.listen(app.database.engine, "before_cursor_execute", on_execute)
        try:
            second = monitor_of(app).compute(conn, world.project_id)
        finally:
            event.remove(app.database.engine, "before_cursor_execute", on_execute)
    assert second == first
    assert all(x.points > 0 for x in second.signals), second.signals  # every signal found something
    assert len(sent) == 7, [statement for statement, _ in sent]
    assert all(statement.lstrip().upper().startswith("SELECT") for statement, _ in sent)
    assert all(context.cache_hit == context.dialect.CACHE_HIT for _, context in sent)
