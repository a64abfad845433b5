"""The outbox worker: every committed event reaches every consumer at least once, failures are recorded
against their own delivery and retried with backoff until dead-lettered, a killed worker loses nothing,
and several workers on PostgreSQL never deliver one row twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text

from pmflow import Actor, hookimpl
from pmflow.cli import cli
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.outbox import (
    OutboxConsumer,
    OutboxConsumerError,
    OutboxDelivery,
    RetryPolicy,
    Worker,
    consumers_from_plugins,
)
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import deliveries, outbox

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
ACTOR = Actor("u-1", frozenset({"manager"}))


class Clock:
    """A clock the test moves by hand: no sleeping for backoff or leases."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    """A consumer that remembers what it got and fails its first ``failures`` attempts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[OutboxDelivery] = []

    def deliver(self, delivery: OutboxDelivery) -> None:
        self.received.append(delivery)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("mail server unreachable")


TICKET = """
workflow: ticket
version: 1
subject: ticket
initial: open
states:
  - name: open
  - name: closed
    final: true
transitions:
  - trigger: close
    source: open
    dest: closed
    actions: [{emit: survey}]
"""


@pytest.fixture
def registry(write_workflow: Callable[[str], Path], catalog: Catalog) -> WorkflowRegistry:
    """A ticket lifecycle whose `close` also queues a `survey` message."""
    return WorkflowRegistry.load([write_workflow(TICKET)], catalog)


class Consumers:
    """A plugin with two consumers: one for every topic, one for `event` only."""

    def __init__(self) -> None:
        self.everything = Recorder()
        self.events_only = Recorder()

    @hookimpl
    def pmflow_outbox_consumers(self) -> list[OutboxConsumer]:
        return [
            OutboxConsumer("everything", self.everything.deliver),
            OutboxConsumer("events-only", self.events_only.deliver, topics=frozenset({"event"})),
        ]


class BrokenHook:
    """An after-commit hook that always raises."""

    def __init__(self) -> None:
        self.calls: list[OutboxDelivery] = []

    @hookimpl
    def pmflow_after_commit(self, delivery: OutboxDelivery) -> None:
        self.calls.append(delivery)
        raise RuntimeError(f"broken plugin on {delivery.topic}")


class FlakyHook:
    """An after-commit hook that fails once per message, then succeeds."""

    def __init__(self) -> None:
        self.calls: list[OutboxDelivery] = []

    @hookimpl
    def pmflow_after_commit(self, delivery: OutboxDelivery) -> None:
        self.calls.append(delivery)
        if delivery.attempt == 1:
            raise TimeoutError("slow webhook")


def make_engine(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager, clock: Clock
) -> WorkflowEngine:
    return WorkflowEngine(database, registry, plugins, clock=clock)


def outbox_rows(database: Database) -> list[Any]:
    with database.read() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)))


def delivery_log(database: Database) -> dict[tuple[int, str], Any]:
    with database.read() as conn:
        return {(d.outbox_id, d.consumer): d for d in conn.execute(select(deliveries))}


def test_every_committed_message_reaches_each_interested_consumer_once(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager
) -> None:
    clock = Clock()
    consumers = Consumers()
    plugins.register(consumers)
    engine = make_engine(database, registry, plugins, clock)
    ticket = engine.create("ticket", ACTOR).subject
    held = engine.fire(ticket.id, "close", ACTOR).event
    worker = Worker.for_plugins(database, plugins, clock=clock)

    assert worker.drain() == 3  # creation event, the transition's event, its survey message
    assert worker.drain() == 0

    everything = consumers.everything.received
    assert [(d.topic, d.attempt) for d in everything] == [("event", 1), ("event", 1), ("survey", 1)]
    assert [d.topic for d in consumers.events_only.received] == ["event", "event"]
    assert everything[1].event_id == everything[2].event_id == held.event_id
    assert everything[1].payload["to_state"] == "closed" and everything[2].payload["trigger"] == "close"
    assert {r.status for r in outbox_rows(database)} == {"delivered"}
    log = delivery_log(database)
    assert len(log) == 5 and {(d.status, d.attempts) for d in log.values()} == {("delivered", 1)}


def test_a_failing_after_commit_hook_keeps_the_transition_and_is_retried_with_growing_delays_then_dead(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager
) -> None:
    clock = Clock()
    consumers, broken, flaky = Consumers(), BrokenHook(), FlakyHook()
    plugins.register(consumers)
    engine = make_engine(database, registry, plugins, clock)
    ticket = engine.create("ticket", ACTOR).subject
    Worker.for_plugins(database, plugins, clock=clock).drain()  # the creation event, before the hooks
    plugins.register(broken)
    plugins.register(flaky)
    worker = Worker.for_plugins(
        database, plugins, clock=clock, policy=RetryPolicy(max_attempts=3, base=10, factor=3, jitter=0)
    )

    engine.fire(ticket.id, "close", ACTOR)
    worker.drain()

    # the transition stands whatever the hooks do after commit
    assert engine.get(ticket.id).state == "closed"
    rows = outbox_rows(database)[-2:]
    name = f"after_commit:{__name__}.BrokenHook.pmflow_after_commit"
    failed = [delivery_log(database)[(row.id, name)] for row in rows]
    assert [(d.status, d.attempts) for d in failed] == [("failed", 1), ("failed", 1)]
    assert failed[0].last_error == "RuntimeError: broken plugin on event"
    assert failed[0].next_attempt_at == clock.now + timedelta(seconds=10)
    assert rows[0].status == "pending" and "broken plugin on event" in rows[0].last_error

    delays = []
    for _ in range(3):
        before = len(broken.calls)
        clock.advance(9)
        worker.drain()
        assert len(broken.calls) == before  # not due yet: no retry before its backoff
        clock.advance(1)
        worker.drain()
        log = delivery_log(database)
        d = log[(rows[0].id, name)]
        if d.status == "failed":
            delays.append((d.next_attempt_at - clock.now).total_seconds())
            clock.advance(delays[-1] - 10)
    assert delays == [30.0]  # 10 s after the first failure, 30 s after the second
    assert [(d.status, d.attempts) for d in (log[(row.id, name)] for row in rows)] == [("dead", 3)] * 2
    assert {row.status for row in outbox_rows(database)[-2:]} == {"dead"}

    # every attempt carried the same ids; nobody else was asked twice
    assert len({(c.event_id, c.delivery_id) for c in broken.calls if c.topic == "event"}) == 1
    assert [c.attempt for c in broken.calls if c.topic == "event"] == [1, 2, 3]
    assert len(consumers.everything.received) == 3 and len(consumers.events_only.received) == 2
    assert [c.attempt for c in flaky.calls] == [1, 1, 2, 2]  # failed once each, then delivered
    assert all(d.status == "delivered" for (_, c), d in log.items() if c != name)

    clock.advance(10**6)
    assert worker.drain() == 0 and len(broken.calls) == 6  # dead letters stay dead


def test_an_async_consumer_is_awaited_and_its_failure_recorded(database: Database) -> None:
    add_outbox_rows(database, 2)
    got: list[int] = []

    async def deliver(delivery: OutboxDelivery) -> None:
        got.append(delivery.outbox_id)
        if len(got) == 2:
            raise ValueError("no such channel")

    assert Worker(database, [OutboxConsumer("async", deliver)]).drain() == 2
    assert sorted((d.status, d.last_error) for d in delivery_log(database).values()) == [
        ("delivered", None),
        ("failed", "ValueError: no such channel"),
    ]


def test_backoff_is_exponential_capped_and_jittered_below_the_delay() -> None:
    policy = RetryPolicy(base=2, factor=2, max_delay=60, jitter=0.5)
    assert [policy.delay(n, lambda: 0.0).total_seconds() for n in (1, 2, 3, 6, 9)] == [2, 4, 8, 60, 60]
    assert policy.delay(3, lambda: 1.0).total_seconds() == 4
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)


def test_rows_of_a_worker_that_died_come_back_after_its_lease(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager
) -> None:
    clock = Clock()
    consumers = Consumers()
    plugins.register(consumers)
    make_engine(database, registry, plugins, clock).create("ticket", ACTOR)
    dying = Worker.for_plugins(database, plugins, clock=clock, lease=timedelta(seconds=30))
    dying._claim()  # claimed, then the process is gone before delivering
    assert {r.status for r in outbox_rows(database)} == {"in_flight"}

    survivor = Worker.for_plugins(database, plugins, clock=clock)
    assert survivor.drain() == 0  # still leased to the dead worker
    clock.advance(30)
    assert survivor.drain() == 1
    assert [d.topic for d in consumers.everything.received] == ["event"]
    assert {r.status for r in outbox_rows(database)} == {"delivered"}


def test_a_stopping_worker_hands_back_the_rows_it_has_not_started(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager
) -> None:
    clock = Clock()
    consumers = Consumers()
    plugins.register(consumers)
    make_engine(database, registry, plugins, clock).create("ticket", ACTOR)
    stop = threading.Event()
    stop.set()
    worker = Worker.for_plugins(database, plugins, clock=clock)
    assert worker.run_once(stop) == 1
    assert consumers.everything.received == []
    assert [r.status for r in outbox_rows(database)] == ["pending"]  # due now, not after the lease
    assert worker.drain() == 1 and len(consumers.everything.received) == 1


def test_two_plugins_claiming_one_consumer_name_is_an_error(plugins: pluggy.PluginManager) -> None:
    plugins.register(Consumers())
    plugins.register(Consumers())
    with pytest.raises(OutboxConsumerError, match="'everything' is provided twice"):
        consumers_from_plugins(plugins)


# ---- PostgreSQL: several workers ----------------------------------------------------------------


def add_outbox_rows(database: Database, count: int) -> list[str]:
    now = datetime.now(UTC) - timedelta(seconds=1)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    common = {"topic": "event", "status": "pending", "attempts": 0, "available_at": now, "created_at": now}
    with database.write() as conn:
        conn.execute(
            insert(outbox),
            [{**common, "event_id": e, "subject_id": i + 1, "payload": {"n": i}} for i, e in enumerate(ids)],
        )
    return ids


def test_two_workers_on_postgresql_deliver_a_thousand_events_exactly_once(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("several workers need PostgreSQL (SQLite has one writer)")
    event_ids = add_outbox_rows(database, 1000)
    received: list[tuple[str, str]] = []
    lock = threading.Lock()

    def consumer(worker_name: str) -> OutboxConsumer:
        def deliver(delivery: OutboxDelivery) -> None:
            with lock:
                received.append((delivery.event_id, worker_name))

        return OutboxConsumer("count", deliver)

    databases = [Database(str(database.url.render_as_string(hide_password=False))) for _ in range(2)]
    try:
        workers = [Worker(db, [consumer(f"w{i}")], batch=20) for i, db in enumerate(databases)]
        threads = [threading.Thread(target=w.drain) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for db in databases:
            db.dispose()
    assert sorted(e for e, _ in received) == sorted(event_ids)  # all delivered, none twice
    assert {w for _, w in received} == {"w0", "w1"}  # both workers took part
    assert {r.status for r in outbox_rows(database)} == {"delivered"}


# ---- the command line: `pmflow worker`, killed and restarted ----------------------------------

SLOW_PLUGIN = """
import os
import time

from sqlalchemy import create_engine, text

from pmflow import hookimpl
from pmflow.core.database import normalise_url
from pmflow.core.outbox import OutboxConsumer

_engine = create_engine(normalise_url(os.environ["PMFLOW_DATABASE_URL"]))


def _deliver(delivery):
    time.sleep(0.2)  # a slow channel: the worker is killed while it waits here
    with _engine.begin() as conn:
        conn.execute(
            text("INSERT INTO received (event_id, delivery_id) VALUES (:e, :d)"),
            {"e": delivery.event_id, "d": delivery.delivery_id},
        )


@hookimpl
def pmflow_outbox_consumers():
    return [OutboxConsumer("slow", _deliver)]
"""

# `pmflow worker` exactly as installed, with the slow plugin among the built-ins.
LAUNCH = (
    "import sys, pmflow.app as a; a.DEFAULT_PLUGINS = (*a.DEFAULT_PLUGINS, 'slow_consumer'); "
    "from pmflow.cli import main; sys.argv = ['pmflow', *sys.argv[1:]]; main()"
)


@pytest.fixture
def worker_process(tmp_path: Path, database: Database) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    (tmp_path / "slow_consumer.py").write_text(textwrap.dedent(SLOW_PLUGIN), encoding="utf-8")
    with database.write() as conn:
        conn.execute(
            text("CREATE TABLE received (event_id VARCHAR(36) NOT NULL, delivery_id INTEGER NOT NULL)")
        )
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PMFLOW_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "PMFLOW_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "--workflows", str(WORKFLOWS), "worker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


def received_ids(database: Database) -> list[str]:
    with database.read() as conn:
        return list(conn.execute(text("SELECT event_id FROM received")).scalars())


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_a_worker_killed_mid_delivery_then_restarted_delivers_every_event(
    database: Database, worker_process: Callable[..., subprocess.Popen[str]]
) -> None:
    event_ids = add_outbox_rows(database, 12)
    args = ("--poll", "0.05", "--batch", "4", "--lease", "1")

    first = worker_process(*args)
    wait_for(lambda: len(received_ids(database)) >= 2, "the first worker delivered something")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(received_ids(database)) < 12
    assert "in_flight" in {r.status for r in outbox_rows(database)}  # it died holding claimed rows

    second = worker_process(*args)
    wait_for(lambda: {r.status for r in outbox_rows(database)} == {"delivered"}, "every row is delivered")
    second.send_signal(signal.SIGTERM)
    output, _ = second.communicate(timeout=30)
    assert second.returncode == 0, output
    consumers = output.split("consumers: ", 1)[1].splitlines()[0].split(", ")
    assert {"in_app", "slow"} <= set(consumers) and output.rstrip().endswith("pmflow worker stopped")

    assert set(received_ids(database)) == set(event_ids)  # at least once each, by its stable event id
    log = delivery_log(database).values()  # (the health plugin takes every event too)
    assert {d.status for d in log} == {"delivered"} and "slow" in {d.consumer for d in log}


def test_worker_once_drains_and_reports(database: Database) -> None:
    add_outbox_rows(database, 3)
    url = database.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["--workflows", str(WORKFLOWS), "worker", "--once", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "handled 3 outbox rows"
    assert {r.status for r in outbox_rows(database)} == {"delivered"}  # no consumer wanted them


# ---- the API runs a worker in-process unless told not to ---------------------------------------


def test_serve_runs_an_in_process_worker(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import pmflow.app
    from api_helpers import running_api

    got: list[OutboxDelivery] = []
    plugin = types.ModuleType("pmflow_test_outbox_plugin")

    @hookimpl
    def pmflow_after_commit(delivery: OutboxDelivery) -> None:
        got.append(delivery)

    plugin.pmflow_after_commit = pmflow_after_commit  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, plugin.__name__, plugin)
    monkeypatch.setattr(pmflow.app, "DEFAULT_PLUGINS", (*pmflow.app.DEFAULT_PLUGINS, plugin.__name__))

    with running_api(database_url, worker=True):  # the demo data's events are waiting in the outbox
        wait_for(lambda: len(got) > 10, "the API's worker delivered the demo events", timeout=20)
    assert all(d.consumer.startswith("after_commit:") for d in got)

    assert "--no-worker" in CliRunner().invoke(cli, ["serve", "--help"]).output
