"""Change requests: assessed for impact, then approved, rejected or deferred with the customer.

An approval reopens the confirmed requirements it affects (the requirement's `revise`, fired by pmflow
in the same transaction); a confirmed requirement changes no other way.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain_helpers import World, counts, make_world, person, refused, requirement, to_execution
from pmflow import hookimpl
from pmflow.core.errors import InvalidInput, InvalidTransition, NotAllowed, PluginError
from pmflow.core.types import Actor, HistoryEvent, TransitionContext
from pmflow.domain.services import Domain

IMPACT = {"impact_schedule_days": 5, "impact_cost": 1200.0, "impact_risk": "SSO provider outage"}


def _change(w: World, affected: list[int], *, title: str = "Single sign-on") -> int:
    """A change request from the customer contact, affecting ``affected``; submitted."""
    change = w.domain.change_requests.create(
        w.customer,
        w.project_id,
        {
            "title": title,
            "description": "Sign in with the corporate identity provider",
            "reason": "IT policy",
            "requested_by_contact_id": w.contact_id,
            "affected_requirement_ids": affected,
        },
    )
    assert change["state"] == "submitted"
    assert change["requested_by_user_id"] == w.customer_user_id
    return int(change["id"])


def _awaiting_decision(w: World, affected: list[int]) -> int:
    change = _change(w, affected)
    w.fire(w.manager, change, "start_assessment")
    w.domain.change_requests.assess(w.manager, change, IMPACT)
    w.fire(w.manager, change, "submit_assessment")
    assert w.state(change) == "awaiting_decision"
    return change


@pytest.fixture
def world(domain: Domain) -> World:
    """A project in execution with 'Login' confirmed by the customer and 'Search' still a draft."""
    w = make_world(domain)
    (login,) = to_execution(w)
    w.extra["login"] = login
    w.extra["search"] = requirement(w, "Search")
    return w


def test_approval_reopens_the_confirmed_requirements_it_affects(world: World) -> None:
    w = world
    login, search = w.extra["login"], w.extra["search"]
    assert w.domain.requirements.get(login)["confirmed_by_contact_id"] == w.contact_id
    change = _awaiting_decision(w, [login, search])

    # when the customer approves with a rationale
    result = w.fire(w.customer, change, "approve", payload={"rationale": "required by the new IT policy"})

    # then the decision, its rationale and who decided are stored
    decided = w.domain.change_requests.get(change)
    assert decided["state"] == "approved"
    assert decided["decision"] == "approved"
    assert decided["decision_rationale"] == "required by the new IT policy"
    assert decided["decided_by"] == w.customer.id
    assert decided["decided_at"] == result.event.occurred_at
    assert result.event.payload == {"rationale": "required by the new IT policy"}
    # the confirmed requirement goes back to review, its confirmation cleared
    reopened = w.domain.requirements.get(login)
    assert reopened["state"] == "under_review"
    assert reopened["confirmed_by_contact_id"] is None
    assert reopened["confirmed_at"] is None
    revise = w.domain.engine.history(login)[-1]
    assert (revise.trigger, revise.from_state, revise.to_state) == ("revise", "confirmed", "under_review")
    assert revise.actor_id == w.customer.id
    assert revise.comment == f"change request {change} approved"
    # the draft it also names is left alone
    assert w.state(search) == "draft"
    assert [e.trigger for e in w.domain.engine.history(search)] == ["create"]
    # and the customer confirms the revised requirement again
    w.fire(w.customer, login, "confirm")
    assert w.domain.requirements.get(login)["confirmed_by_contact_id"] == w.contact_id


class _FailAfterApproval:
    """A broken plugin: its after-transition hook raises on every approval."""

    @hookimpl
    def pmflow_after_transition(self, context: TransitionContext, event: HistoryEvent) -> None:
        if context.trigger == "approve":
            raise RuntimeError("mail server down")


def test_approval_and_revision_commit_together_or_not_at_all(world: World) -> None:
    w = world
    login = w.extra["login"]
    change = _awaiting_decision(w, [login])
    before = counts(w.domain)
    plugin = _FailAfterApproval()
    w.domain.engine.plugins.register(plugin)
    try:
        # when the approval fails after the requirement was revised inside it
        with pytest.raises(PluginError, match="mail server down"):
            w.fire(w.manager, change, "approve", payload={"rationale": "worth it"})
    finally:
        w.domain.engine.plugins.unregister(plugin)
    # then neither the approval nor the revision happened
    assert counts(w.domain) == before
    assert w.domain.change_requests.get(change)["decision"] is None
    assert w.state(change) == "awaiting_decision"
    kept = w.domain.requirements.get(login)
    assert (kept["state"], kept["confirmed_by_contact_id"]) == ("confirmed", w.contact_id)
    assert [e.trigger for e in w.domain.engine.history(login)][-1] == "confirm"
    # and once the plugin is gone the same approval goes through
    w.fire(w.manager, change, "approve", payload={"rationale": "worth it"})
    assert w.state(login) == "under_review"


def test_rejection_keeps_the_requirements_confirmed(world: World) -> None:
    w = world
    login = w.extra["login"]
    change = _awaiting_decision(w, [login])
    w.fire(w.manager, change, "reject", payload={"rationale": "out of budget this year"})
    decided = w.domain.change_requests.get(change)
    assert (decided["state"], decided["decision"]) == ("rejected", "rejected")
    assert decided["decision_rationale"] == "out of budget this year"
    assert decided["decided_by"] == w.manager.id
    assert w.state(login) == "confirmed"
    assert w.domain.requirements.get(login)["confirmed_by_contact_id"] == w.contact_id
    # a rejected change is final
    with pytest.raises(InvalidTransition, match="no trigger leaves this state"):
        w.fire(w.manager, change, "reopen")


def test_deferred_change_is_reopened_reassessed_and_decided_again(world: World) -> None:
    w = world
    login = w.extra["login"]
    change = _awaiting_decision(w, [login])

    # when the customer defers it
    w.fire(w.customer, change, "defer", payload={"rationale": "after the launch"})
    deferred = w.domain.change_requests.get(change)
    assert (deferred["state"], deferred["decision"]) == ("deferred", "deferred")
    assert deferred["decision_rationale"] == "after the launch"
    assert w.state(login) == "confirmed"  # nothing reopened by a deferral
    # then a deferred change may be re-assessed
    w.domain.change_requests.assess(w.manager, change, {"impact_cost": 900.0})
    # and reopened, assessed again and decided again
    w.fire(w.customer, change, "reopen")
    assert w.state(change) == "under_assessment"
    w.domain.change_requests.assess(w.manager, change, {"impact_schedule_days": 3})
    w.fire(w.manager, change, "submit_assessment")
    w.fire(w.manager, change, "approve", payload={"rationale": "launch is done"})
    decided = w.domain.change_requests.get(change)
    assert (decided["state"], decided["decision"]) == ("approved", "approved")
    assert decided["decision_rationale"] == "launch is done"
    assert decided["decided_by"] == w.manager.id
    assert (decided["impact_cost"], decided["impact_schedule_days"]) == (900.0, 3)
    assert w.state(login) == "under_review"
    assert [(e.trigger, e.actor_id) for e in w.domain.engine.history(change)] == [
        ("create", w.customer.id),
        ("start_assessment", w.manager.id),
        ("submit_assessment", w.manager.id),
        ("defer", w.customer.id),
        ("reopen", w.customer.id),
        ("submit_assessment", w.manager.id),
        ("approve", w.manager.id),
    ]


@pytest.mark.parametrize("trigger", ["approve", "reject", "defer"])
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (None, "payload.rationale"),
        ({}, "payload.rationale"),
        ({"reason": "typo in the key"}, "payload.rationale"),
        ({"rationale": ""}, "payload.rationale"),
        ({"rationale": 42}, "payload.rationale"),
    ],
)
def test_a_decision_needs_a_rationale(
    world: World, trigger: str, payload: dict[str, Any] | None, field: str
) -> None:
    w = world
    change = _awaiting_decision(w, [w.extra["login"]])
    version = w.version(change)
    with refused(w.domain, InvalidInput, field=field) as info:
        w.fire(w.customer, change, trigger, payload=payload)
    assert f"payload of '{trigger}'" in info.value.message
    assert "rationale" in info.value.message
    assert (w.state(change), w.version(change)) == ("awaiting_decision", version)
    assert w.domain.change_requests.get(change)["decision"] is None


def test_submit_assessment_waits_for_the_impact(world: World) -> None:
    w = world
    change = _change(w, [w.extra["login"]])
    w.fire(w.manager, change, "start_assessment")
    assert w.blocked(w.manager, change, "submit_assessment") == [
        "assess the schedule impact (days), cost impact, risk first"
    ]
    w.domain.change_requests.assess(w.manager, change, {"impact_schedule_days": 0})  # zero is an answer
    assert w.blocked(w.manager, change, "submit_assessment") == ["assess the cost impact, risk first"]
    w.domain.change_requests.assess(w.manager, change, {"impact_cost": 0, "impact_risk": ""})
    assert w.blocked(w.manager, change, "submit_assessment") == ["assess the risk first"]
    w.domain.change_requests.assess(w.manager, change, {"impact_risk": "low"})
    w.fire(w.manager, change, "submit_assessment")
    assert w.state(change) == "awaiting_decision"


def test_bad_assessments_are_refused(world: World, domain: Domain) -> None:
    w = world
    change = _change(w, [w.extra["login"]])
    with refused(domain, InvalidInput, field="impact_cost", match="greater than or equal to 0"):
        domain.change_requests.assess(w.manager, change, {"impact_cost": -5})
    with refused(domain, InvalidInput, field="impact_schedule_days"):
        domain.change_requests.assess(w.manager, change, {"impact_schedule_days": "a week"})
    with refused(
        domain, InvalidInput, field="affected_requirement_ids", match="not requirements of this project"
    ):
        domain.change_requests.assess(w.manager, change, {"affected_requirement_ids": [change]})
    with refused(domain, InvalidInput, field="affected_requirement_ids", match="cannot be empty"):
        domain.change_requests.assess(w.manager, change, {"affected_requirement_ids": None})
    with refused(domain, InvalidInput, field="decision"):
        domain.change_requests.assess(w.manager, change, {"decision": "approved"})
    with refused(domain, InvalidInput, field="state", match="only through the lifecycle"):
        domain.change_requests.assess(w.manager, change, {"state": "approved"})


@pytest.mark.parametrize(
    ("trigger", "state"), [("approve", "approved"), ("reject", "rejected"), (None, "awaiting decision")]
)
def test_the_assessment_is_frozen_once_up_for_decision(world: World, trigger: str | None, state: str) -> None:
    w = world
    change = _awaiting_decision(w, [w.extra["login"]])
    if trigger is not None:
        w.fire(w.manager, change, trigger, payload={"rationale": "decided in the steering meeting"})
    version = w.version(change)
    with refused(w.domain, InvalidInput, field="state") as info:
        w.domain.change_requests.assess(w.manager, change, {"impact_cost": 1.0})
    assert info.value.message == f"change request {change} is {state}: its assessment can no longer change"
    assert w.version(change) == version
    assert w.domain.change_requests.get(change)["impact_cost"] == IMPACT["impact_cost"]


def test_a_confirmed_requirement_changes_only_through_a_change_request(world: World) -> None:
    w = world
    login = w.extra["login"]
    version = w.version(login)
    with refused(w.domain, InvalidInput, field="state") as info:
        w.domain.requirements.update(w.manager, login, {"title": "Login with SSO"})
    assert info.value.message == (
        f"requirement {login} cannot be edited: it was confirmed by the customer: raise a change request"
    )
    assert w.version(login) == version
    assert w.domain.requirements.get(login)["title"] == "Login"
    # after an approved change it is under review again, and editable
    change = _awaiting_decision(w, [login])
    w.fire(w.customer, change, "approve", payload={"rationale": "IT policy"})
    edited = w.domain.requirements.update(w.manager, login, {"title": "Login with SSO"})
    assert (edited["title"], edited["state"]) == ("Login with SSO", "under_review")


def test_revise_is_fired_by_pmflow_not_by_a_person(world: World) -> None:
    w = world
    login = w.extra["login"]
    for actor, held in ((w.manager, "manager"), (w.customer, "customer"), (w.admin, "admin")):
        message = w.not_allowed(actor, login, "revise")
        assert message == f"'revise' is for the system role; your roles here: {held}"
    assert w.state(login) == "confirmed"
    # pmflow itself may (that is how an approval does it)
    w.fire(Actor.system_actor(), login, "revise", comment="migration")
    assert w.state(login) == "under_review"


def test_who_decides(world: World) -> None:
    w = world
    change = _awaiting_decision(w, [w.extra["login"]])
    payload = {"rationale": "no"}
    assert w.not_allowed(w.tester, change, "approve", payload=payload) == (
        "'approve' is for the customer or manager role; your roles here: tester"
    )
    globex = w.domain.customers.create(w.admin, {"name": "Globex"})
    hank = person(
        w.domain.users.create(
            w.admin,
            {"email": "hank@globex.example", "name": "Hank", "role": "customer", "customer_id": globex["id"]},
        )
    )
    assert w.not_allowed(hank, change, "reject", payload=payload).endswith("your roles here: none")
    # assessing is the team's job
    fresh = _change(w, [], title="Export to CSV")
    assert w.not_allowed(w.customer, fresh, "start_assessment") == (
        "'start_assessment' is for the analyst or manager role; your roles here: customer"
    )
    with pytest.raises(NotAllowed):
        w.fire(w.tester, change, "defer", payload=payload)
    assert w.state(change) == "awaiting_decision"


def test_a_change_request_names_things_of_its_own_project(world: World, domain: Domain) -> None:
    w = world
    globex = domain.customers.create(w.admin, {"name": "Globex"})
    hank = domain.customers.add_contact(
        w.admin, globex["id"], {"name": "Hank", "email": "hank@globex.example"}
    )
    other = domain.projects.create(w.manager, {"customer_id": globex["id"], "name": "Intranet"})
    foreign = domain.requirements.create(w.manager, other["id"], {"title": "News feed"})["id"]
    base = {"title": "x", "description": "y", "reason": "z"}
    with refused(
        domain, InvalidInput, field="requested_by_contact_id", match="not a contact of this project"
    ):
        domain.change_requests.create(
            w.manager, w.project_id, {**base, "requested_by_contact_id": hank["id"]}
        )
    with refused(
        domain, InvalidInput, field="affected_requirement_ids", match=f"not requirements.*{foreign}"
    ):
        domain.change_requests.create(
            w.manager, w.project_id, {**base, "affected_requirement_ids": [foreign]}
        )
    with refused(domain, InvalidInput, field="reason"):
        domain.change_requests.create(w.manager, w.project_id, {**base, "reason": "  "})
