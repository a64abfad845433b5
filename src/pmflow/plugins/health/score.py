"""The health score: 100 less each signal's weight times its penalty (docs/health.md).

``compute`` is the one code path behind the API's ``Project.health``, the guards and the recorder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pluggy
from sqlalchemy import Connection, bindparam, select

from pmflow.core.engine import subject_of_row
from pmflow.core.hookspecs import RiskSignal
from pmflow.core.plugins import risk_signals
from pmflow.core.tables import subjects
from pmflow.core.types import Subject
from pmflow.plugins.health import signals as s

# Points each built-in signal can take off at most; they add up to 100.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    s.OPEN_HIGH_RISKS: 25,
    s.OVERDUE_SCHEDULE: 20,
    s.SCOPE_CHANGE_RATE: 10,
    s.SATISFACTION_TREND: 20,
    s.BLOCKED_WORK: 10,
    s.CUSTOMER_LATENCY: 15,
}
PLUGIN_WEIGHT = 10.0  # a signal code of another plugin that the settings give no weight
SEVERITY_PENALTY: Mapping[str, float] = {"info": 0.0, "warning": 0.5, "critical": 1.0}
DEFAULT_THRESHOLD = 60
CRITICAL_BELOW = 40  # a score under this is "critical" whatever the warning threshold

Level = Literal["healthy", "at_risk", "critical"]


@dataclass(frozen=True)
class HealthConfig:
    """The ``health`` plugin settings: weights by signal code, the warning threshold, whether the
    customer's representatives hear the early warning too."""

    weights: Mapping[str, float] = field(default_factory=dict)
    warning_threshold: int = DEFAULT_THRESHOLD
    warn_customer: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> HealthConfig:
        settings = settings or {}
        return cls(
            weights={str(k): float(v) for k, v in (settings.get("weights") or {}).items()},
            warning_threshold=int(settings.get("warning_threshold", DEFAULT_THRESHOLD)),
            warn_customer=bool(settings.get("warn_customer", False)),
        )

    def weight(self, code: str) -> float:
        if code in self.weights:
            return self.weights[code]
        return float(DEFAULT_WEIGHTS.get(code, PLUGIN_WEIGHT))

    def level(self, score: int) -> Level:
        if score >= self.warning_threshold:
            return "healthy"
        return "critical" if score < CRITICAL_BELOW else "at_risk"


@dataclass(frozen=True)
class ScoredSignal:
    """One signal as it counted: what it measured, how bad (penalty 0-1), its weight and the points
    it took off (weight x penalty)."""

    code: str
    message: str
    severity: str
    value: float | None
    penalty: float
    weight: float
    points: float
    subject_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "value": self.value,
            "penalty": self.penalty,
            "weight": self.weight,
            "points": self.points,
            "subject_id": self.subject_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoredSignal:
        value = data.get("value")
        subject_id = data.get("subject_id")
        return cls(
            code=str(data["code"]),
            message=str(data.get("message", "")),
            severity=str(data.get("severity", "info")),
            value=None if value is None else float(value),
            penalty=float(data.get("penalty", 0)),
            weight=float(data.get("weight", 0)),
            points=float(data.get("points", 0)),
            subject_id=None if subject_id is None else int(subject_id),
        )


@dataclass(frozen=True)
class HealthReport:
    project_id: int
    score: int
    level: Level
    threshold: int
    signals: tuple[ScoredSignal, ...]
    computed_at: datetime

    @property
    def deductions(self) -> list[ScoredSignal]:
        """The signals that took points off, biggest first."""
        return sorted((x for x in self.signals if x.points > 0), key=lambda x: (-x.points, x.code))

    def explain(self, shown: int = 3) -> str:
        """``open high risks -20, blocked work -8``: the biggest deductions, for people."""
        parts = [f"{x.code.replace('_', ' ')} -{_points(x.points)}" for x in self.deductions[:shown]]
        more = len(self.deductions) - shown
        return ", ".join(parts) + (f" and {more} more" if more > 0 else "")

    @property
    def active_codes(self) -> frozenset[str]:
        """The codes of the signals that took points off (a change in them is a change in health)."""
        return frozenset(x.code for x in self.signals if x.points > 0)


def _points(points: float) -> str:
    return f"{points:g}" if points == int(points) else f"{points:.1f}"


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def penalty_of(signal: RiskSignal) -> float:
    """The signal's penalty (0-1), or its severity's when it gives none (info 0, warning 0.5, critical 1)."""
    if signal.penalty is not None:
        return max(0.0, min(1.0, float(signal.penalty)))
    return SEVERITY_PENALTY.get(signal.severity, SEVERITY_PENALTY["warning"])


def score_of(signals: list[RiskSignal], config: HealthConfig) -> tuple[int, tuple[ScoredSignal, ...]]:
    """The score (0-100) and each signal as it counted. Several signals of one code each count."""
    scored = []
    lost = 0.0
    for signal in signals:
        penalty = penalty_of(signal)
        weight = config.weight(signal.code)
        lost += weight * penalty  # unrounded: the shown figures are rounded, the score is not
        scored.append(
            ScoredSignal(
                code=signal.code,
                message=signal.message,
                severity=signal.severity,
                value=None if signal.value is None else float(signal.value),
                penalty=round(penalty, 4),
                weight=weight,
                points=round(weight * penalty, 2),
                subject_id=signal.subject_id,
            )
        )
    return max(0, min(100, round_half_up(100 - lost))), tuple(scored)


# The instant the built-in signals are computed at, set by ``compute`` around the hook call (the hook
# has no ``now`` argument); outside it, the app's clock or the wall clock.
computing_at: ContextVar[datetime | None] = ContextVar("pmflow_health_now", default=None)


@contextmanager
def at(now: datetime) -> Iterator[None]:
    token = computing_at.set(now)
    try:
        yield
    finally:
        computing_at.reset(token)


# Built once: SQLAlchemy's compiled cache serves each execution (see ``signals``).
_project_subject = select(subjects).where(subjects.c.id == bindparam("project"), subjects.c.kind == "project")


def project_subject(conn: Connection, project_id: int) -> Subject | None:
    row = conn.execute(_project_subject, {"project": project_id}).first()
    return None if row is None else subject_of_row(row)


class ProjectNotFound(LookupError):
    """No project with that id."""


def compute(
    conn: Connection,
    project_id: int,
    now: datetime,
    *,
    plugins: pluggy.PluginManager | None = None,
    config: HealthConfig | None = None,
) -> HealthReport:
    """The project's health at ``now``: every plugin's signals (``pmflow_risk_signals``; without a
    plugin manager the built-in ones only), weighted by ``config``."""
    config = config or HealthConfig()
    project = project_subject(conn, project_id)
    if project is None:
        raise ProjectNotFound(f"no project with id {project_id}")
    with at(now):
        if plugins is None:
            found = s.built_in_signals(conn, project_id, now)
        else:
            found = risk_signals(plugins, project, conn)
    score, scored = score_of(found, config)
    return HealthReport(
        project_id=project_id,
        score=score,
        level=config.level(score),
        threshold=config.warning_threshold,
        signals=scored,
        computed_at=now,
    )
