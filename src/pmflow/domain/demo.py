"""Demo data: two customers and three projects in different phases, with a real history.

Everything is created through the services and the lifecycles, so every guard held on the way;
a simulated clock spreads the history over the past weeks.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, func, select

from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, PmflowError
from pmflow.core.types import Actor
from pmflow.domain.people import actor_for
from pmflow.domain.services import Domain
from pmflow.domain.tables import customers, iterations, meetings, projects

SETUP = Actor("system:demo", frozenset({"admin"}), name="pmflow demo")


@dataclass
class DemoData:
    customers: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    projects: dict[str, int] = field(default_factory=dict)
    # iteration ids of each project (same keys as ``projects``), oldest first
    iterations: dict[str, list[int]] = field(default_factory=dict)


class _Clock:
    """Starts ``days`` ago and moves forward as the story unfolds."""

    def __init__(self, days: int) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def advance(self, days: float) -> None:
        self.now += timedelta(days=days)

    @property
    def today(self) -> date:
        return self.now.date()


DEMO_CUSTOMERS = ("Northwind Logistics", "Bluebird Health")
DEMO_PROJECTS = ("Customer portal", "Fleet tracking app", "Patient scheduling")


class DemoAlreadyLoaded(Exception):
    """The demo customers are already there; loading again would duplicate nothing."""


def load_demo(engine: WorkflowEngine) -> DemoData:
    """Load the sample into an empty database.

    Raises ``DemoAlreadyLoaded`` when the whole demo is there, and ``InvalidInput`` when the
    database holds other data (the demo never mixes with real customers), when an earlier load
    stopped part-way, or when the story no longer fits the (edited) workflows: then it says which
    step failed. The story is many transactions, not one: a failure leaves what was done before it.
    """
    with engine.database.read() as conn:
        names = set(conn.execute(select(customers.c.name)).scalars())
        complete = bool(names) and _story_complete(conn)
    if names and names <= set(DEMO_CUSTOMERS):
        if complete:
            raise DemoAlreadyLoaded("the demo data is already loaded")
        raise InvalidInput(
            "a previous `pmflow demo` stopped part-way (the database holds only part of the demo "
            "data, and it cannot be removed: history and audit trail are append-only); "
            "load the demo into an empty database"
        )
    if names:
        raise InvalidInput("the database already holds customers; the demo loads into an empty one only")
    clock = _Clock(days=70)
    story = WorkflowEngine(
        engine.database, engine.registry, engine.plugins, catalog=engine.catalog, clock=clock
    )
    teller = _Story(Domain(story), clock)
    try:
        return teller.tell()
    except PmflowError as error:
        raise InvalidInput(
            f"the edited workflows no longer fit the demo story: step {teller.steps} ({teller.step}) "
            f"failed: {error.message}. The database now holds part of the demo; load it into an "
            "empty database with workflows that allow the story (the shipped ones do)"
        ) from error


def _story_complete(conn: Connection) -> bool:
    """Every demo project is there and the story's last step (Patient scheduling's retrospective)
    was recorded: the story ran to its end."""
    found = dict(
        conn.execute(select(projects.c.name, projects.c.id).where(projects.c.name.in_(DEMO_PROJECTS))).all()
    )
    if set(found) != set(DEMO_PROJECTS):
        return False
    last = conn.execute(
        select(func.count())
        .select_from(meetings)
        .where(
            meetings.c.project_id == found["Patient scheduling"],
            meetings.c.kind == "retrospective",
            meetings.c.iteration_id.is_(None),
        )
    ).scalar_one()
    return bool(last)


class _Traced:
    """A service (or the domain's ``fire``) whose calls the story counts and names, so a failure
    can say which step it was."""

    def __init__(self, story: _Story, name: str, target: Any) -> None:
        self._story, self._name, self._target = story, name, target

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self._target, method)

        def traced(*args: Any, **kwargs: Any) -> Any:
            self._story.note(f"{self._name}.{method}", args)
            return call(*args, **kwargs)

        return traced


class _TracedDomain:
    def __init__(self, story: _Story, domain: Domain) -> None:
        self._story, self._domain = story, domain

    def __getattr__(self, name: str) -> Any:
        return _Traced(self._story, name, getattr(self._domain, name))

    def fire(self, actor: Actor, subject: int, trigger: str, **kwargs: Any) -> Any:
        kind = self._domain.engine.get(subject).kind.replace("_", " ")
        self._story.steps += 1
        self._story.step = f"fire '{trigger}' on {kind} {subject} as {actor.name or actor.id}"
        return self._domain.fire(actor, subject, trigger, **kwargs)


class _Story:
    def __init__(self, domain: Domain, clock: _Clock) -> None:
        self.d = cast(Domain, _TracedDomain(self, domain))
        self.database = domain.engine.database
        self.clock = clock
        self.data = DemoData()
        self.actors: dict[str, Actor] = {}
        self.contacts: dict[str, int] = {}
        self.steps = 0  # how many steps were started
        self.step = "none yet"  # the step under way

    def note(self, call: str, args: tuple[Any, ...]) -> None:
        self.steps += 1
        data = next((a for a in reversed(args) if isinstance(a, dict)), {})
        label = data.get("name") or data.get("title") or data.get("goal") or data.get("kind")
        self.step = f"{call} {label!r}" if label else call

    def user(self, key: str, name: str, email: str, role: str, customer: str | None = None) -> Actor:
        row = self.d.users.create(
            SETUP,
            {
                "email": email,
                "name": name,
                "role": role,
                "customer_id": self.data.customers.get(customer or ""),
            },
        )
        self.data.users[key] = row["id"]
        self.actors[key] = actor_for(types.SimpleNamespace(**row))
        return self.actors[key]

    def contact(self, key: str, customer: str, name: str, email: str, role: str, user: str | None) -> None:
        row = self.d.customers.add_contact(
            SETUP,
            self.data.customers[customer],
            {"name": name, "email": email, "role": role, "user_id": self.data.users.get(user or "")},
        )
        self.contacts[key] = row["id"]

    def fire(self, who: str, subject: int, trigger: str, **kwargs: Any) -> None:
        self.d.fire(self.actors[who], subject, trigger, **kwargs)

    def day(self, offset: float = 0) -> str:
        return (self.clock.today + timedelta(days=offset)).isoformat()

    def tell(self) -> DemoData:
        d = self.d
        self.data.customers["northwind"] = d.customers.create(SETUP, {"name": "Northwind Logistics"})["id"]
        self.data.customers["bluebird"] = d.customers.create(SETUP, {"name": "Bluebird Health"})["id"]
        self.user("admin", "Ada Admin", "ada@pmflow.example", "admin")
        self.user("mia", "Mia Manager", "mia@pmflow.example", "manager")
        self.user("sam", "Sam Analyst", "sam@pmflow.example", "member")
        self.user("dev", "Dev Developer", "dev@pmflow.example", "member")
        self.user("tess", "Tess Tester", "tess@pmflow.example", "member")
        self.user("carla", "Carla Northwind", "carla@northwind.example", "customer", "northwind")
        self.user("ben", "Ben Bluebird", "ben@bluebird.example", "customer", "bluebird")
        self.contact(
            "carla", "northwind", "Carla Northwind", "carla@northwind.example", "Head of Operations", "carla"
        )
        self.contact("nils", "northwind", "Nils Northwind", "nils@northwind.example", "Dispatcher", None)
        self.contact("ben", "bluebird", "Ben Bluebird", "ben@bluebird.example", "Practice Manager", "ben")
        self.data.projects["portal"] = self.portal()
        self.data.projects["fleet"] = self.fleet()
        self.data.projects["scheduling"] = self.scheduling()  # ends with the story's last step
        with self.database.read() as conn:
            for key, project in self.data.projects.items():
                self.data.iterations[key] = list(
                    conn.execute(
                        select(iterations.c.id)
                        .where(iterations.c.project_id == project)
                        .order_by(iterations.c.number)
                    ).scalars()
                )
        return self.data

    def team(self, project: int, customer_user: str) -> None:
        for key, role in (("sam", "analyst"), ("dev", "developer"), ("tess", "tester")):
            self.d.projects.add_member(
                self.actors["mia"], project, {"user_id": self.data.users[key], "role": role}
            )
        self.d.projects.add_member(
            self.actors["mia"],
            project,
            {"user_id": self.data.users[customer_user], "role": "customer_representative"},
        )

    def initiate(
        self, project: int, customer_contact: str, goal: str, scope: str, milestones: list[dict[str, str]]
    ) -> None:
        mia = self.actors["mia"]
        self.d.meetings.record(
            mia,
            project,
            {
                "kind": "kickoff",
                "held_on": self.day(),
                "notes": "Goals, scope and milestones agreed.",
                "decisions": ["Weekly status report every Friday"],
                "attendee_user_ids": [self.data.users["mia"], self.data.users["sam"]],
                "attendee_contact_ids": [self.contacts[customer_contact]],
            },
        )
        self.d.projects.update(mia, project, {"goal": goal, "scope": scope, "milestones": milestones})
        self.fire("mia", project, "start_requirements")

    def requirement(self, project: int, title: str, criteria: list[str], priority: str = "high") -> int:
        row = self.d.requirements.create(
            self.actors["sam"],
            project,
            {"title": title, "acceptance_criteria": criteria, "priority": priority, "source": "workshop"},
        )
        self.fire("sam", row["id"], "submit_for_review")
        return int(row["id"])

    def iteration(self, project: int, goal: str, customer: str, contact: str, rating: int, said: str) -> int:
        mia = self.actors["mia"]
        it = self.d.iterations.plan(
            mia, project, {"goal": goal, "start_date": self.day(), "end_date": self.day(13)}
        )
        self.fire("mia", it["id"], "start")
        self.d.work_items.create(
            mia,
            project,
            {
                "title": f"Build: {goal}",
                "iteration_id": it["id"],
                "assignee_user_id": self.data.users["dev"],
                "estimate": 16,
                "status": "done",
            },
        )
        self.clock.advance(13)
        self.fire("mia", it["id"], "finish_work")
        self.d.meetings.record(
            mia,
            project,
            {
                "kind": "iteration_review",
                "held_on": self.day(),
                "iteration_id": it["id"],
                "notes": "Increment demonstrated.",
                "decisions": [f"{goal}: accepted as shown"],
                "attendee_user_ids": [self.data.users["mia"], self.data.users["dev"]],
                "attendee_contact_ids": [self.contacts[contact]],
            },
        )
        self.d.feedback.record(
            self.actors[customer],
            project,
            {"contact_id": self.contacts[contact], "iteration_id": it["id"], "rating": rating, "text": said},
        )
        self.fire("mia", it["id"], "complete_review")
        self.d.meetings.record(
            mia,
            project,
            {
                "kind": "retrospective",
                "held_on": self.day(),
                "iteration_id": it["id"],
                "notes": "Estimates were optimistic; pair on integration work.",
                "attendee_user_ids": [
                    self.data.users["mia"],
                    self.data.users["dev"],
                    self.data.users["tess"],
                ],
            },
        )
        self.fire("mia", it["id"], "close")
        self.clock.advance(1)
        return int(it["id"])

    def portal(self) -> int:
        """Northwind's customer portal: in execution, one iteration done, a change approved."""
        mia = self.actors["mia"]
        project = self.d.projects.create(
            mia,
            {
                "customer_id": self.data.customers["northwind"],
                "name": "Customer portal",
                "start_date": self.day(),
                "target_date": self.day(120),
                "fields": {"budget": 180000, "contract_reference": "NW-2026-014"},
            },
        )["id"]
        self.team(project, "carla")
        self.initiate(
            project,
            "carla",
            "Customers track shipments and raise claims without calling us",
            "Shipment tracking, claims, notifications; no billing",
            [
                {"name": "Beta for 20 customers", "due": self.day(60)},
                {"name": "Go-live", "due": self.day(120)},
            ],
        )
        self.clock.advance(3)
        tracking = self.requirement(
            project, "Track a shipment by number", ["Status within 5 s", "Works on mobile"]
        )
        claims = self.requirement(project, "Raise a damage claim", ["Photo upload", "Claim number by email"])
        self.fire("mia", project, "request_confirmation")
        self.clock.advance(2)
        for requirement in (tracking, claims):
            self.fire("carla", requirement, "confirm", comment="Matches what we discussed")
        self.fire("carla", project, "confirm_requirements")
        self.clock.advance(1)
        self.iteration(
            project, "Shipment tracking", "carla", "carla", 4, "Fast and clear; search by reference too?"
        )
        change = self.d.change_requests.create(
            self.actors["carla"],
            project,
            {
                "title": "Search by customer reference",
                "description": "Also find shipments by our own reference",
                "reason": "Dispatchers know the reference, not the number",
                "requested_by_contact_id": self.contacts["carla"],
                "affected_requirement_ids": [tracking],
            },
        )["id"]
        self.fire("sam", change, "start_assessment")
        self.d.change_requests.assess(
            self.actors["sam"],
            change,
            {"impact_schedule_days": 3, "impact_cost": 4200, "impact_risk": "Low: index on reference"},
        )
        self.fire("sam", change, "submit_assessment")
        self.fire("carla", change, "approve", payload={"rationale": "Saves dispatchers a call per shipment"})
        self.fire("carla", tracking, "confirm", comment="Reference search included")
        it2 = self.d.iterations.plan(
            mia, project, {"goal": "Damage claims", "start_date": self.day(), "end_date": self.day(13)}
        )
        self.fire("mia", it2["id"], "start")
        for title, status, blocked in (
            ("Claim form with photo upload", "in_progress", None),
            ("Claim confirmation email", "todo", "Waiting for Northwind's SMTP relay credentials"),
            ("Reference search", "done", None),
        ):
            self.d.work_items.create(
                mia,
                project,
                {
                    "title": title,
                    "iteration_id": it2["id"],
                    "assignee_user_id": self.data.users["dev"],
                    "status": status,
                    "blocked_reason": blocked,
                    "estimate": 8,
                },
            )
        risk = self.d.risks.create(
            mia,
            project,
            {
                "title": "SMTP relay not ready for go-live",
                "category": "customer",
                "probability": 3,
                "impact": 4,
                "owner_user_id": self.data.users["mia"],
                "mitigation_plan": "Weekly check with Northwind IT",
                "contingency_plan": "Send through our relay with their domain",
                "early_warning_indicator": "Credentials not received 2 weeks before beta",
            },
        )["id"]
        self.fire("mia", risk, "assess")
        self.fire("mia", risk, "start_mitigation")
        self.d.risks.create(
            mia,
            project,
            {"title": "Peak season load", "category": "technical", "probability": 2, "impact": 3},
        )
        self.clock.advance(2)
        return int(project)

    def fleet(self) -> int:
        """Northwind's fleet app: waiting for the customer to confirm requirements."""
        mia = self.actors["mia"]
        project = self.d.projects.create(
            mia,
            {
                "customer_id": self.data.customers["northwind"],
                "name": "Fleet tracking app",
                "start_date": self.day(),
                "target_date": self.day(90),
            },
        )["id"]
        self.team(project, "carla")
        self.initiate(
            project,
            "nils",
            "Dispatchers see every truck live",
            "Android app for drivers, web map for dispatch",
            [{"name": "Pilot with 10 trucks", "due": self.day(45)}],
        )
        self.requirement(project, "Live position every 30 s", ["Position age shown", "Offline buffering"])
        self.requirement(project, "Driver check-in at depot", ["QR code scan"], priority="medium")
        self.fire("mia", project, "request_confirmation")
        self.d.risks.create(
            mia,
            project,
            {
                "title": "Drivers' phones too old",
                "category": "technical",
                "probability": 4,
                "impact": 3,
                "early_warning_indicator": "Pilot devices below Android 10",
            },
        )
        return int(project)

    def scheduling(self) -> int:
        """Bluebird's patient scheduling: delivered, accepted, in maintenance."""
        mia = self.actors["mia"]
        project = self.d.projects.create(
            mia,
            {
                "customer_id": self.data.customers["bluebird"],
                "name": "Patient scheduling",
                "start_date": self.day(),
                "target_date": self.day(50),
            },
        )["id"]
        self.team(project, "ben")
        self.initiate(
            project,
            "ben",
            "Patients book and move appointments online",
            "Booking, reminders; no payments",
            [{"name": "Online booking live", "due": self.day(45)}],
        )
        booking = self.requirement(
            project, "Book an appointment online", ["Free slots only", "SMS confirmation"]
        )
        self.fire("mia", project, "request_confirmation")
        self.fire("ben", booking, "confirm")
        self.fire("ben", project, "confirm_requirements")
        iteration = self.iteration(project, "Online booking", "ben", "ben", 5, "Patients love it")
        deliverable = self.d.deliverables.create(
            self.actors["dev"],
            project,
            {
                "title": "Booking web app",
                "kind": "product",
                "iteration_id": iteration,
                "acceptance_criteria": ["Book in under a minute", "Reminders sent a day before"],
                "qa_checklist": [
                    {"item": "Accessibility check", "done": True},
                    {"item": "Load test 500 users", "done": True},
                ],
            },
        )["id"]
        self.fire("mia", project, "start_delivery")
        self.fire("dev", deliverable, "submit_for_qa")
        self.fire("tess", deliverable, "pass_qa")
        self.fire("tess", project, "pass_internal_qa")
        self.d.meetings.record(
            mia,
            project,
            {
                "kind": "demo",
                "held_on": self.day(),
                "decisions": ["Go live on Monday"],
                "attendee_user_ids": [self.data.users["mia"]],
                "attendee_contact_ids": [self.contacts["ben"]],
            },
        )
        self.fire("mia", project, "request_acceptance")
        self.fire("ben", deliverable, "accept", comment="All criteria met")
        self.fire("ben", project, "accept_delivery")
        self.d.feedback.record(
            self.actors["ben"],
            project,
            {
                "contact_id": self.contacts["ben"],
                "deliverable_id": deliverable,
                "rating": 5,
                "text": "Smooth launch; phone calls down by a third",
            },
        )
        # The story's last step: load_demo takes its presence as "the demo is fully loaded".
        self.d.meetings.record(
            mia,
            project,
            {
                "kind": "retrospective",
                "held_on": self.day(),
                "notes": "Deliver the SMS provider contract earlier.",
                "attendee_user_ids": [
                    self.data.users["mia"],
                    self.data.users["dev"],
                    self.data.users["tess"],
                ],
            },
        )
        return int(project)
