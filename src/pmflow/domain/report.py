"""Progress reports for a project or an iteration: structured data, and Markdown to send as is."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import NotFound
from pmflow.core.tables import subjects
from pmflow.domain.services.base import is_id
from pmflow.domain.tables import (
    change_requests,
    contacts,
    customers,
    feedback,
    iterations,
    meetings,
    projects,
    requirements,
    risks,
    users,
    work_items,
)

OPEN_RISK_STATES = ("identified", "assessed", "mitigating", "occurred", "contingency")


@dataclass(frozen=True)
class WorkLine:
    title: str
    assignee: str | None
    blocked_reason: str | None = None


@dataclass(frozen=True)
class ChangeLine:
    title: str
    state: str
    decision: str | None
    rationale: str | None
    schedule_days: int | None
    cost: float | None


@dataclass(frozen=True)
class RiskLine:
    title: str
    state: str
    score: int | None  # probability x impact, 1..25
    owner: str | None
    mitigation: str | None


@dataclass(frozen=True)
class FeedbackLine:
    contact: str
    rating: int | None
    text: str
    on: str


@dataclass
class ProgressReport:
    kind: str  # "project" | "iteration"
    title: str
    project: str
    customer: str
    state: str
    state_label: str
    period: tuple[date | None, date | None]
    generated_at: datetime
    goal: str | None = None
    requirements: dict[str, int] = field(default_factory=dict)
    done: list[WorkLine] = field(default_factory=list)
    in_progress: list[WorkLine] = field(default_factory=list)
    next: list[WorkLine] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    changes: list[ChangeLine] = field(default_factory=list)
    open_risks: list[RiskLine] = field(default_factory=list)
    feedback: list[FeedbackLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        start, end = self.period
        lines = [f"# Progress report: {self.title}", ""]
        lines += [
            f"**Customer:** {self.customer}  ",
            f"**Project:** {self.project}  ",
            f"**Status:** {self.state_label}  ",
        ]
        if start or end:
            lines.append(f"**Period:** {start or '?'} to {end or '?'}  ")
        lines.append(f"**Prepared:** {self.generated_at:%Y-%m-%d %H:%M} UTC")
        lines += ["", "## Summary", ""]
        if self.goal:
            lines.append(f"Goal: {self.goal}")
            lines.append("")
        total = sum(self.requirements.values())
        if total:
            parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.requirements.items()))
            lines.append(f"Requirements: {total} ({parts}).")
        lines.append(
            f"Work: {len(self.done)} done, {len(self.in_progress)} in progress, {len(self.next)} next; "
            f"{sum(1 for w in self.in_progress + self.next if w.blocked_reason)} blocked."
        )
        lines.append(f"Open risks: {len(self.open_risks)}. Change requests: {len(self.changes)}.")
        lines += _section("Done", [_work(w) for w in self.done])
        lines += _section("In progress", [_work(w) for w in self.in_progress])
        lines += _section("Next", [_work(w) for w in self.next])
        lines += _section("Decisions", self.decisions)
        lines += _section("Changes", [_change(c) for c in self.changes])
        lines += _section("Open risks", [_risk(r) for r in self.open_risks])
        lines += _section("Customer feedback", [_feedback(f) for f in self.feedback])
        return "\n".join(lines) + "\n"


def _section(title: str, items: list[str]) -> list[str]:
    return ["", f"## {title}", "", *([f"- {item}" for item in items] or ["- none"])]


def _work(line: WorkLine) -> str:
    text = line.title + (f" ({line.assignee})" if line.assignee else "")
    return text + (f" **blocked:** {line.blocked_reason}" if line.blocked_reason else "")


def _change(line: ChangeLine) -> str:
    impact = []
    if line.schedule_days is not None:
        impact.append(f"{line.schedule_days:+d} days")
    if line.cost is not None:
        impact.append(f"cost {line.cost:,.0f}")
    text = f"{line.title}: {line.state.replace('_', ' ')}"
    text += f" ({', '.join(impact)})" if impact else ""
    return text + (f". Rationale: {line.rationale}" if line.rationale else "")


def _risk(line: RiskLine) -> str:
    score = f"score {line.score}/25" if line.score is not None else "not yet rated"
    text = f"{line.title} ({score}, {line.state.replace('_', ' ')}"
    text += f", owner {line.owner})" if line.owner else ")"
    return text + (f". Mitigation: {line.mitigation}" if line.mitigation else "")


def _feedback(line: FeedbackLine) -> str:
    rating = f" {line.rating}/5" if line.rating is not None else ""
    return f"{line.contact} on {line.on}{rating}: \u201c{line.text}\u201d"


def _state(conn: Connection, subject_id: int) -> str:
    return str(conn.execute(select(subjects.c.state).where(subjects.c.id == subject_id)).scalar_one())


def project_report(
    engine: WorkflowEngine, project_id: int, *, survey_feedback: bool = True
) -> ProgressReport:
    """``survey_feedback=False`` leaves out what surveys' low scores raised: one contact's answer,
    which the contact's colleagues do not read (a report for a customer)."""
    if not is_id(project_id):
        raise NotFound(f"no project with id {project_id}", field="id")
    with engine.database.read() as conn:
        return _report(engine, conn, project_id, None, survey_feedback=survey_feedback)


def iteration_report(engine: WorkflowEngine, iteration_id: int) -> ProgressReport:
    if not is_id(iteration_id):
        raise NotFound(f"no iteration with id {iteration_id}", field="id")
    with engine.database.read() as conn:
        project_id = conn.execute(
            select(iterations.c.project_id).where(iterations.c.id == iteration_id)
        ).scalar()
        if project_id is None:
            raise NotFound(f"no iteration with id {iteration_id}", field="id")
        return _report(engine, conn, int(project_id), iteration_id)


def _report(
    engine: WorkflowEngine,
    conn: Connection,
    project_id: int,
    iteration_id: int | None,
    *,
    survey_feedback: bool = True,
) -> ProgressReport:
    project = conn.execute(
        select(projects, customers.c.name.label("customer_name"))
        .join(customers, customers.c.id == projects.c.customer_id)
        .where(projects.c.id == project_id)
    ).first()
    if project is None:
        raise NotFound(f"no project with id {project_id}", field="id")
    names = {r.id: r.name for r in conn.execute(select(users.c.id, users.c.name))}
    subject_id = iteration_id if iteration_id is not None else project_id
    subject = engine.get(subject_id, connection=conn)
    state_label = engine.definition_of(subject).states[subject.state].label
    iteration = None
    if iteration_id is not None:
        iteration = conn.execute(select(iterations).where(iterations.c.id == iteration_id)).one()
    report = ProgressReport(
        kind="iteration" if iteration is not None else "project",
        title=f"{project.name}, iteration {iteration.number}" if iteration is not None else project.name,
        project=project.name,
        customer=project.customer_name,
        state=subject.state,
        state_label=state_label,
        period=(iteration.start_date, iteration.end_date)
        if iteration is not None
        else (project.start_date, project.target_date),
        generated_at=engine.clock(),
        goal=iteration.goal if iteration is not None else project.goal,
    )
    # requirements by lifecycle state
    states = conn.execute(
        select(subjects.c.state)
        .join(requirements, requirements.c.id == subjects.c.id)
        .where(requirements.c.project_id == project_id)
    ).scalars()
    report.requirements = dict(Counter(states))
    # work
    work = select(work_items).where(work_items.c.project_id == project_id).order_by(work_items.c.id)
    if iteration_id is not None:
        work = work.where(work_items.c.iteration_id == iteration_id)
    for item in conn.execute(work):
        line = WorkLine(item.title, names.get(item.assignee_user_id), item.blocked_reason)
        {"done": report.done, "in_progress": report.in_progress}.get(item.status, report.next).append(line)
    # decisions from meetings
    met = (
        select(meetings)
        .where(meetings.c.project_id == project_id)
        .order_by(meetings.c.held_on, meetings.c.id)
    )
    if iteration_id is not None:
        met = met.where(meetings.c.iteration_id == iteration_id)
    for meeting in conn.execute(met):
        report.decisions += [
            f"{meeting.held_on} {meeting.kind.replace('_', ' ')}: {d}" for d in meeting.decisions
        ]
    # change requests
    for cr in conn.execute(
        select(change_requests, subjects.c.state)
        .join(subjects, subjects.c.id == change_requests.c.id)
        .where(change_requests.c.project_id == project_id)
        .order_by(change_requests.c.id)
    ):
        report.changes.append(
            ChangeLine(
                cr.title,
                cr.state,
                cr.decision,
                cr.decision_rationale,
                cr.impact_schedule_days,
                cr.impact_cost,
            )
        )
    # open risks, the worst first
    open_risks = [
        RiskLine(
            r.title,
            r.state,
            r.probability * r.impact if r.probability and r.impact else None,
            names.get(r.owner_user_id),
            r.mitigation_plan,
        )
        for r in conn.execute(
            select(risks, subjects.c.state)
            .join(subjects, subjects.c.id == risks.c.id)
            .where(risks.c.project_id == project_id, subjects.c.state.in_(OPEN_RISK_STATES))
        )
    ]
    report.open_risks = sorted(open_risks, key=lambda r: -(r.score or 0))
    # customer feedback
    said = (
        select(feedback, contacts.c.name.label("contact_name"), iterations.c.number.label("iteration_number"))
        .join(contacts, contacts.c.id == feedback.c.contact_id)
        .outerjoin(iterations, iterations.c.id == feedback.c.iteration_id)
        .where(feedback.c.project_id == project_id)
        .order_by(feedback.c.id)
    )
    if iteration_id is not None:
        said = said.where(feedback.c.iteration_id == iteration_id)
    if not survey_feedback:
        said = said.where(feedback.c.survey_id.is_(None))
    for item in conn.execute(said):
        on = (
            f"iteration {item.iteration_number}"
            if item.iteration_number
            else (f"deliverable {item.deliverable_id}" if item.deliverable_id else "the project")
        )
        report.feedback.append(FeedbackLine(item.contact_name, item.rating, item.text, on))
    return report
