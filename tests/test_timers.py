"""State timers: a state's timeout fires its trigger once when due, as the timer, never before; leaving
the state cancels it; a reminder re-arms itself; a guard that blocks ends it failed with the reasons;
timers live in the database, so a restart loses none, and two workers fire each timer once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from domain_helpers import confirmed_requirement, kickoff, make_world
from pmflow import Actor, Condition, TransitionContext, hookimpl
from pmflow.app import MIGRATIONS
from pmflow.app import plugin_manager as make_plugin_manager
from pmflow.cli import cli
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.migrate import upgrade
from pmflow.core.outbox import RetryPolicy, Worker
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import outbox, subjects
from pmflow.core.tables import timers as timers_table
from pmflow.core.timers import Timer, TimerRunner, timers_of
from pmflow.domain.services import Domain

MANAGER = Actor("u-mia", frozenset({"manager"}), name="Mia")
CLERK = Actor("u-cal", frozenset({"clerk"}), name="Cal")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

CASE = """
workflow: case
version: 1
subject: case
initial: waiting
roles: [manager, clerk]
fields:
  approver: {type: string, label: Approver}
states:
  - name: waiting
    timeout: {after: P3D, trigger: remind}
  - name: review
    initial: checking
    timeout: {after: P10D, trigger: escalate}
    states:
      - name: checking
        timeout: {after: PT4H, trigger: nudge}
      - name: signing
  - name: escalated
  - name: done
    final: true
transitions:
  - trigger: remind
    source: waiting
    internal: true
    roles: [manager]
    actions: [{emit: reminder}]
  - trigger: note
    source: waiting
    internal: true
  - trigger: start
    source: waiting
    dest: review
  - trigger: nudge
    source: review.checking
    internal: true
    conditions: [{fields_set: [approver]}]
  - trigger: sign
    source: review.checking
    dest: review.signing
  - trigger: escalate
    source: review
    dest: escalated
    roles: [manager]
  - trigger: finish
    source: [escalated, review]
    dest: done
"""


class Clock:
    """A clock the test moves by hand; the engine and the worker share it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def plugins() -> pluggy.PluginManager:
    return make_plugin_manager()


@pytest.fixture
def case_registry(write_workflow: Callable[[str], Path], plugins: pluggy.PluginManager) -> WorkflowRegistry:
    return WorkflowRegistry.load([write_workflow(CASE)], Catalog.from_plugins(plugins))


@pytest.fixture
def case_engine(
    database: Database, case_registry: WorkflowRegistry, plugins: pluggy.PluginManager, clock: Clock
) -> WorkflowEngine:
    return WorkflowEngine(database, case_registry, plugins, clock=clock)


def worker_for(engine: WorkflowEngine, clock: Clock) -> Worker:
    return Worker(engine.database, [], clock=clock, timers=TimerRunner(engine, clock=clock))


def timers(engine: WorkflowEngine, subject_id: int) -> list[Timer]:
    with engine.database.read() as conn:
        return timers_of(conn, subject_id)


def pending(engine: WorkflowEngine, subject_id: int) -> dict[str, datetime]:
    return {t.state: t.due_at for t in timers(engine, subject_id) if t.status == "pending"}


def triggers(engine: WorkflowEngine, subject_id: int) -> list[str]:
    return [e.trigger for e in engine.history(subject_id)]


# ---- arming and cancelling ------------------------------------------------------------------------


def test_entering_a_state_arms_its_timeout_and_nested_states_arm_each_level(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    created_at = clock.now
    case = case_engine.create("case", CLERK).subject
    [timer] = timers(case_engine, case.id)
    assert (timer.state, timer.trigger, timer.status) == ("waiting", "remind", "pending")
    assert timer.due_at == created_at + 3 * DAY and timer.subject_version == 1

    clock.advance(DAY)
    case_engine.fire(case.id, "start", CLERK)
    assert pending(case_engine, case.id) == {
        "review": clock.now + 10 * DAY,
        "review.checking": clock.now + 4 * HOUR,
    }
    assert timers(case_engine, case.id)[0].status == "cancelled"  # left 'waiting' before it was due

    case_engine.fire(case.id, "sign", CLERK)  # leaves the nested state only: the outer timer stays
    assert pending(case_engine, case.id) == {"review": clock.now + 10 * DAY}


def test_a_timer_fires_once_when_due_and_never_before(case_engine: WorkflowEngine, clock: Clock) -> None:
    case = case_engine.create("case", CLERK).subject
    worker = worker_for(case_engine, clock)

    clock.advance(3 * DAY - timedelta(seconds=1))
    worker.drain()
    assert triggers(case_engine, case.id) == ["create"]
    assert [t.status for t in timers(case_engine, case.id)] == ["pending"]

    clock.advance(timedelta(seconds=1))
    worker.drain()
    worker.drain()
    history = case_engine.history(case.id)
    assert [e.trigger for e in history] == ["create", "remind"]
    assert (history[-1].actor_id, history[-1].actor_name) == ("system:timer", "Timer")
    assert history[-1].occurred_at == clock.now
    first = timers(case_engine, case.id)[0]
    assert (first.status, first.fired_at, first.attempts) == ("fired", clock.now, 1)
    with case_engine.database.read() as conn:  # the reminder's message went out like a person's
        topics = [r.topic for r in conn.execute(select(outbox).where(outbox.c.subject_id == case.id))]
    assert "reminder" in topics


def test_an_internal_reminder_rearms_so_reminders_repeat(case_engine: WorkflowEngine, clock: Clock) -> None:
    case = case_engine.create("case", CLERK).subject
    worker = worker_for(case_engine, clock)
    for _ in range(3):
        clock.advance(3 * DAY)
        worker.drain()
    assert triggers(case_engine, case.id) == ["create", "remind", "remind", "remind"]
    assert [t.status for t in timers(case_engine, case.id)] == ["fired", "fired", "fired", "pending"]
    assert pending(case_engine, case.id) == {"waiting": clock.now + 3 * DAY}


def test_a_manual_reminder_restarts_the_wait_but_other_internal_triggers_do_not(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    case = case_engine.create("case", CLERK).subject
    worker = worker_for(case_engine, clock)
    clock.advance(DAY)
    case_engine.fire(case.id, "note", CLERK)  # not the reminder: the wait goes on
    clock.advance(DAY)
    case_engine.fire(case.id, "remind", MANAGER)  # a person reminded: wait three days from now
    assert pending(case_engine, case.id) == {"waiting": clock.now + 3 * DAY}
    clock.advance(2 * DAY)
    worker.drain()
    assert triggers(case_engine, case.id) == ["create", "note", "remind"]
    clock.advance(DAY)
    worker.drain()
    assert triggers(case_engine, case.id) == ["create", "note", "remind", "remind"]


def test_leaving_the_state_before_it_is_due_cancels_the_timer_for_good(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    case = case_engine.create("case", CLERK).subject
    worker = worker_for(case_engine, clock)
    clock.advance(DAY)
    case_engine.fire(case.id, "start", CLERK)
    case_engine.fire(case.id, "sign", CLERK)
    case_engine.fire(case.id, "finish", CLERK)
    clock.advance(30 * DAY)
    worker.drain()
    assert triggers(case_engine, case.id) == ["create", "start", "sign", "finish"]
    assert {t.state: t.status for t in timers(case_engine, case.id)} == {
        "waiting": "cancelled",
        "review": "cancelled",
        "review.checking": "cancelled",
    }


def test_a_timeout_that_moves_the_subject_passes_the_role_check(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    case = case_engine.create("case", CLERK).subject
    case_engine.fire(case.id, "start", CLERK)
    case_engine.fire(case.id, "sign", CLERK)
    clock.advance(10 * DAY)
    worker_for(case_engine, clock).drain()
    # 'escalate' is for managers; the timer passes roles but not conditions
    assert case_engine.get(case.id).state == "escalated"
    assert case_engine.history(case.id)[-1].actor_id == "system:timer"
    assert {t.state: t.status for t in timers(case_engine, case.id)} == {
        "waiting": "cancelled",
        "review": "fired",
        "review.checking": "cancelled",  # left for 'signing' before its four hours were up
    }


def test_a_guard_that_blocks_ends_the_timer_failed_with_the_reasons_and_no_retry(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    case = case_engine.create("case", CLERK).subject
    case_engine.fire(case.id, "start", CLERK)
    before = case_engine.get(case.id)
    worker = worker_for(case_engine, clock)
    clock.advance(4 * HOUR)
    worker.drain()
    clock.advance(DAY)
    worker.drain()
    nudge = next(t for t in timers(case_engine, case.id) if t.trigger == "nudge")
    assert (nudge.status, nudge.attempts) == ("failed", 1)
    assert nudge.last_error == "blocked: Approver must be filled in first"
    after = case_engine.get(case.id)
    assert (after.state, after.version) == (before.state, before.version)
    assert "nudge" not in triggers(case_engine, case.id)


class Flaky:
    """A plugin whose condition raises (a sensor offline) until told otherwise."""

    def __init__(self) -> None:
        self.broken = True

    def _check(self, _context: TransitionContext, _argument: Any) -> str | None:
        if self.broken:
            raise ConnectionError("sensor offline")
        return None

    @hookimpl
    def pmflow_conditions(self) -> list[Condition]:
        return [Condition("sensor_ok", self._check, "the sensor answers")]


def test_an_error_is_retried_with_backoff_then_the_timer_fires(
    database: Database, write_workflow: Callable[[str], Path], clock: Clock
) -> None:
    flaky = Flaky()
    pm = make_plugin_manager()
    pm.register(flaky, name="flaky")
    text = CASE.replace("    actions: [{emit: reminder}]", "    conditions: [sensor_ok]")
    registry = WorkflowRegistry.load([write_workflow(text)], Catalog.from_plugins(pm))
    engine = WorkflowEngine(database, registry, pm, clock=clock)
    case = engine.create("case", CLERK).subject
    runner = TimerRunner(engine, clock=clock, policy=RetryPolicy(base=60, jitter=0))
    clock.advance(3 * DAY)
    runner.drain()
    [timer] = timers(engine, case.id)
    assert (timer.status, timer.attempts) == ("pending", 1)
    assert timer.last_error is not None and "sensor offline" in timer.last_error
    assert timer.due_at == clock.now + timedelta(seconds=60)
    flaky.broken = False
    clock.advance(timedelta(seconds=60))
    runner.drain()
    assert triggers(engine, case.id) == ["create", "remind"]
    assert timers(engine, case.id)[0].status == "fired"


def test_a_subject_moved_behind_the_engines_back_cancels_its_timer(
    case_engine: WorkflowEngine, clock: Clock
) -> None:
    case = case_engine.create("case", CLERK).subject
    with case_engine.database.write() as conn:  # e.g. an operator's repair in SQL
        conn.execute(update(subjects).where(subjects.c.id == case.id).values(state="escalated"))
    clock.advance(3 * DAY)
    worker_for(case_engine, clock).drain()
    [timer] = timers(case_engine, case.id)
    assert timer.status == "cancelled" and "no longer in 'waiting'" in (timer.last_error or "")
    assert triggers(case_engine, case.id) == ["create"]


# ---- restarts and several workers -----------------------------------------------------------------


def test_a_restart_loses_no_timer(
    database_url: str, write_workflow: Callable[[str], Path], clock: Clock
) -> None:
    def start() -> tuple[Database, WorkflowEngine]:
        db = Database(database_url)
        pm = make_plugin_manager()
        registry = WorkflowRegistry.load([write_workflow(CASE)], Catalog.from_plugins(pm))
        return db, WorkflowEngine(db, registry, pm, clock=clock)

    db, engine = start()
    upgrade(db, locations=MIGRATIONS)
    case = engine.create("case", CLERK).subject
    db.dispose()  # the process ends; the timer is a row in the database

    clock.advance(5 * DAY)
    db, engine = start()
    try:
        worker_for(engine, clock).drain()
        assert triggers(engine, case.id) == ["create", "remind"]
    finally:
        db.dispose()


def test_two_workers_fire_each_due_timer_once(case_engine: WorkflowEngine, clock: Clock) -> None:
    ids = [case_engine.create("case", CLERK).subject.id for _ in range(40)]
    clock.advance(3 * DAY)
    runners = [TimerRunner(case_engine, clock=clock, batch=5) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(runner: TimerRunner) -> None:
        try:
            barrier.wait()
            runner.drain()
        except BaseException as error:  # reported below, with the thread's traceback lost otherwise
            errors.append(error)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(triggers(case_engine, i) == ["create", "remind"] for i in ids)
    assert all([t.status for t in timers(case_engine, i)] == ["fired", "pending"] for i in ids)


# ---- the shipped customer-project workflow ---------------------------------------------------------


def test_customer_project_reminds_the_customer_until_requirements_are_confirmed(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager, clock: Clock
) -> None:
    engine = WorkflowEngine(database, registry, plugins, clock=clock)
    world = make_world(Domain(engine), defined=True)
    kickoff(world)
    world.fire(world.manager, world.project_id, "start_requirements")
    confirmed_requirement(world, "Login")
    world.fire(world.manager, world.project_id, "request_confirmation")
    worker = worker_for(engine, clock)

    clock.advance(3 * DAY)
    worker.drain()
    last = engine.history(world.project_id)[-1]
    assert (last.trigger, last.actor_name) == ("remind_customer", "Timer")
    with database.read() as conn:
        topics = {
            r.topic for r in conn.execute(select(outbox).where(outbox.c.subject_id == world.project_id))
        }
    assert "customer_reminder" in topics

    clock.advance(DAY)
    world.fire(world.customer, world.project_id, "confirm_requirements")
    clock.advance(10 * DAY)
    worker.drain()
    assert [e.trigger for e in engine.history(world.project_id)][-2:] == [
        "remind_customer",
        "confirm_requirements",
    ]
    assert pending(engine, world.project_id) == {}


def test_pmflow_worker_once_fires_due_timers(
    database: Database, write_workflow: Callable[[str], Path], plugins: pluggy.PluginManager
) -> None:
    folder = write_workflow(CASE).parent
    engine = WorkflowEngine(database, WorkflowRegistry.load([folder], Catalog.from_plugins(plugins)), plugins)
    case = engine.create("case", CLERK).subject
    with database.write() as conn:  # three days pass
        conn.execute(update(timers_table).values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
    url = database.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--workflows", str(folder), "worker", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "fired 1 due timer" in result.output.splitlines()
    assert triggers(engine, case.id) == ["create", "remind"]
