"""The built-in risk signals of a project's health (docs/health.md): each is always returned, with
penalty 0 when all is well, so that the explanation of a score lists every built-in aspect.

The signals read through the caller's connection at the instant ``now``; none writes. One
computation sends seven statements (the project subject in ``score``, then six here): the project's
row with its counts (``_project``: milestones, scope, open work), the open risks, the overdue
iterations, the survey answers, the blocked work items and what waits for the customer. Each is built
once, at import, with ``bindparam`` placeholders, so SQLAlchemy's compiled cache serves every
execution and nothing is constructed per call (the health of a list of 100 projects is computed
live, guards compute it inside transitions, the worker after every event).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Select, Table, bindparam, func, or_, select, union_all

from pmflow.core.definitions import SEPARATOR
from pmflow.core.hookspecs import RiskSignal
from pmflow.core.tables import UtcDateTime, events, subjects
from pmflow.domain import tables as t
from pmflow.domain.vocabulary import CRITICAL_RISK_SCORE, HIGH_RISK_SCORE, RISK_DONE_STATES

OPEN_HIGH_RISKS = "open_high_risks"
OVERDUE_SCHEDULE = "overdue_schedule"
SCOPE_CHANGE_RATE = "scope_change_rate"
SATISFACTION_TREND = "satisfaction_trend"
BLOCKED_WORK = "blocked_work"
CUSTOMER_LATENCY = "customer_latency"

# Project phases in which milestones still lie ahead: once the customer accepted the delivery
# (maintenance) or the project ended, a milestone date in the past is history, not a delay.
DELIVERED_PHASES = frozenset({"maintenance", "closed", "cancelled"})
ITERATION_OVER = frozenset({"closed", "cancelled"})
DROPPED_REQUIREMENT = ("rejected", "withdrawn")
SCOPE_WINDOW = timedelta(days=30)
SCOPE_RATE_WORST = 0.5  # one change request per two requirements in 30 days: the worst penalty
SURVEY_WINDOW = timedelta(days=90)
RECENT_ANSWERS = 10
TREND_MINIMUM = 4  # answers needed before a trend (recent half vs earlier half) is worth saying
LATENCY_GRACE_DAYS = 2.0  # a customer needs a day or two to answer: no penalty yet
LATENCY_WORST_DAYS = 14.0  # days beyond the grace at which the penalty is full

# What waits for the customer: (subject kind, state) -> how people call it.
WAITING_FOR_CUSTOMER: dict[tuple[str, str], str] = {
    ("requirement", "under_review"): "requirement",
    ("deliverable", "customer_acceptance"): "deliverable",
    ("project", "requirements.confirmation"): "the requirements",
    ("project", "delivery.customer_acceptance"): "the delivery",
}


def severity_of(penalty: float) -> str:
    """Severity of a built-in signal from its penalty: none, some, or at least half the worst."""
    if penalty <= 0:
        return "info"
    return "warning" if penalty < 0.5 else "critical"


def signal(code: str, value: float | None, penalty: float, message: str) -> RiskSignal:
    penalty = max(0.0, min(1.0, penalty))
    return RiskSignal(
        code=code,
        message=message,
        severity=severity_of(penalty),  # type: ignore[arg-type]
        value=value,
        penalty=penalty,
    )


def quoted(titles: Sequence[str], shown: int = 3) -> str:
    text = ", ".join(f"'{title}'" for title in titles[:shown])
    return text + (f" and {len(titles) - shown} more" if len(titles) > shown else "")


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _among(column: ColumnElement[str], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN (values)`` for constant values, written ``column = a OR column = b``: an IN list
    is an expanding parameter, which SQLAlchemy renders anew at every execution of a cached statement."""
    return or_(*(column == value for value in values))


# ---- the project's own row, with the counts the signals need ------------------------------------
# Statements take the parameter ``project`` (the project's id) and the others they name.

_changed = subjects.alias("changed")  # the subject rows of change requests and of requirements
_live = subjects.alias("live")
_project = (
    select(
        t.projects.c.id,
        t.projects.c.milestones,
        subjects.c.state,
        select(func.count())
        .select_from(t.change_requests)
        .join(_changed, _changed.c.id == t.change_requests.c.id)
        .where(
            t.change_requests.c.project_id == bindparam("project"),
            _changed.c.created_at > bindparam("scope_since", type_=UtcDateTime),
            _changed.c.created_at <= bindparam("now", type_=UtcDateTime),
        )
        .scalar_subquery()
        .label("changes"),
        select(func.count())
        .select_from(t.requirements)
        .join(_live, _live.c.id == t.requirements.c.id)
        .where(
            t.requirements.c.project_id == bindparam("project"), ~_among(_live.c.state, DROPPED_REQUIREMENT)
        )
        .scalar_subquery()
        .label("requirements"),
        select(func.count())
        .select_from(t.work_items)
        .where(t.work_items.c.project_id == bindparam("project"), t.work_items.c.status != "done")
        .scalar_subquery()
        .label("open_items"),
    )
    .join(subjects, subjects.c.id == t.projects.c.id)
    .where(t.projects.c.id == bindparam("project"))
)


@dataclass(frozen=True, slots=True)
class Project:
    """The project's row as the signals read it: its milestones and state, the change requests of
    the scope window, its live requirements and its open work items."""

    id: int
    milestones: list[dict[str, Any]]
    state: str
    changes: int
    requirements: int
    open_items: int


def read_project(conn: Connection, project_id: int, now: datetime) -> Project | None:
    """The project's row at ``now``; None for a project subject without a ``projects`` row."""
    row = conn.execute(
        _project, {"project": project_id, "scope_since": now - SCOPE_WINDOW, "now": now}
    ).first()
    if row is None:
        return None
    return Project(
        int(row.id), list(row.milestones or []), str(row.state), row.changes, row.requirements, row.open_items
    )


# ---- open high and critical risks -------------------------------------------------------------


class OpenRisk(NamedTuple):  # a tuple: made from each row at no more cost than the row itself
    id: int
    title: str
    score: int


_risk_score = (t.risks.c.probability * t.risks.c.impact).label("score")
_open_risks = (
    select(t.risks.c.id, t.risks.c.title, _risk_score)
    .join(subjects, subjects.c.id == t.risks.c.id)
    .where(
        t.risks.c.project_id == bindparam("project"),
        ~_among(subjects.c.state, sorted(RISK_DONE_STATES)),
        t.risks.c.probability * t.risks.c.impact >= bindparam("minimum"),
    )
    .order_by(_risk_score.desc(), t.risks.c.id)
)


def open_risks(conn: Connection, project_id: int, minimum: int) -> list[OpenRisk]:
    """Open risks of the project scored ``minimum`` or more, worst first."""
    rows = conn.execute(_open_risks, {"project": project_id, "minimum": minimum}).all()
    return [OpenRisk(*row) for row in rows]


def open_high_risks(conn: Connection, project: Project, _now: datetime) -> RiskSignal:
    risks = open_risks(conn, project.id, HIGH_RISK_SCORE)
    critical = [r for r in risks if r.score >= CRITICAL_RISK_SCORE]
    high = len(risks) - len(critical)
    penalty = min(1.0, (high + 2 * len(critical)) / 4)  # a critical risk counts double
    if not risks:
        return signal(OPEN_HIGH_RISKS, 0, 0.0, "no open high or critical risk")
    named = [
        f"'{r.title}' ({r.score}{', critical' if r.score >= CRITICAL_RISK_SCORE else ''})" for r in risks[:3]
    ]
    listed = ", ".join(named) + (f" and {len(risks) - 3} more" if len(risks) > 3 else "")
    kinds = []
    if critical:
        kinds.append(_plural(len(critical), "critical risk"))
    if high:
        kinds.append(_plural(high, "high risk"))
    return signal(OPEN_HIGH_RISKS, len(risks), penalty, f"{' and '.join(kinds)} open: {listed}")


# ---- overdue milestones and iterations ----------------------------------------------------------

_overdue_iterations = (
    select(t.iterations.c.number, t.iterations.c.end_date, subjects.c.state)
    .join(subjects, subjects.c.id == t.iterations.c.id)
    .where(
        t.iterations.c.project_id == bindparam("project"),
        t.iterations.c.end_date < bindparam("today"),
        ~_among(subjects.c.state, sorted(ITERATION_OVER)),
    )
    .order_by(t.iterations.c.number)
)


def overdue_schedule(conn: Connection, project: Project, now: datetime) -> RiskSignal:
    today = now.date()
    late: list[str] = []
    if project.state.split(SEPARATOR)[0] not in DELIVERED_PHASES:
        for milestone in project.milestones:
            due = _day(milestone.get("due"))
            if due is not None and due < today and not milestone.get("done"):
                late.append(f"milestone '{milestone.get('name')}' was due {due.isoformat()}")
    iterations = conn.execute(_overdue_iterations, {"project": project.id, "today": today}).all()
    late.extend(
        f"iteration {r.number} ended {r.end_date.isoformat()} and is still {r.state}" for r in iterations
    )
    if not late:
        return signal(OVERDUE_SCHEDULE, 0, 0.0, "nothing is overdue")
    shown = "; ".join(late[:3]) + (f"; and {len(late) - 3} more" if len(late) > 3 else "")
    return signal(OVERDUE_SCHEDULE, len(late), min(1.0, len(late) / 3), f"{len(late)} overdue: {shown}")


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


# ---- scope change rate -------------------------------------------------------------------------------


def scope_change_rate(_conn: Connection, project: Project, _now: datetime) -> RiskSignal:
    changes, requirements = project.changes, project.requirements  # counted by ``read_project``
    rate = changes / max(1, requirements)
    if not changes:
        return signal(SCOPE_CHANGE_RATE, 0.0, 0.0, "no change request in the last 30 days")
    message = (
        f"{_plural(changes, 'change request')} in the last 30 days for "
        f"{_plural(requirements, 'requirement')} ({rate:.2f} per requirement)"
    )
    return signal(SCOPE_CHANGE_RATE, round(rate, 4), min(1.0, rate / SCOPE_RATE_WORST), message)


# ---- satisfaction from surveys ---------------------------------------------------------------------------


def normalised(kind: str, score: int) -> float | None:
    """A CSAT (1-5) or NPS (0-10) answer on 0 (worst) to 1 (best); None for other kinds."""
    if kind == "csat":
        return max(0.0, min(1.0, (score - 1) / 4))
    if kind == "nps":
        return max(0.0, min(1.0, score / 10))
    return None


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


_answers = (
    select(t.surveys.c.kind, t.survey_invitations.c.score)
    .join(t.surveys, t.surveys.c.id == t.survey_invitations.c.survey_id)
    .where(
        t.surveys.c.project_id == bindparam("project"),
        _among(t.surveys.c.kind, ("csat", "nps")),
        t.survey_invitations.c.answered_at.is_not(None),
        t.survey_invitations.c.score.is_not(None),
        t.survey_invitations.c.answered_at > bindparam("survey_since", type_=UtcDateTime),
        t.survey_invitations.c.answered_at <= bindparam("now", type_=UtcDateTime),
    )
    .order_by(t.survey_invitations.c.answered_at, t.survey_invitations.c.id)
)


def satisfaction_trend(conn: Connection, project: Project, now: datetime) -> RiskSignal:
    parameters = {"project": project.id, "survey_since": now - SURVEY_WINDOW, "now": now}
    rows = conn.execute(_answers, parameters).all()
    answers = [n for r in rows if (n := normalised(str(r.kind), int(r.score))) is not None]
    if not answers:
        return signal(SATISFACTION_TREND, None, 0.0, "no survey answers yet")
    recent = answers[-RECENT_ANSWERS:]
    satisfaction = _mean(recent)
    message = f"satisfaction {satisfaction:.0%} over the last {_plural(len(recent), 'answer')}"
    if len(answers) >= TREND_MINIMUM:
        half = len(answers) // 2
        earlier, later = _mean(answers[:half]), _mean(answers[half:])
        direction = "rising" if later > earlier + 0.05 else "falling" if later < earlier - 0.05 else "steady"
        message += f", {direction} (from {earlier:.0%} to {later:.0%})"
    return signal(SATISFACTION_TREND, round(satisfaction, 4), 1.0 - satisfaction, message)


# ---- blocked work --------------------------------------------------------------------------------------

# Open items with a blocked reason; one of only blanks is not blocked (filtered in Python, as SQL's
# TRIM knows fewer blanks than ``str.strip``). The open items are counted by ``read_project``.
_blocked_items = (
    select(t.work_items.c.title, t.work_items.c.blocked_reason)
    .where(
        t.work_items.c.project_id == bindparam("project"),
        t.work_items.c.status != "done",
        t.work_items.c.blocked_reason.is_not(None),
        t.work_items.c.blocked_reason != "",
    )
    .order_by(t.work_items.c.id)
)


def blocked_work(conn: Connection, project: Project, _now: datetime) -> RiskSignal:
    rows = conn.execute(_blocked_items, {"project": project.id}).all()
    blocked = [(title, reason) for title, reason in rows if reason.strip()]
    if not blocked:
        return signal(BLOCKED_WORK, 0, 0.0, "no open work item is blocked")
    shown = ", ".join(f"'{title}' ({reason})" for title, reason in blocked[:3])
    if len(blocked) > 3:
        shown += f" and {len(blocked) - 3} more"
    message = f"{len(blocked)} of {_plural(project.open_items, 'open work item')} blocked: {shown}"
    return signal(BLOCKED_WORK, len(blocked), len(blocked) / project.open_items, message)


# ---- the customer's response latency ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waiting:
    kind: str
    id: int
    state: str
    title: str
    since: datetime


# The newest event that entered the subject's current state (internal transitions such as reminders
# stay in it), correlated to the ``subjects`` row of each branch of ``_waiting``.
_entered = (
    select(func.max(events.c.occurred_at))
    .where(
        events.c.subject_id == subjects.c.id,
        events.c.to_state == subjects.c.state,
        or_(events.c.from_state.is_(None), events.c.from_state != events.c.to_state),
    )
    .scalar_subquery()
)


def _waiting_in(
    kind: str, table: Table, title: ColumnElement[str], of_project: ColumnElement[int]
) -> Select[Any]:
    """The subjects of one kind of the project in a state that waits for the customer."""
    states = [state for (k, state) in WAITING_FOR_CUSTOMER if k == kind]
    return (
        select(table.c.id, title.label("title"), subjects.c.kind, subjects.c.state, _entered.label("since"))
        .join(subjects, subjects.c.id == table.c.id)
        .where(of_project == bindparam("project"), _among(subjects.c.state, states))
    )


_waiting = union_all(
    _waiting_in("requirement", t.requirements, t.requirements.c.title, t.requirements.c.project_id),
    _waiting_in("deliverable", t.deliverables, t.deliverables.c.title, t.deliverables.c.project_id),
    _waiting_in("project", t.projects, t.projects.c.name, t.projects.c.id),
)


def waiting_for_customer(conn: Connection, project_id: int) -> list[Waiting]:
    """What waits for the customer's confirmation, each since the event that put it there."""
    found = [
        Waiting(str(r.kind), int(r.id), str(r.state), str(r.title), _utc(r.since))
        for r in conn.execute(_waiting, {"project": project_id}).all()
        if r.since is not None
    ]
    return sorted(found, key=lambda w: (w.since, w.id))


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def customer_latency(conn: Connection, project: Project, now: datetime) -> RiskSignal:
    waiting = waiting_for_customer(conn, project.id)
    if not waiting:
        return signal(CUSTOMER_LATENCY, 0.0, 0.0, "nothing waits for the customer")
    oldest = waiting[0]
    days = max(0.0, (now - oldest.since).total_seconds() / 86400)
    penalty = min(1.0, max(0.0, days - LATENCY_GRACE_DAYS) / LATENCY_WORST_DAYS)
    what = WAITING_FOR_CUSTOMER[(oldest.kind, oldest.state)]
    named = f"{what} '{oldest.title}'" if oldest.kind != "project" else what
    message = (
        f"{_plural(len(waiting), 'confirmation')} waiting for the customer; "
        f"the oldest, {named}, for {days:.1f} days"
    )
    return signal(CUSTOMER_LATENCY, round(days, 2), penalty, message)


# The built-in signals in the order a report lists them.
BUILT_IN: tuple[tuple[str, Callable[[Connection, Project, datetime], RiskSignal]], ...] = (
    (OPEN_HIGH_RISKS, open_high_risks),
    (OVERDUE_SCHEDULE, overdue_schedule),
    (SCOPE_CHANGE_RATE, scope_change_rate),
    (SATISFACTION_TREND, satisfaction_trend),
    (BLOCKED_WORK, blocked_work),
    (CUSTOMER_LATENCY, customer_latency),
)


def built_in_signals(conn: Connection, project_id: int, now: datetime) -> list[RiskSignal]:
    """The six signals; none for a project subject outside the customer-project model (no row in
    ``projects``: a workflow of another organisation's making, which these signals cannot read)."""
    project = read_project(conn, project_id, now)
    if project is None:
        return []
    return [compute(conn, project, now) for _, compute in BUILT_IN]
