"""The services refuse bad input with a clear message naming the field, and then change nothing.

Also: the audit trail of field edits, optimistic concurrency on edits, iteration reviews with the
customer, work items (blocked, assigned) and meeting action items.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from domain_helpers import (
    DAY0,
    DEFINITION,
    World,
    counts,
    day,
    make_world,
    plan_iteration,
    refused,
    review,
    rows,
    to_execution,
)
from pmflow.core.errors import Conflict, InvalidInput, NotFound
from pmflow.domain.services import Domain
from pmflow.domain.tables import field_changes, work_items

Case = Callable[[World], Any]


@pytest.fixture
def world(domain: Domain) -> World:
    """A defined project of Acme; besides it: customer Globex with contact Hank, user Olga (no
    member of the project) and a planned iteration."""
    w = make_world(domain, defined=True)
    globex = domain.customers.create(w.admin, {"name": "Globex"})
    w.extra["globex"] = globex["id"]
    w.extra["hank"] = domain.customers.add_contact(
        w.admin, globex["id"], {"name": "Hank", "email": "hank@globex.example"}
    )["id"]
    w.extra["olga"] = domain.users.create(
        w.admin, {"email": "olga@example.com", "name": "Olga", "role": "member"}
    )["id"]
    w.extra["iteration"] = plan_iteration(w)
    return w


def _project(w: World, **values: Any) -> dict[str, Any]:
    return {"customer_id": w.customer_id, "name": "Shop", **values}


def _meeting(w: World, **values: Any) -> dict[str, Any]:
    return {
        "kind": "daily_standup",
        "held_on": DAY0.isoformat(),
        "attendee_user_ids": [w.manager_id],
        **values,
    }


# ---- unknown ids ------------------------------------------------------------------------------


def _id_case(case: Case, field: str, id_: str) -> Any:
    return pytest.param(case, field, id=id_)


@pytest.mark.parametrize(
    ("case", "field"),
    [
        _id_case(
            lambda w: w.domain.projects.create(w.manager, _project(w, customer_id=999)),
            "customer_id",
            "project.customer_id",
        ),
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, manager_user_id=999)),
            "manager_user_id",
            id="project.manager_user_id",
        ),
        pytest.param(
            lambda w: w.domain.users.create(
                w.admin, {"email": "x@acme.example", "name": "X", "role": "customer", "customer_id": 999}
            ),
            "customer_id",
            id="user.customer_id",
        ),
        pytest.param(
            lambda w: w.domain.work_items.create(
                w.manager, w.project_id, {"title": "t", "assignee_user_id": 999}
            ),
            "assignee_user_id",
            id="work_item.assignee_user_id",
        ),
        pytest.param(
            lambda w: w.domain.work_items.create(
                w.manager, w.project_id, {"title": "t", "iteration_id": 999}
            ),
            "iteration_id",
            id="work_item.iteration_id",
        ),
        pytest.param(
            lambda w: w.domain.risks.create(w.manager, w.project_id, {"title": "t", "owner_user_id": 999}),
            "owner_user_id",
            id="risk.owner_user_id",
        ),
        pytest.param(
            lambda w: w.domain.change_requests.create(
                w.manager,
                w.project_id,
                {"title": "t", "description": "d", "reason": "r", "affected_requirement_ids": [999]},
            ),
            "affected_requirement_ids",
            id="change_request.affected_requirement_ids",
        ),
        _id_case(
            lambda w: w.domain.change_requests.create(
                w.manager,
                w.project_id,
                {"title": "t", "description": "d", "reason": "r", "requested_by_contact_id": 999},
            ),
            "requested_by_contact_id",
            "change_request.requested_by_contact_id",
        ),
        _id_case(
            lambda w: w.domain.meetings.record(
                w.manager, w.project_id, _meeting(w, attendee_contact_ids=[999])
            ),
            "attendee_contact_ids",
            "meeting.attendee_contact_ids",
        ),
        _id_case(
            lambda w: w.domain.meetings.record(w.manager, w.project_id, _meeting(w, iteration_id=999)),
            "iteration_id",
            "meeting.iteration_id",
        ),
        _id_case(
            lambda w: w.domain.feedback.record(w.manager, w.project_id, {"contact_id": 999, "text": "t"}),
            "contact_id",
            "feedback.contact_id",
        ),
        _id_case(
            lambda w: w.domain.feedback.record(
                w.manager, w.project_id, {"contact_id": w.contact_id, "text": "t", "iteration_id": 999}
            ),
            "iteration_id",
            "feedback.iteration_id",
        ),
        _id_case(
            lambda w: w.domain.deliverables.create(
                w.manager, w.project_id, {"title": "t", "kind": "code", "iteration_id": 999}
            ),
            "iteration_id",
            "deliverable.iteration_id",
        ),
    ],
)
def test_an_unknown_id_in_the_input_names_its_field(world: World, case: Case, field: str) -> None:
    with refused(world.domain, (InvalidInput, NotFound), field=field, match="999"):
        case(world)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda w: w.domain.projects.update(w.manager, 999, {"goal": "g"}), id="project.update"),
        pytest.param(
            lambda w: w.domain.projects.add_member(
                w.manager, 999, {"user_id": w.tester_id, "role": "tester"}
            ),
            id="project.add_member",
        ),
        pytest.param(
            lambda w: w.domain.requirements.create(w.manager, 999, {"title": "t"}), id="requirement"
        ),
        pytest.param(
            lambda w: w.domain.iterations.plan(
                w.manager, 999, {"goal": "g", "start_date": day(0), "end_date": day(9)}
            ),
            id="iteration",
        ),
        pytest.param(lambda w: w.domain.meetings.record(w.manager, 999, _meeting(w)), id="meeting"),
        pytest.param(
            lambda w: w.domain.feedback.record(w.manager, 999, {"contact_id": w.contact_id, "text": "t"}),
            id="feedback",
        ),
        pytest.param(
            lambda w: w.domain.change_requests.create(
                w.manager, 999, {"title": "t", "description": "d", "reason": "r"}
            ),
            id="change_request",
        ),
        pytest.param(
            lambda w: w.domain.deliverables.create(w.manager, 999, {"title": "t", "kind": "code"}),
            id="deliverable",
        ),
        pytest.param(lambda w: w.domain.risks.create(w.manager, 999, {"title": "t"}), id="risk"),
        pytest.param(lambda w: w.domain.work_items.create(w.manager, 999, {"title": "t"}), id="work_item"),
    ],
)
def test_an_unknown_project_is_refused(world: World, case: Case) -> None:
    with refused(world.domain, NotFound, field=("id", "project_id")) as info:
        case(world)
    assert info.value.message == "no project with id 999"


def test_an_id_of_the_wrong_type_is_refused(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="id", match="project id must be an integer, got '1'"):
        w.domain.projects.update(w.manager, "1", {"goal": "g"})  # type: ignore[arg-type]
    with refused(w.domain, InvalidInput, field="id", match="must be an integer"):
        w.domain.requirements.create(w.manager, "1", {"title": "t"})  # type: ignore[arg-type]
    with refused(w.domain, InvalidInput, field="id", match="a subject id is an integer"):
        w.fire(w.manager, "1", "start_requirements")  # type: ignore[arg-type]


# ---- malformed values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, customer_id="acme")),
            "customer_id",
            "valid integer",
            id="project.customer_id-text",
        ),
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, name=123)),
            "name",
            "valid string",
            id="project.name-number",
        ),
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, name="   ")),
            "name",
            "at least 1 character",
            id="project.name-blank",
        ),
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, start_date="next monday")),
            "start_date",
            "valid date",
            id="project.start_date",
        ),
        pytest.param(
            lambda w: w.domain.projects.update(w.manager, w.project_id, {"milestones": [{"name": "Beta"}]}),
            "milestones.0.due",
            "required",
            id="project.milestone-without-due",
        ),
        pytest.param(
            lambda w: w.domain.projects.update(w.manager, w.project_id, {"milestones": "soon"}),
            "milestones",
            "valid list",
            id="project.milestones-text",
        ),
        pytest.param(
            lambda w: w.domain.projects.update(w.manager, w.project_id, {"name": None}),
            "name",
            "cannot be empty",
            id="project.name-emptied",
        ),
        pytest.param(
            lambda w: w.domain.requirements.create(
                w.manager, w.project_id, {"title": "t", "priority": "urgent"}
            ),
            "priority",
            "'critical', 'high', 'medium' or 'low'",
            id="requirement.priority",
        ),
        pytest.param(
            lambda w: w.domain.requirements.create(
                w.manager, w.project_id, {"title": "t", "acceptance_criteria": "it works"}
            ),
            "acceptance_criteria",
            "valid list",
            id="requirement.acceptance_criteria",
        ),
        pytest.param(
            lambda w: w.domain.meetings.record(w.manager, w.project_id, _meeting(w, kind="party")),
            "kind",
            "'kickoff'",
            id="meeting.kind",
        ),
        pytest.param(
            lambda w: w.domain.feedback.record(
                w.manager, w.project_id, {"contact_id": w.contact_id, "text": "t", "rating": "five"}
            ),
            "rating",
            "valid integer",
            id="feedback.rating-text",
        ),
        pytest.param(
            lambda w: w.domain.work_items.create(w.manager, w.project_id, {"title": "t", "estimate": -2}),
            "estimate",
            "greater than or equal to 0",
            id="work_item.estimate",
        ),
        pytest.param(
            lambda w: w.domain.work_items.create(
                w.manager, w.project_id, {"title": "t", "status": "blocked"}
            ),
            "status",
            "'todo', 'in_progress' or 'done'",
            id="work_item.status",
        ),
        pytest.param(
            lambda w: w.domain.users.create(w.admin, {"email": "x@example.com", "name": "X", "role": "boss"}),
            "role",
            "'admin', 'manager', 'member' or 'customer'",
            id="user.role",
        ),
        pytest.param(
            lambda w: w.domain.customers.add_contact(
                w.admin, w.customer_id, {"name": "X", "email": "x-at-acme"}
            ),
            "email",
            "not a valid email address",
            id="contact.email",
        ),
        pytest.param(
            lambda w: w.domain.risks.create(w.manager, w.project_id, {"title": "t", "probability": 9}),
            "probability",
            "less than or equal to 5",
            id="risk.probability",
        ),
    ],
)
def test_a_malformed_value_is_refused(world: World, case: Case, field: str, words: str) -> None:
    with refused(world.domain, InvalidInput, field=field) as info:
        case(world)
    assert field in info.value.message
    assert words in info.value.message


def test_input_must_be_an_object(world: World) -> None:
    with refused(world.domain, InvalidInput, match="project: expected an object with fields"):
        world.domain.projects.create(world.manager, ["Shop"])  # type: ignore[arg-type]


def test_an_update_must_change_something(world: World) -> None:
    version = world.version(world.project_id)
    with refused(world.domain, InvalidInput, match="nothing to change: give at least one field"):
        world.domain.projects.update(world.manager, world.project_id, {})
    assert world.version(world.project_id) == version


def test_an_unknown_field_is_refused(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="nmae") as info:
        w.domain.projects.create(w.manager, _project(w, nmae="Shop 2"))
    assert info.value.message.startswith("project: nmae: unknown field (known: customer_id, name, ")
    with refused(w.domain, InvalidInput, field="budget", match="unknown field"):
        w.domain.projects.update(w.manager, w.project_id, {"budget": 5})  # custom fields go under `fields`
    # the version belongs to the lifecycle: pass expected_version instead
    with refused(w.domain, InvalidInput, field="version", match="only through the lifecycle"):
        w.domain.projects.update(w.manager, w.project_id, {"version": 7})


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            lambda w: w.domain.projects.update(w.manager, w.project_id, {"state": "closed"}), id="project"
        ),
        pytest.param(
            lambda w: w.domain.projects.create(w.manager, _project(w, state="execution")), id="new-project"
        ),
        pytest.param(
            lambda w: w.domain.iterations.update(
                w.manager, w.extra["iteration"], {"state": "closed", "goal": "g"}
            ),
            id="iteration",
        ),
        pytest.param(
            lambda w: w.domain.requirements.create(
                w.manager, w.project_id, {"title": "t", "state": "confirmed"}
            ),
            id="requirement",
        ),
        pytest.param(
            lambda w: w.domain.change_requests.create(
                w.manager,
                w.project_id,
                {"title": "t", "description": "d", "reason": "r", "state": "approved"},
            ),
            id="change_request",
        ),
    ],
)
def test_state_changes_only_through_the_lifecycle(world: World, case: Case) -> None:
    before = world.domain.engine.get(world.project_id)
    with refused(world.domain, InvalidInput, field="state") as info:
        case(world)
    assert "'state' changes only through the lifecycle: fire a transition instead" in info.value.message
    after = world.domain.engine.get(world.project_id)
    assert (after.state, after.version) == (before.state, before.version)


# ---- dates and iteration length ----------------------------------------------------------------


def test_dates_in_the_wrong_order_are_refused(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="target_date") as info:
        w.domain.projects.create(w.manager, _project(w, start_date="2025-06-01", target_date="2025-05-01"))
    assert info.value.message == "target_date (2025-05-01) is before start_date (2025-06-01)"
    # an edit is checked against the dates already stored
    with refused(w.domain, InvalidInput, field="target_date", match=r"is before start_date \(2025-03-03\)"):
        w.domain.projects.update(w.manager, w.project_id, {"target_date": "2025-01-31"})
    with refused(w.domain, InvalidInput, field="end_date") as info:
        w.domain.iterations.plan(
            w.manager, w.project_id, {"goal": "g", "start_date": "2025-03-10", "end_date": "2025-03-03"}
        )
    assert info.value.message == "end_date (2025-03-03) is before start_date (2025-03-10)"
    with refused(w.domain, InvalidInput, field="end_date", match="is before start_date"):
        w.domain.iterations.update(w.manager, w.extra["iteration"], {"start_date": day(30).isoformat()})


@pytest.mark.parametrize(("days", "ok"), [(4, False), (5, True), (14, True), (15, False), (1, False)])
def test_an_iteration_lasts_five_to_fourteen_days(world: World, days: int, ok: bool) -> None:
    w = world
    data = {"goal": "g", "start_date": day(14).isoformat(), "end_date": day(14 + days - 1).isoformat()}
    if ok:
        planned = w.domain.iterations.plan(w.manager, w.project_id, data)
        assert (planned["number"], planned["state"]) == (2, "planned")
        return
    with refused(w.domain, InvalidInput, field="end_date") as info:
        w.domain.iterations.plan(w.manager, w.project_id, data)
    assert info.value.message.startswith(
        f"an iteration lasts 5 to 14 days; {data['start_date']} to {data['end_date']} is {days} days"
    )


def test_a_started_iteration_keeps_its_dates(world: World) -> None:
    w = world
    iteration = w.extra["iteration"]
    w.domain.iterations.update(w.manager, iteration, {"end_date": day(9).isoformat()})  # planned: fine
    w.fire(w.manager, iteration, "start")
    with refused(
        w.domain, InvalidInput, field="start_date", match="dates of a started iteration cannot change"
    ):
        w.domain.iterations.update(w.manager, iteration, {"end_date": day(13).isoformat()})
    assert w.domain.iterations.update(w.manager, iteration, {"goal": "Checkout"})["goal"] == "Checkout"


# ---- customers, contacts, users ------------------------------------------------------------------


def test_customer_names_are_unique(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="name") as info:
        w.domain.customers.create(w.admin, {"name": "  ACME "})
    assert info.value.message == "a customer named 'ACME' already exists"
    with refused(w.domain, InvalidInput, field="name", match="a customer named 'Acme' already exists"):
        w.domain.customers.update(w.admin, w.extra["globex"], {"name": "Acme"})
    # renaming to itself is no conflict
    assert w.domain.customers.update(w.admin, w.customer_id, {"name": "Acme"})["version"] == 2


def test_contact_emails_are_unique_per_customer(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="email") as info:
        w.domain.customers.add_contact(w.admin, w.customer_id, {"name": "C.", "email": "CARLA@acme.example"})
    assert info.value.message == "this customer already has a contact with email CARLA@acme.example"
    # another customer may know the same person
    other = w.domain.customers.add_contact(
        w.admin, w.extra["globex"], {"name": "Carla", "email": "carla@acme.example"}
    )
    assert other["customer_id"] == w.extra["globex"]


def test_a_contacts_account_belongs_to_its_customer(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="user_id", match="must belong to the same customer"):
        w.domain.customers.add_contact(
            w.admin,
            w.extra["globex"],
            {"name": "Carla", "email": "c@globex.example", "user_id": w.customer_user_id},
        )
    with refused(w.domain, NotFound, field="customer_id", match="no customer with id 999"):
        w.domain.customers.add_contact(w.admin, 999, {"name": "X", "email": "x@example.com"})


def test_customer_users_belong_to_a_customer(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="customer_id") as info:
        w.domain.users.create(w.admin, {"email": "eve@acme.example", "name": "Eve", "role": "customer"})
    assert info.value.message == "a customer user must belong to a customer: give customer_id"
    with refused(
        w.domain, InvalidInput, field="customer_id", match="only customer users belong to a customer"
    ):
        w.domain.users.create(
            w.admin,
            {"email": "eve@acme.example", "name": "Eve", "role": "member", "customer_id": w.customer_id},
        )
    with refused(
        w.domain, InvalidInput, field="email", match="a user with email MIA@example.com already exists"
    ):
        w.domain.users.create(w.admin, {"email": "MIA@example.com", "name": "Mia 2", "role": "member"})


def test_project_members_fit_their_role(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="role", match="join a project as customer_representative"):
        w.domain.projects.add_member(
            w.manager, w.project_id, {"user_id": w.customer_user_id, "role": "developer"}
        )
    with refused(
        w.domain, InvalidInput, field="user_id", match="already a member of the project \\(as tester\\)"
    ):
        w.domain.projects.add_member(w.manager, w.project_id, {"user_id": w.tester_id, "role": "developer"})
    with refused(w.domain, InvalidInput, field="user_id", match="a user of this project's customer"):
        w.domain.projects.add_member(
            w.manager, w.project_id, {"user_id": w.extra["olga"], "role": "customer_representative"}
        )


# ---- meetings and feedback ------------------------------------------------------------------------


def test_meeting_attendees_come_from_the_project(world: World) -> None:
    w = world
    with refused(
        w.domain, InvalidInput, field="attendee_user_ids", match="a meeting needs at least one attendee"
    ):
        w.domain.meetings.record(w.manager, w.project_id, _meeting(w, attendee_user_ids=[]))
    with refused(w.domain, InvalidInput, field="attendee_contact_ids") as info:
        w.domain.meetings.record(
            w.manager, w.project_id, _meeting(w, attendee_contact_ids=[w.contact_id, w.extra["hank"]])
        )
    assert info.value.message == f"contact {w.extra['hank']} is not a contact of this project's customer"
    with refused(w.domain, InvalidInput, field="attendee_user_ids") as info:
        w.domain.meetings.record(
            w.manager, w.project_id, _meeting(w, attendee_user_ids=[w.manager_id, w.extra["olga"]])
        )
    assert info.value.message == f"not members of this project: users {w.extra['olga']}"


def test_a_review_meeting_belongs_to_an_iteration(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="iteration_id") as info:
        w.domain.meetings.record(w.manager, w.project_id, _meeting(w, kind="iteration_review"))
    assert "review belongs to an iteration: give iteration_id" in info.value.message
    other = w.domain.projects.create(w.manager, {"customer_id": w.customer_id, "name": "Shop"})
    with refused(w.domain, InvalidInput, field="iteration_id", match="is not in this project"):
        w.domain.meetings.record(
            w.manager, other["id"], _meeting(w, kind="iteration_review", iteration_id=w.extra["iteration"])
        )


def test_feedback_is_validated(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field="rating") as info:
        w.domain.feedback.record(
            w.manager, w.project_id, {"contact_id": w.contact_id, "text": "great", "rating": 6}
        )
    assert info.value.message == "feedback: rating: Input should be less than or equal to 5"
    with refused(w.domain, InvalidInput, field="contact_id") as info:
        w.domain.feedback.record(w.manager, w.project_id, {"contact_id": w.extra["hank"], "text": "meh"})
    assert info.value.message == "feedback comes from a contact of this project's customer"
    with refused(w.domain, InvalidInput, field="text"):
        w.domain.feedback.record(w.manager, w.project_id, {"contact_id": w.contact_id, "text": ""})
    deliverable = w.domain.deliverables.create(w.manager, w.project_id, {"title": "Docs", "kind": "document"})
    with refused(
        w.domain, InvalidInput, field="deliverable_id", match="an iteration or a deliverable, not both"
    ):
        w.domain.feedback.record(
            w.manager,
            w.project_id,
            {
                "contact_id": w.contact_id,
                "text": "ok",
                "iteration_id": w.extra["iteration"],
                "deliverable_id": deliverable["id"],
            },
        )
    saved = w.domain.feedback.record(
        w.manager, w.project_id, {"contact_id": w.contact_id, "text": "great", "rating": 5}
    )
    assert (saved["rating"], saved["project_id"]) == (5, w.project_id)


def test_a_review_without_the_customer_does_not_complete(domain: Domain) -> None:
    # given an iteration in review whose review meeting had only the team, and feedback recorded
    w = make_world(domain)
    to_execution(w)
    iteration = plan_iteration(w)
    w.fire(w.manager, iteration, "start")
    w.fire(w.manager, iteration, "finish_work")
    review(w, iteration, with_customer=False)
    # then the review cannot be completed
    assert w.blocked(w.manager, iteration, "complete_review") == [
        "the iteration review has no customer attendee recorded"
    ]
    # a review of another iteration with the customer does not count for this one
    other = plan_iteration(w, 14)
    review(w, other, feedback=False)
    assert w.blocked(w.manager, iteration, "complete_review") == [
        "the iteration review has no customer attendee recorded"
    ]
    # when the customer joins a review of this iteration it completes
    review(w, iteration, feedback=False)
    w.fire(w.manager, iteration, "complete_review")
    assert w.state(iteration) == "retrospective"


# ---- custom fields declared by the workflow file -----------------------------------------------------


def test_custom_project_fields_follow_the_workflow_file(world: World) -> None:
    w = world
    with refused(w.domain, InvalidInput, field=("budget", "fields.budget")) as info:
        w.domain.projects.create(w.manager, _project(w, fields={"budget": -1}))
    assert info.value.message == "field 'budget': -1 is less than the minimum of 0"
    with refused(w.domain, InvalidInput, field=("budget", "fields.budget")) as info:
        w.domain.projects.update(w.manager, w.project_id, {"fields": {"budget": "lots"}})
    assert info.value.message == "field 'budget': 'lots' is not of type 'number'"
    with refused(w.domain, InvalidInput, field=("budgt", "fields.budgt")) as info:
        w.domain.projects.update(w.manager, w.project_id, {"fields": {"budgt": 1000}})
    assert info.value.message == (
        "unknown field 'budgt' for project (workflow 'customer-project' declares: "
        "budget, contract_reference, on_hold_reason); did you mean 'budget'?"
    )
    with refused(w.domain, InvalidInput, field=("contract_reference", "fields.contract_reference")):
        w.domain.projects.update(w.manager, w.project_id, {"fields": {"contract_reference": "C" * 101}})
    assert w.domain.projects.get(w.project_id)["fields"] == {}

    # valid values are stored and audited like any field
    updated = w.domain.projects.update(
        w.manager, w.project_id, {"fields": {"budget": 25000, "contract_reference": "K-7"}}
    )
    assert updated["fields"] == {"budget": 25000, "contract_reference": "K-7"}
    created = w.domain.projects.create(w.manager, _project(w, fields={"budget": 0}))
    assert created["fields"] == {"budget": 0}
    audited = rows(w.domain, field_changes, field_changes.c.entity_id == w.project_id)
    assert {r["field"]: r["new_value"] for r in audited if r["field"].startswith("fields.")} == {
        "fields.budget": {"value": 25000},
        "fields.contract_reference": {"value": "K-7"},
    }


# ---- the audit trail and concurrent edits -----------------------------------------------------------

FIXED = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def test_a_field_edit_is_audited(world: World) -> None:
    w = world
    w.domain.engine.clock = lambda: FIXED
    version = w.version(w.project_id)
    before = rows(w.domain, field_changes)

    updated = w.domain.projects.update(w.manager, w.project_id, {"goal": "new", "scope": DEFINITION["scope"]})

    assert (updated["goal"], updated["version"]) == ("new", version + 1)
    new_rows = rows(w.domain, field_changes)[len(before) :]
    assert len(new_rows) == 1, "an unchanged field (scope) is not recorded"
    (change,) = new_rows
    assert {k: v for k, v in change.items() if k != "id"} == {
        "entity": "project",
        "entity_id": w.project_id,
        "field": "goal",
        "old_value": {"value": DEFINITION["goal"]},
        "new_value": {"value": "new"},
        "actor_id": w.manager.id,
        "changed_at": FIXED,
    }


def test_an_edit_on_a_stale_version_conflicts_and_writes_nothing(world: World) -> None:
    w = world
    version = w.version(w.project_id)
    w.domain.projects.update(w.manager, w.project_id, {"goal": "first"}, expected_version=version)
    with refused(w.domain, Conflict, field="expectedVersion") as info:
        w.domain.projects.update(w.manager, w.project_id, {"goal": "second"}, expected_version=version)
    assert info.value.current_version == version + 1
    assert info.value.message == (
        f"subject {w.project_id} was changed concurrently: it is now at version {version + 1} "
        "in state 'initiation'"
    )
    assert w.domain.projects.get(w.project_id)["goal"] == "first"
    goals = [r["new_value"] for r in rows(w.domain, field_changes, field_changes.c.field == "goal")]
    assert goals[-1] == {"value": "first"}


# ---- work items --------------------------------------------------------------------------------------


def test_a_work_item_is_assigned_blocked_and_unblocked(world: World) -> None:
    w = world
    item = w.domain.work_items.create(
        w.manager,
        w.project_id,
        {
            "title": "Payment gateway",
            "iteration_id": w.extra["iteration"],
            "assignee_user_id": w.tester_id,
            "estimate": 8,
            "blocked_reason": "waiting for API keys from the customer",
        },
    )
    assert item["status"] == "todo"
    assert (item["assignee_user_id"], item["blocked_reason"]) == (
        w.tester_id,
        "waiting for API keys from the customer",
    )
    assert item["version"] == 1

    moved = w.domain.work_items.update(
        w.manager,
        item["id"],
        {"blocked_reason": None, "status": "in_progress", "assignee_user_id": w.manager_id},
        expected_version=1,
    )
    assert (moved["status"], moved["blocked_reason"], moved["assignee_user_id"], moved["version"]) == (
        "in_progress",
        None,
        w.manager_id,
        2,
    )
    audited = {
        r["field"]: (r["old_value"], r["new_value"])
        for r in rows(w.domain, field_changes, field_changes.c.entity == "work_item")
        if r["old_value"] != {"value": None}
    }
    assert audited["blocked_reason"] == (
        {"value": "waiting for API keys from the customer"},
        {"value": None},
    )
    assert audited["assignee_user_id"] == ({"value": w.tester_id}, {"value": w.manager_id})
    # a stale edit loses
    with refused(w.domain, Conflict):
        w.domain.work_items.update(w.manager, item["id"], {"status": "done"}, expected_version=1)
    with refused(w.domain, InvalidInput, field="status", match="cannot be empty"):
        w.domain.work_items.update(w.manager, item["id"], {"status": None})


def test_action_items_of_a_meeting_become_work_items(world: World) -> None:
    w = world
    meeting = w.domain.meetings.record(
        w.manager,
        w.project_id,
        _meeting(
            w,
            kind="status_report",
            attendee_contact_ids=[w.contact_id],
            decisions=["ship the beta on Friday"],
            action_items=[
                {"title": "Send the beta invite", "assignee_user_id": w.manager_id},
                {"title": "Prepare test data", "assignee_user_id": w.tester_id, "estimate": 3},
            ],
        ),
    )
    items = rows(w.domain, work_items, work_items.c.meeting_id == meeting["id"])
    assert [(i["title"], i["assignee_user_id"], i["status"], i["project_id"]) for i in items] == [
        ("Send the beta invite", w.manager_id, "todo", w.project_id),
        ("Prepare test data", w.tester_id, "todo", w.project_id),
    ]
    assert meeting["decisions"] == ["ship the beta on Friday"]
    # one bad action item refuses the whole meeting
    before = counts(w.domain)
    with pytest.raises(InvalidInput) as info:
        w.domain.meetings.record(
            w.manager,
            w.project_id,
            _meeting(w, action_items=[{"title": "ok"}, {"title": "x", "assignee_user_id": 999}]),
        )
    assert "999" in info.value.message
    with pytest.raises(InvalidInput) as info:
        w.domain.meetings.record(w.manager, w.project_id, _meeting(w, action_items=[{"title": ""}]))
    assert info.value.field == "action_items.0.title"
    assert counts(w.domain) == before


def test_a_cancelled_project_takes_no_more_work(world: World) -> None:
    w = world
    w.fire(w.manager, w.project_id, "cancel", comment="the customer stopped the budget")
    for case in (
        lambda: w.domain.requirements.create(w.manager, w.project_id, {"title": "late idea"}),
        lambda: w.domain.risks.create(w.manager, w.project_id, {"title": "late risk"}),
        lambda: w.domain.projects.update(w.manager, w.project_id, {"goal": "changed afterwards"}),
    ):
        with refused(w.domain, InvalidInput, field="project_id", match="is cancelled: nothing more"):
            case()


def test_a_work_item_is_assigned_to_a_project_member_only(world: World) -> None:
    w = world
    outsider = w.domain.users.create(w.admin, {"email": "out@x.example", "name": "Out", "role": "member"})
    with refused(w.domain, InvalidInput, field="assignee_user_id", match="not a member of this project"):
        w.domain.work_items.create(
            w.manager, w.project_id, {"title": "Fix it", "assignee_user_id": outsider["id"]}
        )
    item = w.domain.work_items.create(
        w.manager, w.project_id, {"title": "Fix it", "assignee_user_id": w.tester_id}
    )
    assert item["assignee_user_id"] == w.tester_id
