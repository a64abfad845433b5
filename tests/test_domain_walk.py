"""A customer project walked from initiation to maintenance and closed, through the services.

Every guard of the project lifecycle is seen blocking with the message a user reads, then passing.
"""

from __future__ import annotations

import pytest

from domain_helpers import (
    DEFINITION,
    World,
    complete_iteration,
    day,
    deliverable_through_qa,
    demo,
    kickoff,
    make_world,
    person,
    plan_iteration,
    requirement,
    retrospective,
    review,
    to_execution,
    to_maintenance,
)
from pmflow.core.errors import InvalidInput, InvalidTransition, NotAllowed
from pmflow.domain.services import Domain


def _initiation_to_requirements(w: World) -> None:
    p = w.project_id
    # given a new project: no kickoff, no goal, scope or milestones
    assert w.state(p) == "initiation"
    assert w.blocked(w.manager, p, "start_requirements") == [
        "the kickoff meeting with the customer has not been recorded",
        "agree the goal, the scope, key milestones with the customer first",
    ]
    # when the kickoff is recorded, only the definition is missing
    kickoff(w)
    assert w.blocked(w.manager, p, "start_requirements") == [
        "agree the goal, the scope, key milestones with the customer first"
    ]
    # each agreed part drops out of the message
    w.domain.projects.update(w.manager, p, {"goal": DEFINITION["goal"]})
    assert w.blocked(w.manager, p, "start_requirements") == [
        "agree the scope, key milestones with the customer first"
    ]
    w.domain.projects.update(w.manager, p, {"scope": DEFINITION["scope"]})
    assert w.blocked(w.manager, p, "start_requirements") == ["agree key milestones with the customer first"]
    w.domain.projects.update(w.manager, p, {"milestones": DEFINITION["milestones"]})
    # then the manager starts the requirement research
    w.fire(w.manager, p, "start_requirements", comment="kickoff done")
    assert w.state(p) == "requirements.research"


def _requirements_confirmed(w: World) -> int:
    p = w.project_id
    assert w.blocked(w.manager, p, "request_confirmation") == ["no requirement has been recorded yet"]
    login = requirement(w, "Login", criteria=False)
    assert w.blocked(w.manager, login, "submit_for_review") == ["write the acceptance criteria first"]
    w.domain.requirements.update(
        w.manager, login, {"acceptance_criteria": ["a customer signs in with email"]}
    )
    w.fire(w.manager, login, "submit_for_review")
    w.fire(w.manager, p, "request_confirmation")
    assert w.state(p) == "requirements.confirmation"

    # the customer has not confirmed yet
    assert w.blocked(w.customer, p, "confirm_requirements") == [
        "1 requirement(s) not yet confirmed by the customer: 'Login'"
    ]
    # only the customer role may confirm a requirement, not the manager
    assert w.not_allowed(w.manager, login, "confirm") == (
        "'confirm' is for the customer role; your roles here: manager"
    )
    # the customer contact confirms: the requirement remembers who and when
    w.fire(w.customer, login, "confirm")
    confirmed = w.domain.requirements.get(login)
    assert confirmed["state"] == "confirmed"
    assert confirmed["confirmed_by_contact_id"] == w.contact_id
    assert confirmed["confirmed_at"] is not None

    w.fire(w.customer, p, "confirm_requirements")
    assert w.state(p) == "execution"
    return login


def _hold_and_resume(w: World) -> None:
    p = w.project_id
    # a hold needs a reason
    with pytest.raises(InvalidInput) as info:
        w.fire(w.manager, p, "put_on_hold")
    assert info.value.field == "payload.reason"
    assert "'reason' is a required property" in info.value.message
    w.fire(w.manager, p, "put_on_hold", payload={"reason": "budget freeze until April"})
    held = w.domain.projects.get(p)
    assert held["state"] == "on_hold"
    assert held["fields"]["on_hold_reason"] == "budget freeze until April"
    # it resumes where it was, not anywhere else
    assert w.blocked(w.manager, p, "resume_requirements") == [
        "this project did not come here from Requirements"
    ]
    w.fire(w.manager, p, "resume_execution")
    assert w.state(p) == "execution"


def _execution_to_delivery(w: World) -> int:
    p = w.project_id
    assert w.blocked(w.manager, p, "start_delivery") == [
        "no iteration has been completed and reviewed with the customer yet"
    ]
    iteration = plan_iteration(w)
    w.fire(w.manager, iteration, "start")
    assert w.blocked(w.manager, p, "start_delivery") == [
        "no iteration has been completed and reviewed with the customer yet",
        "iteration(s) 1 are still running",
    ]
    w.fire(w.manager, iteration, "finish_work")
    assert w.blocked(w.manager, iteration, "complete_review") == [
        "the iteration review has no customer attendee recorded; "
        "no customer feedback on this iteration has been recorded"
    ]
    review(w, iteration)
    w.fire(w.manager, iteration, "complete_review")
    # reviewed, but its retrospective still runs
    assert w.blocked(w.manager, p, "start_delivery") == ["iteration(s) 1 are still running"]
    assert w.blocked(w.manager, iteration, "close") == ["record the iteration's retrospective first"]
    retrospective(w, iteration)
    w.fire(w.manager, iteration, "close")

    # a change request waiting for a decision holds delivery back
    change = w.domain.change_requests.create(
        w.customer,
        p,
        {
            "title": "Dark mode",
            "description": "a dark theme",
            "reason": "night shifts",
            "requested_by_contact_id": w.contact_id,
        },
    )
    assert w.blocked(w.manager, p, "start_delivery") == ["1 change request(s) still undecided: 'Dark mode'"]
    w.fire(w.customer, change["id"], "withdraw", comment="not this release")

    w.fire(w.manager, p, "start_delivery")
    assert w.state(p) == "delivery.internal_qa"
    return iteration


def _internal_qa(w: World) -> int:
    p = w.project_id
    assert w.blocked(w.tester, p, "pass_internal_qa") == ["no deliverable has been recorded"]
    release = w.domain.deliverables.create(
        w.manager,
        p,
        {"title": "Release 1", "kind": "product", "acceptance_criteria": ["orders reach the warehouse"]},
    )["id"]
    assert w.blocked(w.tester, p, "pass_internal_qa") == [
        "deliverable(s) not through internal QA: 'Release 1'"
    ]
    w.fire(w.manager, release, "submit_for_qa")
    assert w.blocked(w.tester, release, "pass_qa") == ["the internal QA checklist is empty"]
    w.domain.deliverables.update(
        w.manager,
        release,
        {"qa_checklist": [{"item": "Smoke test"}, {"item": "Load test", "done": True}]},
    )
    assert w.blocked(w.tester, release, "pass_qa") == ["QA checklist items not done: Smoke test"]
    assert w.blocked(w.tester, p, "pass_internal_qa") == [
        "deliverable(s) not through internal QA: 'Release 1'"
    ]
    w.domain.deliverables.update(
        w.manager,
        release,
        {"qa_checklist": [{"item": "Smoke test", "done": True}, {"item": "Load test", "done": True}]},
    )
    w.fire(w.tester, release, "pass_qa")
    assert w.state(release) == "customer_acceptance"
    # the tester (a project role) passes the project's internal QA
    w.fire(w.tester, p, "pass_internal_qa")
    assert w.state(p) == "delivery.demo"
    return int(release)


def _demo_and_acceptance(w: World, release: int) -> None:
    p = w.project_id
    assert w.blocked(w.manager, p, "request_acceptance") == [
        "no demo with a customer attendee has been recorded"
    ]
    demo(w, with_customer=False)  # a demo to ourselves does not count
    assert w.blocked(w.manager, p, "request_acceptance") == [
        "no demo with a customer attendee has been recorded"
    ]
    demo(w)
    w.fire(w.manager, p, "request_acceptance")
    assert w.state(p) == "delivery.customer_acceptance"

    # the manager cannot accept on the customer's behalf
    assert w.not_allowed(w.manager, p, "accept_delivery") == (
        "'accept_delivery' is for the customer role; your roles here: manager"
    )
    # a customer user of another customer has no role here at all
    globex = w.domain.customers.create(w.admin, {"name": "Globex"})
    stranger = person(
        w.domain.users.create(
            w.admin,
            {"email": "hank@globex.example", "name": "Hank", "role": "customer", "customer_id": globex["id"]},
        )
    )
    assert w.not_allowed(stranger, p, "accept_delivery") == (
        "'accept_delivery' is for the customer role; your roles here: none"
    )
    # a user of the customer who is not one of its contacts may not accept
    bob = person(
        w.domain.users.create(
            w.admin,
            {"email": "bob@acme.example", "name": "Bob", "role": "customer", "customer_id": w.customer_id},
        )
    )
    assert w.blocked(bob, p, "accept_delivery") == [
        "only a contact of the customer can do this",
        "deliverable(s) not yet accepted by the customer: 'Release 1'",
    ]
    assert w.blocked(bob, release, "accept") == ["only a contact of the customer can do this"]
    # the contact has not accepted the deliverable yet
    assert w.blocked(w.customer, p, "accept_delivery") == [
        "deliverable(s) not yet accepted by the customer: 'Release 1'"
    ]
    w.fire(w.customer, release, "accept", comment="matches the contract")
    assert w.state(release) == "accepted"
    w.fire(w.customer, p, "accept_delivery")
    assert w.state(p) == "maintenance"


def test_a_project_walks_from_initiation_to_closed(domain: Domain) -> None:
    w = make_world(domain)
    p = w.project_id
    manager, tester, customer = w.manager.id, w.tester.id, w.customer.id

    _initiation_to_requirements(w)
    login = _requirements_confirmed(w)
    _hold_and_resume(w)
    _execution_to_delivery(w)
    release = _internal_qa(w)
    _demo_and_acceptance(w, release)

    # the iteration's retrospective is not the project's: after delivery the team looks back
    assert w.blocked(w.manager, p, "close") == ["hold and record a retrospective before closing the project"]
    w.domain.meetings.record(
        w.manager,
        p,
        {
            "kind": "retrospective",
            "held_on": day(40).isoformat(),
            "attendee_user_ids": [w.manager_id, w.tester_id],
            "notes": "QA started too late",
        },
    )
    w.fire(w.manager, p, "close", comment="delivered and accepted")
    assert w.state(p) == "closed"

    # the history tells the whole story, with who did what
    history = domain.engine.history(p)
    assert [(e.trigger, e.from_state, e.to_state, e.actor_id) for e in history] == [
        ("create", None, "initiation", manager),
        ("start_requirements", "initiation", "requirements.research", manager),
        ("request_confirmation", "requirements.research", "requirements.confirmation", manager),
        ("confirm_requirements", "requirements.confirmation", "execution", customer),
        ("put_on_hold", "execution", "on_hold", manager),
        ("resume_execution", "on_hold", "execution", manager),
        ("start_delivery", "execution", "delivery.internal_qa", manager),
        ("pass_internal_qa", "delivery.internal_qa", "delivery.demo", tester),
        ("request_acceptance", "delivery.demo", "delivery.customer_acceptance", manager),
        ("accept_delivery", "delivery.customer_acceptance", "maintenance", customer),
        ("close", "maintenance", "closed", manager),
    ]
    versions = [e.subject_version for e in history]  # field edits move the version too
    assert versions == sorted(set(versions))
    assert history[1].comment == "kickoff done"
    assert history[4].payload == {"reason": "budget freeze until April"}
    assert history[-1].comment == "delivered and accepted"
    assert {e.actor_name for e in history} == {"Mia", "Tom", "Carla"}
    # and the requirement's own history shows the customer's confirmation
    assert [(e.trigger, e.actor_id) for e in domain.engine.history(login)] == [
        ("create", manager),
        ("submit_for_review", manager),
        ("confirm", customer),
    ]


def test_a_finished_project_refuses_everything(domain: Domain) -> None:
    w = make_world(domain)
    to_maintenance(w)
    w.domain.meetings.record(
        w.manager,
        w.project_id,
        {"kind": "retrospective", "held_on": day(40).isoformat(), "attendee_user_ids": [w.manager_id]},
    )
    w.fire(w.manager, w.project_id, "close")
    assert w.state(w.project_id) == "closed"
    # a closed project is final: nothing leaves it, not even a hold
    for trigger in ("put_on_hold", "resume_maintenance", "close"):
        with pytest.raises(InvalidTransition, match="no trigger leaves this state"):
            w.fire(w.manager, w.project_id, trigger, payload={"reason": "x"})


def test_resuming_returns_to_the_phase_it_left(domain: Domain) -> None:
    # given a project put on hold during initiation
    w = make_world(domain, defined=True)
    p = w.project_id
    w.fire(w.manager, p, "put_on_hold", payload={"reason": "customer reorganises"})
    # then only resume_initiation brings it back
    for trigger, label in (
        ("resume_requirements", "Requirements"),
        ("resume_execution", "Execution"),
        ("resume_delivery", "Delivery"),
        ("resume_maintenance", "Maintenance"),
    ):
        assert w.blocked(w.manager, p, trigger) == [f"this project did not come here from {label}"]
    # a tester cannot resume a project
    with pytest.raises(
        NotAllowed, match="'resume_initiation' is for the manager role; your roles here: tester"
    ):
        w.fire(w.tester, p, "resume_initiation")
    w.fire(w.manager, p, "resume_initiation")
    assert w.state(p) == "initiation"
    # and from a nested state it resumes into the phase's initial state
    kickoff(w)
    w.fire(w.manager, p, "start_requirements")
    w.fire(w.manager, p, "put_on_hold", payload={"reason": "waiting for the customer"})
    w.fire(w.manager, p, "resume_requirements")
    assert w.state(p) == "requirements.research"


def test_a_second_iteration_waits_for_the_first(domain: Domain) -> None:
    w = make_world(domain)
    w_first = plan_iteration(w, 0)
    w_second = plan_iteration(w, 14)
    assert domain.iterations.get(w_second)["number"] == 2
    w.fire(w.manager, w_first, "start")
    assert w.blocked(w.manager, w_second, "start") == ["iteration 1 is still running"]
    w.fire(w.manager, w_first, "finish_work")
    assert w.blocked(w.manager, w_second, "start") == ["iteration 1 is still running"]
    review(w, w_first)
    w.fire(w.manager, w_first, "complete_review")
    # in its retrospective the first no longer holds the next one back
    w.fire(w.manager, w_second, "start")
    assert w.state(w_second) == "active"


def test_delivery_returned_by_the_customer_goes_back_to_execution(domain: Domain) -> None:
    w = make_world(domain)
    to_execution(w)
    complete_iteration(w)
    w.fire(w.manager, w.project_id, "start_delivery")
    deliverable_through_qa(w)
    w.fire(w.tester, w.project_id, "pass_internal_qa")
    demo(w)
    w.fire(w.manager, w.project_id, "request_acceptance")
    # a return needs the customer's reasons
    assert w.blocked(w.customer, w.project_id, "return_delivery") == [
        "'return_delivery' needs a comment saying why"
    ]
    w.fire(w.customer, w.project_id, "return_delivery", comment="checkout fails on mobile")
    assert w.state(w.project_id) == "execution"
    assert domain.engine.history(w.project_id)[-1].actor_id == w.customer.id
