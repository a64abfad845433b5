"""The guards and actions of the default lifecycles, and who holds which role on a subject.

An ordinary plugin: the workflow files name these conditions; each returns the reason it blocks,
written for the person who pressed the button.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, select

from pmflow.core.hookspecs import hookimpl
from pmflow.core.tables import subjects
from pmflow.core.types import Action, Actor, Condition, HistoryEvent, Subject, TransitionContext
from pmflow.domain import vocabulary as v
from pmflow.domain.audit import custom, record_changes
from pmflow.domain.people import user_id_of
from pmflow.domain.tables import (
    change_requests,
    contacts,
    deliverables,
    feedback,
    iterations,
    meeting_attendees,
    meetings,
    memberships,
    projects,
    requirements,
    risks,
    users,
)

_OWNER_TABLES = {
    v.REQUIREMENT: requirements,
    v.CHANGE_REQUEST: change_requests,
    v.ITERATION: iterations,
    v.DELIVERABLE: deliverables,
    v.RISK: risks,
}


_PROJECT_OF = {
    kind: select(table.c.project_id).where(table.c.id == bindparam("sid"))
    for kind, table in _OWNER_TABLES.items()
}


def project_id_of(conn: Connection, subject: Subject) -> int | None:
    """The project a governed subject belongs to (itself for a project)."""
    return project_of(conn, subject.kind, subject.id)


def project_of(conn: Connection, kind: str, subject_id: int) -> int | None:
    """The project of the subject ``subject_id`` of kind ``kind`` (itself for a project); None for a
    kind that belongs to no project, or a child whose row does not exist (yet)."""
    if kind == v.PROJECT:
        return subject_id
    query = _PROJECT_OF.get(kind)
    if query is None:
        return None
    found = conn.execute(query, {"sid": subject_id}).scalar()
    return None if found is None else int(found)


def _count(conn: Connection, query: Any) -> int:
    return int(conn.execute(query).scalar_one())


def _children(table: Any, project_id: int) -> Any:
    """Rows of a governed child table of the project, joined with their lifecycle state."""
    return (
        select(table.c.id, subjects.c.state)
        .join(subjects, subjects.c.id == table.c.id)
        .where(table.c.project_id == project_id)
    )


def _meeting_held(conn: Connection, project_id: int, kind: str, iteration_id: int | None = None) -> bool:
    query = select(meetings.c.id).where(meetings.c.project_id == project_id, meetings.c.kind == kind)
    if iteration_id is not None:
        query = query.where(meetings.c.iteration_id == iteration_id)
    return conn.execute(query.limit(1)).first() is not None


# ---- project --------------------------------------------------------------------------------


def kickoff_held(context: TransitionContext, _argument: Any) -> str | None:
    if _meeting_held(context.connection, context.subject.id, "kickoff"):
        return None
    return "the kickoff meeting with the customer has not been recorded"


def project_defined(context: TransitionContext, _argument: Any) -> str | None:
    row = context.connection.execute(
        select(projects.c.goal, projects.c.scope, projects.c.milestones).where(
            projects.c.id == context.subject.id
        )
    ).first()
    if row is None:
        return "the project has no details yet"
    missing = [
        name
        for name, value in (
            ("the goal", row.goal),
            ("the scope", row.scope),
            ("key milestones", row.milestones),
        )
        if not value
    ]
    return None if not missing else f"agree {', '.join(missing)} with the customer first"


def has_requirements(context: TransitionContext, _argument: Any) -> str | None:
    query = select(func.count()).select_from(_children(requirements, context.subject.id).subquery())
    return None if _count(context.connection, query) else "no requirement has been recorded yet"


def all_requirements_confirmed(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(requirements, context.subject.id).add_columns(
            requirements.c.title, requirements.c.confirmed_by_contact_id
        )
    ).all()
    live = [r for r in rows if r.state not in ("rejected", "withdrawn")]
    if not live:
        return "no requirement has been recorded yet"
    pending = [r.title for r in live if r.state != "confirmed" or r.confirmed_by_contact_id is None]
    if not pending:
        return None
    shown = ", ".join(f"'{t}'" for t in pending[:3]) + (
        f" and {len(pending) - 3} more" if len(pending) > 3 else ""
    )
    return f"{len(pending)} requirement(s) not yet confirmed by the customer: {shown}"


def iteration_reviews_held(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(iterations, context.subject.id).add_columns(iterations.c.number)
    ).all()
    done = [r for r in rows if r.state in ("retrospective", "closed")]
    if not done:
        return "no iteration has been completed and reviewed with the customer yet"
    unreviewed = [
        r.number for r in done if _review_problem(context.connection, context.subject.id, r.id) is not None
    ]
    if unreviewed:
        numbers = ", ".join(str(n) for n in unreviewed)
        return f"iteration(s) {numbers} lack a review with a customer attendee and recorded feedback"
    return None


def no_open_iterations(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(iterations, context.subject.id).add_columns(iterations.c.number)
    ).all()
    open_ = [r.number for r in rows if r.state in ("active", "review", "retrospective")]
    return None if not open_ else f"iteration(s) {', '.join(map(str, open_))} are still running"


def no_undecided_change_requests(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(change_requests, context.subject.id).add_columns(change_requests.c.title)
    ).all()
    undecided = [r.title for r in rows if r.state in v.UNDECIDED_CHANGE_STATES]
    if not undecided:
        return None
    return f"{len(undecided)} change request(s) still undecided: " + ", ".join(f"'{t}'" for t in undecided)


def deliverables_passed_qa(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(deliverables, context.subject.id).add_columns(deliverables.c.title)
    ).all()
    if not rows:
        return "no deliverable has been recorded"
    waiting = [r.title for r in rows if r.state in ("in_progress", "internal_qa", "returned")]
    if not waiting:
        return None
    return "deliverable(s) not through internal QA: " + ", ".join(f"'{t}'" for t in waiting)


def deliverables_accepted(context: TransitionContext, _argument: Any) -> str | None:
    rows = context.connection.execute(
        _children(deliverables, context.subject.id).add_columns(deliverables.c.title)
    ).all()
    if not rows:
        return "no deliverable has been recorded"
    waiting = [r.title for r in rows if r.state != "accepted"]
    if not waiting:
        return None
    return "deliverable(s) not yet accepted by the customer: " + ", ".join(f"'{t}'" for t in waiting)


def demo_held(context: TransitionContext, _argument: Any) -> str | None:
    if _meeting_with_customer(context.connection, context.subject.id, "demo", None):
        return None
    return "no demo with a customer attendee has been recorded"


def retrospective_held(context: TransitionContext, _argument: Any) -> str | None:
    # The project's own retrospective: iteration retrospectives (iteration_id set) do not count.
    held = context.connection.execute(
        select(meetings.c.id)
        .where(
            meetings.c.project_id == context.subject.id,
            meetings.c.kind == "retrospective",
            meetings.c.iteration_id.is_(None),
        )
        .limit(1)
    ).first()
    if held is not None:
        return None
    return "hold and record a retrospective before closing the project"


# ---- iteration --------------------------------------------------------------------------------


def _meeting_with_customer(conn: Connection, project_id: int, kind: str, iteration_id: int | None) -> bool:
    query = (
        select(meetings.c.id)
        .join(meeting_attendees, meeting_attendees.c.meeting_id == meetings.c.id)
        .where(
            meetings.c.project_id == project_id,
            meetings.c.kind == kind,
            meeting_attendees.c.contact_id.is_not(None),
        )
    )
    if iteration_id is not None:
        query = query.where(meetings.c.iteration_id == iteration_id)
    return conn.execute(query.limit(1)).first() is not None


def _review_problem(conn: Connection, project_id: int, iteration_id: int) -> str | None:
    problems = []
    if not _meeting_with_customer(conn, project_id, "iteration_review", iteration_id):
        problems.append("the iteration review has no customer attendee recorded")
    has_feedback = conn.execute(
        select(feedback.c.id).where(feedback.c.iteration_id == iteration_id).limit(1)
    ).first()
    if has_feedback is None:
        problems.append("no customer feedback on this iteration has been recorded")
    return "; ".join(problems) or None


def review_held_with_customer(context: TransitionContext, _argument: Any) -> str | None:
    project_id = project_id_of(context.connection, context.subject)
    assert project_id is not None
    return _review_problem(context.connection, project_id, context.subject.id)


def iteration_retrospective_held(context: TransitionContext, _argument: Any) -> str | None:
    project_id = project_id_of(context.connection, context.subject)
    assert project_id is not None
    if _meeting_held(context.connection, project_id, "retrospective", context.subject.id):
        return None
    return "record the iteration's retrospective first"


def no_other_active_iteration(context: TransitionContext, _argument: Any) -> str | None:
    project_id = project_id_of(context.connection, context.subject)
    assert project_id is not None
    rows = context.connection.execute(
        _children(iterations, project_id).add_columns(iterations.c.number)
    ).all()
    running = [r.number for r in rows if r.id != context.subject.id and r.state in ("active", "review")]
    return None if not running else f"iteration {running[0]} is still running"


# ---- requirement, change request, deliverable, risk ------------------------------------------


def has_acceptance_criteria(context: TransitionContext, _argument: Any) -> str | None:
    criteria = context.connection.execute(
        select(requirements.c.acceptance_criteria).where(requirements.c.id == context.subject.id)
    ).scalar()
    return None if criteria else "write the acceptance criteria first"


def actor_is_customer_contact(context: TransitionContext, _argument: Any) -> str | None:
    if _contact_of(context.connection, context.actor, context.subject) is not None:
        return None
    return "only a contact of the customer can do this"


def impact_assessed(context: TransitionContext, _argument: Any) -> str | None:
    row = context.connection.execute(
        select(change_requests).where(change_requests.c.id == context.subject.id)
    ).one()
    missing = [
        label
        for label, value in (
            ("schedule impact (days)", row.impact_schedule_days),
            ("cost impact", row.impact_cost),
            ("risk", row.impact_risk),
        )
        if value is None or value == ""
    ]
    return None if not missing else "assess the " + ", ".join(missing) + " first"


def qa_checklist_complete(context: TransitionContext, _argument: Any) -> str | None:
    checklist = (
        context.connection.execute(
            select(deliverables.c.qa_checklist).where(deliverables.c.id == context.subject.id)
        ).scalar()
        or []
    )
    if not checklist:
        return "the internal QA checklist is empty"
    open_items = [item["item"] for item in checklist if not item.get("done")]
    return None if not open_items else "QA checklist items not done: " + ", ".join(open_items)


def risk_scored(context: TransitionContext, _argument: Any) -> str | None:
    row = context.connection.execute(
        select(risks.c.probability, risks.c.impact).where(risks.c.id == context.subject.id)
    ).one()
    return None if row.probability and row.impact else "rate the probability and impact (1-5) first"


def mitigation_planned(context: TransitionContext, _argument: Any) -> str | None:
    plan = context.connection.execute(
        select(risks.c.mitigation_plan).where(risks.c.id == context.subject.id)
    ).scalar()
    return None if plan else "write the mitigation plan first"


def contingency_planned(context: TransitionContext, _argument: Any) -> str | None:
    plan = context.connection.execute(
        select(risks.c.contingency_plan).where(risks.c.id == context.subject.id)
    ).scalar()
    return None if plan else "write the contingency plan first"


# ---- actions ------------------------------------------------------------------------------------


def _write_audited(context: TransitionContext, table: Any, values: dict[str, Any]) -> None:
    """Update the subject's own row and audit each changed column, in the transition's transaction."""
    conn = context.connection
    row = conn.execute(select(table).where(table.c.id == context.subject.id)).first()
    if row is None:  # a subject of another kind: nothing of it lives in this table
        return
    conn.execute(table.update().where(table.c.id == context.subject.id).values(**values))
    record_changes(
        conn,
        entity=context.subject.kind,
        entity_id=context.subject.id,
        actor_id=context.actor.id,
        old=dict(row._mapping),
        new=values,
        now=context.now,
    )


def record_confirmation(context: TransitionContext, _argument: Any) -> None:
    """Remember which customer contact confirmed a requirement, and when."""
    contact = _contact_of(context.connection, context.actor, context.subject)
    _write_audited(context, requirements, {"confirmed_by_contact_id": contact, "confirmed_at": context.now})


def clear_confirmation(context: TransitionContext, _argument: Any) -> None:
    _write_audited(context, requirements, {"confirmed_by_contact_id": None, "confirmed_at": None})


def record_decision(context: TransitionContext, decision: str) -> None:
    """Write a change request's decision, its rationale (payload) and who decided."""
    _write_audited(
        context,
        change_requests,
        {
            "decision": decision,
            "decision_rationale": context.payload.get("rationale") or context.comment,
            "decided_by": context.actor.id,
            "decided_at": context.now,
        },
    )


def reopen_affected_requirements(context: TransitionContext, _argument: Any) -> None:
    """An approved change reopens the confirmed requirements it affects, for the customer to confirm again."""
    affected = (
        context.connection.execute(
            select(change_requests.c.affected_requirement_ids).where(
                change_requests.c.id == context.subject.id
            )
        ).scalar()
        or []
    )
    for requirement_id in affected:
        state = context.connection.execute(
            select(subjects.c.state).where(subjects.c.id == requirement_id)
        ).scalar()
        if state == "confirmed":
            context.fire(requirement_id, "revise", comment=f"change request {context.subject.id} approved")


@hookimpl
def pmflow_after_transition(context: TransitionContext, event: HistoryEvent) -> None:
    """Audit the custom fields a transition's actions changed (``set_fields``, ``copy_payload``...)
    as ``fields.<name>``, like an edit of them: same table, same transaction."""
    if not context.changes:
        return
    before = getattr(context, "before", None)  # the subject before the transition, when core gives it
    record_changes(
        context.connection,
        entity=context.subject.kind,
        entity_id=context.subject.id,
        actor_id=context.actor.id,
        old=custom(before.data) if before is not None else {},
        new=custom(context.changes),
        now=event.occurred_at,
    )


# ---- who holds which role ---------------------------------------------------------------------


def _contact_of(conn: Connection, actor: Actor, subject: Subject) -> int | None:
    """The contact id of ``actor`` if they are a contact of the subject's customer."""
    user_id = user_id_of(actor)
    project_id = project_id_of(conn, subject)
    if user_id is None or project_id is None:
        return None
    return conn.execute(
        select(contacts.c.id)
        .join(projects, projects.c.customer_id == contacts.c.customer_id)
        .where(projects.c.id == project_id, contacts.c.user_id == user_id)
    ).scalar()


# One round trip for both sources of a person's project roles; built once (hot path of every fire).
_project_roles = select(
    select(memberships.c.role)
    .where(memberships.c.project_id == bindparam("project"), memberships.c.user_id == bindparam("user"))
    .scalar_subquery()
    .label("membership"),
    exists()
    .where(
        and_(
            users.c.id == bindparam("user"),
            users.c.role == v.CUSTOMER_ROLE,
            users.c.customer_id == projects.c.customer_id,
            projects.c.id == bindparam("project"),
        )
    )
    .label("customer_user"),
)


@hookimpl
def pmflow_subject_roles(subject: Subject, actor: Actor, connection: Connection) -> Iterable[str] | None:
    user_id = user_id_of(actor)
    project_id = project_id_of(connection, subject)
    if user_id is None or project_id is None:
        return None
    found = connection.execute(_project_roles, {"project": project_id, "user": user_id}).one()
    roles: set[str] = set()
    if found.membership is not None:
        roles.add(v.WORKFLOW_ROLE_OF.get(found.membership, found.membership))
    if found.customer_user:
        roles.add(v.CUSTOMER_ROLE)
    return roles


@hookimpl
def pmflow_conditions() -> list[Condition]:
    def c(name: str, check: Any, description: str) -> Condition:
        return Condition(name=name, check=check, description=description)

    return [
        c("kickoff_held", kickoff_held, "a kickoff meeting is recorded for the project"),
        c("project_defined", project_defined, "goal, scope and key milestones are set"),
        c("has_requirements", has_requirements, "at least one requirement is recorded"),
        c(
            "all_requirements_confirmed",
            all_requirements_confirmed,
            "every live requirement is confirmed by a customer contact",
        ),
        c(
            "iteration_reviews_held",
            iteration_reviews_held,
            "every completed iteration was reviewed with a customer attendee and has feedback",
        ),
        c("no_open_iterations", no_open_iterations, "no iteration is running"),
        c(
            "no_undecided_change_requests",
            no_undecided_change_requests,
            "no change request waits for a decision",
        ),
        c("deliverables_passed_qa", deliverables_passed_qa, "every deliverable passed internal QA"),
        c("deliverables_accepted", deliverables_accepted, "every deliverable is accepted by the customer"),
        c("demo_held", demo_held, "a demo with a customer attendee is recorded"),
        c("retrospective_held", retrospective_held, "a retrospective is recorded for the project"),
        c(
            "review_held_with_customer",
            review_held_with_customer,
            "the iteration review had a customer attendee and feedback is recorded",
        ),
        c(
            "iteration_retrospective_held",
            iteration_retrospective_held,
            "the iteration's retrospective is recorded",
        ),
        c(
            "no_other_active_iteration",
            no_other_active_iteration,
            "no other iteration of the project is running",
        ),
        c("has_acceptance_criteria", has_acceptance_criteria, "the requirement has acceptance criteria"),
        c(
            "actor_is_customer_contact",
            actor_is_customer_contact,
            "the person acting is a contact of the customer",
        ),
        c("impact_assessed", impact_assessed, "schedule, cost and risk impact are assessed"),
        c("qa_checklist_complete", qa_checklist_complete, "every internal QA checklist item is done"),
        c("risk_scored", risk_scored, "probability and impact are rated"),
        c("mitigation_planned", mitigation_planned, "a mitigation plan is written"),
        c("contingency_planned", contingency_planned, "a contingency plan is written"),
    ]


@hookimpl
def pmflow_actions() -> list[Action]:
    return [
        Action("record_confirmation", record_confirmation, "remember the confirming customer contact"),
        Action("clear_confirmation", clear_confirmation, "forget an earlier confirmation"),
        Action(
            "record_decision",
            record_decision,
            "write the change request's decision, rationale and decider",
            argument={"enum": ["approved", "rejected", "deferred"]},
        ),
        Action(
            "reopen_affected_requirements",
            reopen_affected_requirements,
            "send confirmed requirements affected by an approved change back to review",
        ),
    ]
