"""Shared setup for the domain tests: an organisation, its people and a customer project.

A plain module (not a conftest): ``from domain_helpers import ...``. Every helper goes through the
services and ``domain.fire`` like a user would, so the tests exercise the real path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from pmflow.core.errors import GuardFailed, NotAllowed, PmflowError
from pmflow.core.tables import metadata
from pmflow.core.types import Actor
from pmflow.domain.people import actor_for
from pmflow.domain.services import Domain

# A Monday; iterations start on it and last two weeks unless a test says otherwise.
DAY0 = date(2025, 3, 3)
SETUP = Actor.system_actor("setup")


def day(offset: int) -> date:
    return DAY0 + timedelta(days=offset)


def person(row: Mapping[str, Any]) -> Actor:
    """The engine actor of a ``users`` row as ``domain.users.create`` returns it."""
    return actor_for(SimpleNamespace(**row))


@dataclass
class World:
    """One customer with a contact who signs in, an internal team and (usually) a project."""

    domain: Domain
    customer_id: int
    admin: Actor
    manager: Actor
    tester: Actor
    customer: Actor  # a customer user who is also a contact of the customer
    admin_id: int
    manager_id: int
    tester_id: int
    customer_user_id: int
    contact_id: int
    project_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def fire(self, actor: Actor, subject_id: int, trigger: str, **kwargs: Any) -> Any:
        return self.domain.fire(actor, subject_id, trigger, **kwargs)

    def state(self, subject_id: int) -> str:
        return self.domain.engine.get(subject_id).state

    def version(self, subject_id: int) -> int:
        return self.domain.engine.get(subject_id).version

    def blocked(self, actor: Actor, subject_id: int, trigger: str, **kwargs: Any) -> list[str]:
        """Fire, expect ``GuardFailed``; the subject must not have moved. Returns the reasons."""
        before = self.domain.engine.get(subject_id)
        with pytest.raises(GuardFailed) as info:
            self.fire(actor, subject_id, trigger, **kwargs)
        after = self.domain.engine.get(subject_id)
        assert (after.state, after.version) == (before.state, before.version)
        return list(info.value.reasons)

    def not_allowed(self, actor: Actor, subject_id: int, trigger: str, **kwargs: Any) -> str:
        """Fire, expect ``NotAllowed``; the subject must not have moved. Returns the message."""
        before = self.domain.engine.get(subject_id)
        with pytest.raises(NotAllowed) as info:
            self.fire(actor, subject_id, trigger, **kwargs)
        after = self.domain.engine.get(subject_id)
        assert (after.state, after.version) == (before.state, before.version)
        return info.value.message


def make_world(domain: Domain, *, project: bool = True, defined: bool = False) -> World:
    """Customer 'Acme' with contact Carla (who signs in), admin Ada, manager Mia, tester Tom.

    With ``project`` a project 'Portal' managed by Mia, Tom as its tester; ``defined`` also sets
    goal, scope and milestones.
    """
    admin = domain.users.create(SETUP, {"email": "ada@example.com", "name": "Ada", "role": "admin"})
    admin_actor = person(admin)
    manager = domain.users.create(admin_actor, {"email": "mia@example.com", "name": "Mia", "role": "manager"})
    tester = domain.users.create(admin_actor, {"email": "tom@example.com", "name": "Tom", "role": "member"})
    customer = domain.customers.create(admin_actor, {"name": "Acme"})
    customer_user = domain.users.create(
        admin_actor,
        {"email": "carla@acme.example", "name": "Carla", "role": "customer", "customer_id": customer["id"]},
    )
    contact = domain.customers.add_contact(
        admin_actor,
        customer["id"],
        {
            "name": "Carla",
            "email": "carla@acme.example",
            "role": "Product owner",
            "user_id": customer_user["id"],
        },
    )
    world = World(
        domain=domain,
        customer_id=customer["id"],
        admin=admin_actor,
        manager=person(manager),
        tester=person(tester),
        customer=person(customer_user),
        admin_id=admin["id"],
        manager_id=manager["id"],
        tester_id=tester["id"],
        customer_user_id=customer_user["id"],
        contact_id=contact["id"],
    )
    if project:
        data: dict[str, Any] = {
            "customer_id": customer["id"],
            "name": "Portal",
            "start_date": DAY0.isoformat(),
            "target_date": day(120).isoformat(),
            "manager_user_id": manager["id"],
        }
        if defined:
            data.update(DEFINITION)
        world.project_id = domain.projects.create(world.manager, data)["id"]
        domain.projects.add_member(
            world.manager, world.project_id, {"user_id": tester["id"], "role": "tester"}
        )
    return world


DEFINITION: dict[str, Any] = {
    "goal": "Customers order spare parts online",
    "scope": "Catalogue, cart, checkout; no ERP integration",
    "milestones": [
        {"name": "Beta", "due": day(60).isoformat()},
        {"name": "Launch", "due": day(110).isoformat()},
    ],
}


# ---- steps a test can take ------------------------------------------------------------------


def kickoff(world: World) -> dict[str, Any]:
    return world.domain.meetings.record(
        world.manager,
        world.project_id,
        {
            "kind": "kickoff",
            "held_on": DAY0.isoformat(),
            "attendee_user_ids": [world.manager_id],
            "attendee_contact_ids": [world.contact_id],
            "decisions": ["weekly status report on Fridays"],
        },
    )


def requirement(world: World, title: str, *, criteria: bool = True) -> int:
    data: dict[str, Any] = {"title": title, "priority": "high", "source": "interview"}
    if criteria:
        data["acceptance_criteria"] = [f"{title} works end to end"]
    return int(world.domain.requirements.create(world.manager, world.project_id, data)["id"])


def confirmed_requirement(world: World, title: str) -> int:
    """A requirement submitted for review and confirmed by the customer contact."""
    requirement_id = requirement(world, title)
    world.fire(world.manager, requirement_id, "submit_for_review")
    world.fire(world.customer, requirement_id, "confirm")
    return requirement_id


def to_execution(world: World) -> list[int]:
    """Kickoff, definition, one confirmed requirement: the project runs its iterations."""
    kickoff(world)
    world.domain.projects.update(world.manager, world.project_id, DEFINITION)
    world.fire(world.manager, world.project_id, "start_requirements")
    requirement_id = confirmed_requirement(world, "Login")
    world.fire(world.manager, world.project_id, "request_confirmation")
    world.fire(world.customer, world.project_id, "confirm_requirements")
    return [requirement_id]


def plan_iteration(world: World, offset: int = 0, *, days: int = 14, goal: str = "A usable increment") -> int:
    iteration = world.domain.iterations.plan(
        world.manager,
        world.project_id,
        {"goal": goal, "start_date": day(offset).isoformat(), "end_date": day(offset + days - 1).isoformat()},
    )
    return int(iteration["id"])


def review(world: World, iteration_id: int, *, with_customer: bool = True, feedback: bool = True) -> None:
    """The iteration review meeting (customer attendee unless told otherwise) and feedback."""
    world.domain.meetings.record(
        world.manager,
        world.project_id,
        {
            "kind": "iteration_review",
            "held_on": day(13).isoformat(),
            "iteration_id": iteration_id,
            "attendee_user_ids": [world.manager_id, world.tester_id],
            "attendee_contact_ids": [world.contact_id] if with_customer else [],
        },
    )
    if feedback:
        world.domain.feedback.record(
            world.manager,
            world.project_id,
            {"contact_id": world.contact_id, "text": "Looks good", "rating": 4, "iteration_id": iteration_id},
        )


def retrospective(world: World, iteration_id: int | None) -> None:
    world.domain.meetings.record(
        world.manager,
        world.project_id,
        {
            "kind": "retrospective",
            "held_on": day(14).isoformat(),
            "iteration_id": iteration_id,
            "attendee_user_ids": [world.manager_id, world.tester_id],
            "notes": "Estimates were too optimistic",
        },
    )


def complete_iteration(world: World, offset: int = 0) -> int:
    """Plan, run, review with the customer, look back and close one iteration."""
    iteration_id = plan_iteration(world, offset)
    world.fire(world.manager, iteration_id, "start")
    world.fire(world.manager, iteration_id, "finish_work")
    review(world, iteration_id)
    world.fire(world.manager, iteration_id, "complete_review")
    retrospective(world, iteration_id)
    world.fire(world.manager, iteration_id, "close")
    return iteration_id


# ---- looking at the database -----------------------------------------------------------------


def counts(domain: Domain) -> dict[str, int]:
    """Rows per table, every table of pmflow: compare before/after a refused write."""
    with domain.engine.database.read() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
        }


def rows(domain: Domain, table: Table, *where: Any) -> list[dict[str, Any]]:
    with domain.engine.database.read() as conn:
        query = select(table).where(*where).order_by(table.c.id)
        return [dict(r._mapping) for r in conn.execute(query)]


@contextmanager
def refused(
    domain: Domain,
    error: type[PmflowError] | tuple[type[PmflowError], ...],
    *,
    field: str | tuple[str, ...] | None = None,
    match: str | None = None,
) -> Iterator[pytest.ExceptionInfo[Any]]:
    """Expect ``error`` (naming ``field``, message matching ``match``) and no row written anywhere."""
    before = counts(domain)
    with pytest.raises(error, match=match) as info:
        yield info
    if field is not None:
        fields = (field,) if isinstance(field, str) else field
        assert info.value.field in fields, f"{info.value.field!r} not in {fields}: {info.value.message}"
    assert counts(domain) == before


def deliverable_through_qa(world: World, title: str = "Release 1") -> int:
    """A deliverable with a done QA checklist, passed by the tester: waiting for the customer."""
    deliverable_id = int(
        world.domain.deliverables.create(
            world.manager,
            world.project_id,
            {
                "title": title,
                "kind": "product",
                "acceptance_criteria": ["orders reach the warehouse"],
                "qa_checklist": [{"item": "Smoke test", "done": True}],
            },
        )["id"]
    )
    world.fire(world.manager, deliverable_id, "submit_for_qa")
    world.fire(world.tester, deliverable_id, "pass_qa")
    return deliverable_id


def demo(world: World, *, with_customer: bool = True) -> None:
    world.domain.meetings.record(
        world.manager,
        world.project_id,
        {
            "kind": "demo",
            "held_on": day(30).isoformat(),
            "attendee_user_ids": [world.manager_id],
            "attendee_contact_ids": [world.contact_id] if with_customer else [],
        },
    )


def to_maintenance(world: World) -> None:
    """The whole way from initiation to maintenance, the shortest path that passes every guard."""
    to_execution(world)
    complete_iteration(world)
    world.fire(world.manager, world.project_id, "start_delivery")
    deliverable_id = deliverable_through_qa(world)
    world.fire(world.tester, world.project_id, "pass_internal_qa")
    demo(world)
    world.fire(world.manager, world.project_id, "request_acceptance")
    world.fire(world.customer, deliverable_id, "accept")
    world.fire(world.customer, world.project_id, "accept_delivery")
