"""Project health in the API: ``Project.health`` (computed live) and ``Project.healthHistory``.

Both are the team's business (``pmflow.api.access.INTERNAL``): null for customer users. The score is
computed by the health plugin's one code path (``pmflow.plugins.health.score.compute``) inside the
request's shared read batch, so a list of projects costs one worker-thread hop and one read
transaction; each project's signals are still their own few queries (docs/health.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from pmflow.api.context import Info
from pmflow.api.pagination import Connection, connection, window
from pmflow.domain import tables as t
from pmflow.plugins.health import MONITOR_PLUGIN, SETTINGS_NAME
from pmflow.plugins.health.monitor import HealthMonitor
from pmflow.plugins.health.score import HealthConfig, HealthReport, ScoredSignal, compute


@strawberry.enum(description="How a health score reads against the warning threshold.")
class HealthLevel(Enum):
    HEALTHY = "healthy"  # at or above the warning threshold
    AT_RISK = "at_risk"  # below it, 40 or more
    CRITICAL = "critical"  # below it and below 40


@strawberry.enum(description="How bad a signal is: INFO (fine), WARNING or CRITICAL.")
class SignalSeverity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@strawberry.type(description="One risk signal as it counted in a health score.")
class HealthSignal:
    code: str = strawberry.field(description="Stable code, e.g. open_high_risks or a plugin's own.")
    message: str = strawberry.field(description="What was seen, for people.")
    severity: SignalSeverity
    value: float | None = strawberry.field(description="What was measured (a count, a rate, days).")
    penalty: float = strawberry.field(description="How bad, 0 (fine) to 1 (worst).")
    weight: float = strawberry.field(description="The most points this signal can take off.")
    points: float = strawberry.field(description="The points it took off: weight x penalty.")

    @classmethod
    def of(cls, signal: ScoredSignal) -> HealthSignal:
        try:
            severity = SignalSeverity(signal.severity)
        except ValueError:  # a plugin's unknown word counts as a warning (its penalty says how much)
            severity = SignalSeverity.WARNING
        return cls(
            code=signal.code,
            message=signal.message,
            severity=severity,
            value=signal.value,
            penalty=signal.penalty,
            weight=signal.weight,
            points=signal.points,
        )


@strawberry.type(description="A project's health now: 100 less the points each signal takes off.")
class ProjectHealth:
    score: int = strawberry.field(description="0 (worst) to 100 (no sign of risk).")
    level: HealthLevel
    threshold: int = strawberry.field(description="The warning threshold: below it, the early warning.")
    signals: list[HealthSignal] = strawberry.field(description="Every signal, those that cost nothing too.")
    computed_at: datetime

    @classmethod
    def of(cls, report: HealthReport) -> ProjectHealth:
        return cls(
            score=report.score,
            level=HealthLevel(report.level),
            threshold=report.threshold,
            signals=[HealthSignal.of(x) for x in report.signals],
            computed_at=report.computed_at,
        )


@strawberry.type(description="A recorded health score: stored each time the score or its signals changed.")
class HealthScore:
    score: int
    warning: bool = strawberry.field(
        description="Whether this score fell below the warning threshold and raised the early warning."
    )
    signals: list[HealthSignal]
    computed_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> HealthScore:
        return cls(
            score=int(row.score),
            warning=bool(row.warning),
            signals=[HealthSignal.of(ScoredSignal.from_json(d)) for d in row.signals or []],
            computed_at=row.computed_at,
        )


async def project_health(info: Info, project_id: int) -> ProjectHealth:
    app = info.context.app
    now = app.engine.clock()
    monitor = app.plugins.get_plugin(MONITOR_PLUGIN)

    def work(conn: Any) -> HealthReport:
        if isinstance(monitor, HealthMonitor):
            return monitor.compute(conn, project_id, now)
        config = HealthConfig.from_settings(app.plugin_settings.get(SETTINGS_NAME))
        return compute(conn, project_id, now, plugins=app.plugins, config=config)

    return ProjectHealth.of(await info.context.loaders.batches.read(work))


async def health_history(
    info: Info,
    project_id: int,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[HealthScore]:
    rows = await info.context.loaders.by_column(t.health_scores).load(project_id)
    page = window(len(rows), first=first, after=after, last=last, before=before)
    return connection(rows, page, HealthScore.from_row)
