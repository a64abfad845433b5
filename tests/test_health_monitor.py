"""Health history and early warning (docs/health.md): after every event of a project the worker's
``health`` consumer recomputes it and records a score only when it changed and warns the project's managers
once per fall below the threshold (the customer too with ``warn_customer``), in the app and by mail;
a redelivered check changes nothing. ``pmflow health check`` does the same from cron."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from domain_helpers import World, day, make_world
from mail_helpers import smtp_server
from pmflow.app import App, build
from pmflow.cli import cli
from pmflow.core.outbox import OutboxDelivery, Worker
from pmflow.core.tables import outbox
from pmflow.domain import tables as t
from pmflow.domain.services import Domain
from pmflow.plugins.health import CHECK_TOPIC, MONITOR_PLUGIN, queue_check
from pmflow.plugins.health.monitor import WARNING_TYPE, HealthMonitor
from test_health import START, WORKFLOWS, Clock, close_risk, risk, work_item


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def started(database_url: str, clock: Clock) -> App:
    return build(database_url=database_url, workflows=WORKFLOWS, clock=clock)


@pytest.fixture
def app(database_url: str, clock: Clock) -> Iterator[App]:
    built = started(database_url, clock)
    try:
        yield built
    finally:
        built.database.dispose()


def drain(app: App, clock: Clock) -> None:
    Worker.for_plugins(app.database, app.plugins, clock=clock, chance=lambda: 0.0).drain()


def history(app: App, project_id: int) -> list[tuple[int, bool]]:
    h = t.health_scores
    with app.database.read() as conn:
        query = select(h.c.score, h.c.warning).where(h.c.project_id == project_id).order_by(h.c.id)
        return [(int(r.score), bool(r.warning)) for r in conn.execute(query)]


def warned(app: App) -> list[tuple[int, str]]:
    """(user id, title) of every early-warning notification stored in the app."""
    n = t.notifications
    with app.database.read() as conn:
        query = select(n.c.user_id, n.c.title).where(n.c.event_type == WARNING_TYPE).order_by(n.c.id)
        return [(int(r.user_id), str(r.title)) for r in conn.execute(query)]


def late_and_stuck(world: World) -> None:
    """Three milestones late and all open work blocked: 70 before any risk (no event: no check yet)."""
    world.domain.projects.update(
        world.manager,
        world.project_id,
        {"milestones": [{"name": f"M{n}", "due": day(-n).isoformat()} for n in (1, 2, 3)]},
    )
    work_item(world, "Payment provider", blocked="No contract yet")


def checks(app: App) -> list[Any]:
    """The outbox rows the health consumer takes: every history event's, and queue_check's."""
    with app.database.read() as conn:
        query = select(outbox.c.id, outbox.c.topic, outbox.c.subject_id, outbox.c.payload).where(
            outbox.c.topic.in_((CHECK_TOPIC, "event"))
        )
        return list(conn.execute(query.order_by(outbox.c.id)))


def test_a_transition_pays_nothing_for_health_the_worker_recomputes_after_commit(
    app: App, clock: Clock
) -> None:
    world = make_world(Domain(app.engine))
    risk_id = risk(world, "Vendor insolvent", 5, 4)
    assert [r.topic for r in checks(app)] == ["event", "event"]  # the engine's own rows, nothing more
    assert history(app, world.project_id) == []  # nothing computed inside the transactions
    drain(app, clock)
    assert history(app, world.project_id) == [(88, False)]  # 100 - 12.5 for the critical risk

    close_risk(world, risk_id)
    world.domain.work_items.create(world.manager, world.project_id, {"title": "Cart", "blocked_reason": "x"})
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (90, False)  # the risk closed; all open work blocked

    with app.database.write() as conn:  # a change without a history event asks for a check itself
        queue_check(conn, world.project_id, clock(), "work item unblocked")
    assert checks(app)[-1].payload == {"project_id": world.project_id, "reason": "work item unblocked"}


def test_history_is_recorded_on_change_and_the_managers_are_warned_once_per_fall(
    app: App, clock: Clock
) -> None:
    world = make_world(Domain(app.engine))
    drain(app, clock)
    assert history(app, world.project_id) == [(100, False)]
    drain(app, clock)
    queue_check_now(app, world, clock)
    assert history(app, world.project_id) == [(100, False)]  # nothing changed: nothing recorded

    late_and_stuck(world)
    first = risk(world, "Vendor insolvent", 5, 4)
    second = risk(world, "Key developer leaves", 4, 4)
    drain(app, clock)
    assert history(app, world.project_id) == [(100, False), (45, True)]
    assert warned(app) == [(world.manager_id, "Early warning: the health of Portal fell to 45")]

    close_risk(world, first)  # 57.5 -> 58: better, still below, no new warning
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (58, False)
    close_risk(world, second)  # 70: back above
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (70, False)
    assert len(warned(app)) == 1

    risk(world, "Data centre move", 5, 5)  # falls again: warned again
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (58, True)
    assert [user for user, _ in warned(app)] == [world.manager_id, world.manager_id]


def queue_check_now(app: App, world: World, clock: Clock) -> None:
    with app.database.write() as conn:
        queue_check(conn, world.project_id, clock(), "cron")
    drain(app, clock)


def test_a_redelivered_check_records_and_warns_nothing_more(app: App, clock: Clock) -> None:
    world = make_world(Domain(app.engine))
    late_and_stuck(world)
    risk(world, "Vendor insolvent", 5, 4)
    risk(world, "Key developer leaves", 4, 4)
    drain(app, clock)
    before = (history(app, world.project_id), warned(app))
    assert before[0][-1] == (45, True) and len(before[1]) == 1

    monitor = app.plugins.get_plugin(MONITOR_PLUGIN)
    assert isinstance(monitor, HealthMonitor)
    last = checks(app)[-1]  # the newest check: nothing later stands in for it
    again = OutboxDelivery(
        delivery_id=1,
        outbox_id=last.id,
        event_id="e",
        topic=CHECK_TOPIC,
        subject_id=world.project_id,
        payload=dict(last.payload),
        consumer="health",
        attempt=2,
        created_at=clock(),
    )
    monitor.deliver(again)  # at least once: the worker died after delivering, before recording
    drain(app, clock)
    assert (history(app, world.project_id), warned(app)) == before


def test_with_warn_customer_the_customer_hears_it_too_in_the_app_and_by_mail(
    database_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMFLOW_PLUGIN_HEALTH_WARN_CUSTOMER", "true")
    built = started(database_url, clock)
    try:
        world = make_world(Domain(built.engine))
        # with warn_customer, the customer representative of the project (a membership role) hears it
        world.domain.projects.add_member(
            world.manager,
            world.project_id,
            {"user_id": world.customer_user_id, "role": "customer_representative"},
        )
        drain(built, clock)
        late_and_stuck(world)
        risk(world, "Vendor insolvent", 5, 4)
        with smtp_server(monkeypatch) as handler:
            risk(world, "Key developer leaves", 4, 4)  # the fall happens with SMTP on
            drain(built, clock)
        assert sorted(user for user, _ in warned(built)) == sorted([world.manager_id, world.customer_user_id])
        mailed = sorted(str(m["To"]) for m in handler.messages)
        assert mailed == ["Carla <carla@acme.example>", "Mia <mia@example.com>"]  # not Tom, the tester
        by_to = {str(m["To"]): m for m in handler.messages}
        mail = by_to["Mia <mia@example.com>"]
        assert mail["Subject"] == "Early warning: the health of Portal fell to 45"
        assert mail["X-Pmflow-Event-Type"] == WARNING_TYPE
        body = mail.get_payload(decode=True).decode()
        assert "below the warning threshold of 60" in body and "'Vendor insolvent' (20, critical)" in body
        # the customer hears that it fell, not the team's reasons (health is the team's business)
        theirs = by_to["Carla <carla@acme.example>"].get_payload(decode=True).decode()
        assert "below the warning threshold of 60" in theirs and "team has been alerted" in theirs
        assert "Vendor insolvent" not in theirs and "blocked" not in theirs
    finally:
        built.database.dispose()


def test_a_user_who_switched_everything_off_is_not_warned(app: App, clock: Clock) -> None:
    world = make_world(Domain(app.engine))
    with app.database.write() as conn:
        conn.execute(
            t.notification_preferences.insert(),
            {
                "user_id": world.manager_id,
                "role": None,
                "project_id": None,
                "event_type": "*",
                "channel": "in_app",
                "enabled": False,
            },
        )
    late_and_stuck(world)
    risk(world, "Vendor insolvent", 5, 4)
    risk(world, "Key developer leaves", 4, 4)
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (45, True)
    assert warned(app) == []


# ---- pmflow health check -------------------------------------------------------------------------


def test_the_cli_recomputes_records_and_prints_every_project(
    database_url: str, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = started(database_url, clock)
    try:
        world = make_world(Domain(built.engine))
        late_and_stuck(world)  # no event: only a check from cron sees it
    finally:
        built.database.dispose()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["--workflows", str(WORKFLOWS), "health", "check", "--database-url", database_url]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Portal" in result.output and " 70  healthy" in result.output and "recorded" in result.output
    assert "overdue schedule -20, blocked work -10" in result.output

    again = runner.invoke(cli, [*args, "--project", str(world.project_id), "--format", "json"])
    assert again.exit_code == 0, again.output
    found: list[dict[str, Any]] = json.loads(again.output)
    assert [(r["project_id"], r["score"], r["recorded"], r["warning"]) for r in found] == [
        (world.project_id, 70, False, False)
    ]
    missing = runner.invoke(cli, [*args, "--project", "999999"])
    assert missing.exit_code == 1 and "no project with id 999999" in missing.output


def test_blocking_work_without_any_event_is_rechecked_after_commit(app: App, clock: Clock) -> None:
    world = make_world(Domain(app.engine))
    item = world.domain.work_items.create(world.manager, world.project_id, {"title": "Cart"})
    drain(app, clock)
    assert history(app, world.project_id) == [(100, False)]

    # a work item has no lifecycle: blocking it writes no history event, yet health must follow
    world.domain.work_items.update(world.manager, item["id"], {"blocked_reason": "No API keys"})
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (90, False)  # all open work blocked: -10

    world.domain.work_items.update(world.manager, item["id"], {"title": "Basket"})  # not read by health
    with app.database.read() as conn:
        topics = [r.topic for r in conn.execute(select(outbox.c.topic).order_by(outbox.c.id))]
    # the creation (one more open item) and the blocking; not the rename
    assert topics.count("project.records_changed") == 2
    world.domain.work_items.update(world.manager, item["id"], {"blocked_reason": None})
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (100, False)


def test_re_scoring_a_risk_without_any_event_is_rechecked_and_warns(app: App, clock: Clock) -> None:
    world = make_world(Domain(app.engine))
    late_and_stuck(world)
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (70, False)
    first = risk(world, "Vendor insolvent", 1, 1)
    second = risk(world, "Key developer leaves", 1, 1)
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (70, False)  # low risks take nothing off

    # an edit is no lifecycle step: no history event, yet the early warning must not wait for one
    world.domain.risks.update(world.manager, first, {"probability": 5, "impact": 4})
    world.domain.risks.update(world.manager, second, {"probability": 4, "impact": 4})
    drain(app, clock)
    assert history(app, world.project_id)[-1] == (45, True)
    assert warned(app) == [(world.manager_id, "Early warning: the health of Portal fell to 45")]


def test_a_cancelled_project_is_no_longer_watched_nor_warned_about(app: App, clock: Clock) -> None:
    world = make_world(Domain(app.engine))
    drain(app, clock)
    late_and_stuck(world)  # 70 ...
    risk(world, "Vendor insolvent", 5, 4)
    risk(world, "Key developer leaves", 4, 4)  # ... then 45 and a warning, were the project running
    world.fire(world.manager, world.project_id, "cancel", comment="The customer withdrew")
    drain(app, clock)
    queue_check_now(app, world, clock)  # cron too
    assert history(app, world.project_id) == [(100, False)] and warned(app) == []
