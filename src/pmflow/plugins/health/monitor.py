"""Health history and early warning: the ``health`` outbox consumer and what it records.

The consumer takes the ``event`` row the engine writes with every history event (nothing is added to
the event's transaction) and the ``health.check`` rows of ``queue_check``. A check recomputes a
project's health and stores a ``health_scores`` row when the score or the set of signals that took
points off differs from the last row. When the score falls below the warning
threshold from at or above it (or on the first row), the row is marked ``warning`` and, in the same
transaction, the early warning goes out: an in-app notification of type ``project.health_warning``
to the project's managers (and, with ``warn_customer``, the customer's users), and a mail when SMTP
is configured (contacts too with ``warn_customer``). A redelivered check finds its row already
written and does nothing: the warning is sent once per fall.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pluggy
from sqlalchemy import Connection, Engine, insert, select

from pmflow.core.database import Database
from pmflow.core.engine import EVENT_TOPIC, Clock
from pmflow.core.hookspecs import hookimpl
from pmflow.core.outbox import OutboxConsumer, OutboxDelivery
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import subjects
from pmflow.core.types import HistoryEvent
from pmflow.domain import tables as t
from pmflow.domain import vocabulary as v
from pmflow.domain.audit import RECORDS_CHANGED
from pmflow.domain.guards import project_of
from pmflow.plugins import inapp, mail
from pmflow.plugins.channels import queue
from pmflow.plugins.health.score import HealthConfig, HealthReport, ScoredSignal, compute
from pmflow.plugins.preferences import IN_APP, Rule, decide, email_wanted, rules_for

CHECK_TOPIC = "health.check"
# Kinds of subjects whose events change a project's health: the project and what belongs to it.
PROJECT_KINDS = frozenset({v.PROJECT, v.REQUIREMENT, v.CHANGE_REQUEST, v.ITERATION, v.DELIVERABLE, v.RISK})
CONSUMER = "health"
WARNING_TYPE = "project.health_warning"
WARNING_TRIGGER = "health_warning"
MANAGER = "manager"
REPRESENTATIVE = "customer_representative"  # a project membership role (domain vocabulary.ProjectRole)
# Stable ids of warnings: uuid5 of the warning row, so that a notification of it is recognisable.
WARNING_NAMESPACE = uuid.UUID("5d3c1f0e-6b7a-4f2e-9a41-7d0c2b8e4f11")


@dataclass(frozen=True)
class Recorded:
    """What one check did: the report, whether a row was stored and whether it raised a warning."""

    report: HealthReport
    stored: bool
    warning: bool


class HealthMonitor:
    """The health plugin bound to one app: its database, plugins, settings and clock."""

    def __init__(
        self,
        database: Database,
        plugins: pluggy.PluginManager | None,
        config: HealthConfig,
        clock: Clock,
        registry: WorkflowRegistry | None = None,
    ) -> None:
        self.database = database
        self.plugins = plugins
        self.config = config
        self.clock = clock
        self.registry = registry  # to tell a project that is over (a final state): nothing to watch

    def _over(self, conn: Connection, project_id: int) -> bool:
        if self.registry is None:
            return False
        row = conn.execute(
            select(subjects.c.workflow, subjects.c.workflow_version, subjects.c.state).where(
                subjects.c.id == project_id
            )
        ).first()
        definition = None if row is None else self.registry.get(row.workflow, row.workflow_version)
        return (
            definition is not None
            and row is not None
            and row.state in definition.states
            and (definition.is_final(row.state))
        )

    def compute(self, conn: Connection, project_id: int, now: datetime | None = None) -> HealthReport:
        return compute(conn, project_id, now or self.clock(), plugins=self.plugins, config=self.config)

    def check(self, project_id: int) -> Recorded | None:
        """Recompute and record the project's health (one transaction); None when there is no such
        project (deleted test data, a check queued for a creation rolled back) or it is over (in a
        final state of its lifecycle: closed, cancelled)."""
        with self.database.write() as conn:
            locked = select(t.projects.c.id).where(t.projects.c.id == project_id)
            if not self.database.is_sqlite:  # one check per project at a time (SQLite: one writer anyway)
                locked = locked.with_for_update()
            if conn.execute(locked).first() is None or self._over(conn, project_id):
                return None  # a closed or cancelled project is no longer watched nor warned about
            return self.record(conn, self.compute(conn, project_id))

    def record(self, conn: Connection, report: HealthReport) -> Recorded:
        h = t.health_scores
        last = conn.execute(
            select(h.c.score, h.c.signals).where(h.c.project_id == report.project_id).order_by(h.c.id.desc())
        ).first()
        if last is not None and last.score == report.score and _active(last.signals) == report.active_codes:
            return Recorded(report, stored=False, warning=False)
        threshold = self.config.warning_threshold
        warning = report.score < threshold and (last is None or int(last.score) >= threshold)
        row_id = conn.execute(
            insert(h).returning(h.c.id),
            {
                "project_id": report.project_id,
                "score": report.score,
                "signals": [x.as_json() for x in report.signals],
                "warning": warning,
                "computed_at": report.computed_at,
            },
        ).scalar_one()
        if warning:
            self.warn(conn, report, int(row_id))
        return Recorded(report, stored=True, warning=warning)

    def warn(self, conn: Connection, report: HealthReport, row_id: int) -> None:
        """Send the early warning, in the transaction that records it: the managers get the reasons;
        the customer's representatives (``warn_customer``) the score alone, as health is the team's."""
        project_id = report.project_id
        name = conn.execute(select(t.projects.c.name).where(t.projects.c.id == project_id)).scalar()
        project = str(name or f"project {project_id}")
        event = _warning_event(report, row_id)
        title = f"Early warning: the health of {project} fell to {report.score}"
        fell = (
            f"The health score of {project} is {report.score}, below the warning threshold of "
            f"{report.threshold}."
        )
        body = {
            True: f"{fell} Biggest deductions: {report.explain()}.",
            False: f"{fell} The project team has been alerted and is dealing with it.",
        }
        signature = f"Event {event.event_id} - sent by pmflow.\n"
        details = {True: "".join(f"\n- {x.message} (-{x.points:g})" for x in report.deductions), False: ""}
        in_app = [
            {
                "user_id": user_id,
                "type": WARNING_TYPE,
                "project_id": project_id,
                "subject_id": project_id,
                "title": title,
                "body": body[team],
            }
            for user_id, team in self._app_recipients(conn, project_id)
        ]
        queue(conn, event, inapp.TOPIC, in_app)
        if os.environ.get(mail.ENV_HOST, "").strip():
            queue(
                conn,
                event,
                mail.TOPIC,
                (
                    {
                        "to": email,
                        "to_name": who,
                        "subject": title,
                        "text": f"{body[team]}\n{details[team]}\n\n{signature}",
                        "type": WARNING_TYPE,
                    }
                    for who, email, team in self._mail_recipients(conn, project_id)
                ),
            )

    # ---- who hears the warning --------------------------------------------------------------------

    def _members(self, conn: Connection, project_id: int, role: str) -> list[Any]:
        return list(
            conn.execute(
                select(t.users.c.id, t.users.c.email)
                .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
                .where(
                    t.memberships.c.project_id == project_id,
                    t.memberships.c.role == role,
                    t.users.c.active.is_(True),
                )
            )
        )

    def _audience(self, conn: Connection, project_id: int) -> dict[int, bool]:
        """User id -> whether they are of the team: the project's managers, and its customer
        representatives (members in that role) when ``warn_customer`` is set."""
        chosen = {int(r.id): True for r in self._members(conn, project_id, MANAGER)}
        if self.config.warn_customer:
            for r in self._members(conn, project_id, REPRESENTATIVE):
                chosen.setdefault(int(r.id), False)
        return chosen

    def _app_recipients(self, conn: Connection, project_id: int) -> list[tuple[int, bool]]:
        audience = self._audience(conn, project_id)
        everyone = dict(inapp.recipients(conn, project_id))  # user id -> organisation role
        chosen = {user_id: role for user_id, role in everyone.items() if user_id in audience}
        rules = rules_for(conn, IN_APP, list(chosen), project_id)
        return sorted((u, audience[u]) for u, role in chosen.items() if _wanted(rules, u, role, project_id))

    def _mail_recipients(self, conn: Connection, project_id: int) -> list[tuple[str, str, bool]]:
        audience = self._audience(conn, project_id)
        emails = {
            str(r.email).lower(): audience[int(r.id)]
            for role in (MANAGER, REPRESENTATIVE)
            for r in self._members(conn, project_id, role)
            if int(r.id) in audience
        }
        return [
            (who, email, emails[email.lower()])
            for who, email in mail.recipients(conn, project_id)
            if email.lower() in emails and email_wanted(conn, project_id, WARNING_TYPE, email, otherwise=True)
        ]

    # ---- the consumer -------------------------------------------------------------------------------

    def deliver(self, delivery: OutboxDelivery) -> None:
        """A history event (topic ``event``), a ``queue_check`` request or a change of the project's
        records without an event (``RECORDS_CHANGED``: a work item blocked): recompute its project."""
        payload = delivery.payload
        if delivery.topic == EVENT_TOPIC:
            kind = str(payload.get("kind"))
            if kind not in PROJECT_KINDS:
                return  # a subject of no project (a user, another model's subject)
            with self.database.read() as conn:
                project_id = project_of(conn, kind, int(payload["subject_id"]))
        else:
            project_id = payload.get("project_id")
        if project_id is None:
            return
        # Every message computes (0.6 ms, benchmarks/bench_health.py). Skipping one because a later
        # one waits is unsafe: on PostgreSQL a later id can commit, and be checked, before this one.
        self.check(int(project_id))

    @hookimpl
    def pmflow_outbox_consumers(self) -> list[OutboxConsumer]:
        return [
            OutboxConsumer(
                CONSUMER,
                self.deliver,
                topics=frozenset({CHECK_TOPIC, EVENT_TOPIC, RECORDS_CHANGED}),
                description="recomputes project health, records its history, raises early warnings",
            )
        ]


def _active(signals: Any) -> frozenset[str]:
    return frozenset(x.code for x in (ScoredSignal.from_json(d) for d in signals or []) if x.points > 0)


def _wanted(rules: Iterable[Rule], user_id: int | None, role: str, project_id: int) -> bool:
    """The early warning goes to whom it is meant for unless their preferences switch it off (a rule for
    ``project.health_warning`` or ``*``); the shared defaults (NOTIFIED) do not list it."""
    return decide(
        rules, user_id=user_id, role=role, project_id=project_id, event_type=WARNING_TYPE, otherwise=True
    )


def _warning_event(report: HealthReport, row_id: int) -> HistoryEvent:
    """The warning as the channels' ``queue`` takes an event: no history row, a stable id."""
    return HistoryEvent(
        id=0,
        event_id=str(uuid.uuid5(WARNING_NAMESPACE, f"health_scores:{row_id}")),
        subject_id=report.project_id,
        subject_version=0,
        trigger=WARNING_TRIGGER,
        from_state="",
        to_state="",
        actor_id="system:health",
        actor_name="Health monitor",
        comment=None,
        payload={},
        occurred_at=report.computed_at,
    )


# The monitor of each database engine: guards find theirs through ``context.connection.engine``.
_MONITORS: weakref.WeakKeyDictionary[Engine, HealthMonitor] = weakref.WeakKeyDictionary()


def bind(monitor: HealthMonitor) -> None:
    _MONITORS[monitor.database.engine] = monitor


def monitor_for(conn: Connection) -> HealthMonitor | None:
    return _MONITORS.get(conn.engine)
