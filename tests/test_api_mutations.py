"""Writing through the GraphQL API: fireTransition and the set-up mutations.

Expected failures are typed errors in the payload (``errors: [Error!]!`` with ``code``, ``message``,
``field``): never a top-level ``errors`` entry, never an HTTP 500, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api_helpers import Api, global_id, running_api


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def mutate(api: Api, mutation: str, given: dict[str, Any], *, as_: str | None = "admin") -> dict[str, Any]:
    """Run a one-field mutation with ``$input``; its payload. Refuses top-level errors and 500s."""
    result = api.gql(mutation, {"input": given}, as_=as_, status=200)
    assert "errors" not in result, f"a top-level error instead of a typed one: {result['errors']}"
    (payload,) = result["data"].values()
    assert isinstance(payload["errors"], list)
    return payload  # type: ignore[no-any-return]


def refused(api: Api, mutation: str, given: dict[str, Any], code: str, *, as_: str | None = "admin") -> Any:
    """The one typed error of a refused mutation (its result field is null)."""
    payload = mutate(api, mutation, given, as_=as_)
    assert len(payload["errors"]) == 1, payload["errors"]
    error = payload["errors"][0]
    assert error["code"] == code, error
    assert error["message"] and "Unexpected error" not in error["message"]
    assert [value for key, value in payload.items() if key != "errors"] == [None] * (len(payload) - 1)
    return error


# ---- fireTransition ---------------------------------------------------------------------------------


FIRE = """
mutation Fire($input: FireTransitionInput!) {
  fireTransition(input: $input) {
    subject {
      __typename state stateLabel version
      ... on Node { id }
      history(last: 1) { totalCount edges { node { trigger } } }
      ... on Project { customFields }
    }
    event { id eventId subjectId subjectVersion trigger fromState toState actorName comment payload }
    errors { code message field reasons }
  }
}
"""

STATE = """
query State($id: ID!) {
  node(id: $id) {
    ... on Governed { state version history(first: 100) { totalCount edges { node { trigger } } } }
  }
}
"""


def state_of(api: Api, gid: str) -> dict[str, Any]:
    node: dict[str, Any] = api.data(STATE, {"id": gid})["node"]
    return node


def fire_refused(api: Api, given: dict[str, Any], code: str, *, as_: str | None = "mia") -> Any:
    """The typed error of a refused transition; the subject did not move and gained no history."""
    before = state_of(api, given["id"]) if given["id"].startswith("UHJvamVjd") else None
    error = refused(api, FIRE, given, code, as_=as_)
    if before is not None:
        assert state_of(api, given["id"]) == before
    return error


def test_fire_transition_moves_the_subject_and_returns_the_event(api: Api) -> None:
    portal = api.project_id("portal")
    before = state_of(api, portal)
    payload = mutate(
        api,
        FIRE,
        {
            "id": portal,
            "trigger": "put_on_hold",
            "expectedVersion": before["version"],
            "comment": "Waiting for the budget",
            "payload": {"reason": "Budget review at Northwind"},
        },
        as_="mia",
    )
    assert payload["errors"] == []
    subject, event = payload["subject"], payload["event"]
    assert subject["__typename"] == "Project" and subject["id"] == portal
    assert subject["state"] == "on_hold"
    assert subject["version"] == before["version"] + 1
    assert subject["customFields"]["on_hold_reason"] == "Budget review at Northwind"
    assert subject["history"]["totalCount"] == before["history"]["totalCount"] + 1
    assert subject["history"]["edges"][-1]["node"]["trigger"] == "put_on_hold"
    assert event["trigger"] == "put_on_hold"
    assert (event["fromState"], event["toState"]) == ("execution", "on_hold")
    assert event["subjectId"] == portal and event["subjectVersion"] == subject["version"]
    assert event["actorName"] == "Mia Manager"
    assert event["comment"] == "Waiting for the budget"
    assert event["payload"] == {"reason": "Budget review at Northwind"}
    assert event["eventId"]

    # The following query sees it; and back again.
    after = state_of(api, portal)
    assert (after["state"], after["version"]) == ("on_hold", subject["version"])
    assert after["history"]["edges"][-1]["node"]["trigger"] == "put_on_hold"
    back = mutate(api, FIRE, {"id": portal, "trigger": "resume_execution"}, as_="mia")
    assert back["errors"] == [] and back["subject"]["state"] == "execution"


def test_a_customer_confirms_requirements_and_the_project_moves_on(api: Api) -> None:
    query = """
    query($id: ID!) { node(id: $id) { ... on Project { requirements(first: 100) { nodes { id state } } } } }
    """
    fleet = api.project_id("fleet")
    requirements = api.data(query, {"id": fleet}, as_="carla")["node"]["requirements"]["nodes"]
    assert {r["state"] for r in requirements} == {"under_review"}
    for requirement in requirements:
        done = mutate(api, FIRE, {"id": requirement["id"], "trigger": "confirm"}, as_="carla")
        assert done["errors"] == []
        assert done["subject"]["__typename"] == "Requirement" and done["subject"]["state"] == "confirmed"
    done = mutate(api, FIRE, {"id": fleet, "trigger": "confirm_requirements"}, as_="carla")
    assert done["errors"] == [] and done["subject"]["state"] == "execution"
    assert done["event"]["actorName"] == "Carla Northwind"


def test_guard_failed_lists_every_reason(api: Api) -> None:
    error = fire_refused(api, {"id": api.project_id("portal"), "trigger": "start_delivery"}, "GUARD_FAILED")
    assert error["reasons"], error
    assert any("still running" in reason for reason in error["reasons"])
    assert error["field"] == "trigger"


def test_guard_failed_with_a_missing_comment(api: Api) -> None:
    error = fire_refused(api, {"id": api.project_id("portal"), "trigger": "cancel"}, "GUARD_FAILED")
    assert any("comment" in reason for reason in error["reasons"])


def test_not_allowed_for_a_role_the_workflow_does_not_name(api: Api) -> None:
    given = {"id": api.project_id("portal"), "trigger": "put_on_hold", "payload": {"reason": "x"}}
    error = fire_refused(api, given, "NOT_ALLOWED", as_="carla")
    assert "manager" in error["message"]


def test_conflict_with_a_stale_expected_version(api: Api) -> None:
    portal = api.project_id("portal")
    version = state_of(api, portal)["version"]
    given = {
        "id": portal,
        "trigger": "put_on_hold",
        "payload": {"reason": "x"},
        "expectedVersion": version - 1,
    }
    error = fire_refused(api, given, "CONFLICT")
    assert error["field"] == "expectedVersion"
    assert str(version) in error["message"] and "execution" in error["message"]


def test_conflict_after_someone_else_moved_first(api: Api) -> None:
    fleet = api.project_id("fleet")
    version = state_of(api, fleet)["version"]
    first = mutate(
        api, FIRE, {"id": fleet, "trigger": "remind_customer", "expectedVersion": version}, as_="mia"
    )
    assert first["errors"] == []
    second = {"id": fleet, "trigger": "remind_customer", "expectedVersion": version}
    assert fire_refused(api, second, "CONFLICT")["field"] == "expectedVersion"


@pytest.mark.parametrize("trigger", ["close", "fly_to_the_moon"])
def test_invalid_transition_names_what_is_possible(api: Api, trigger: str) -> None:
    error = fire_refused(api, {"id": api.project_id("portal"), "trigger": trigger}, "INVALID_TRANSITION")
    assert trigger in error["message"]
    assert "start_delivery" in error["message"]  # what is possible now
    assert error["field"] == "trigger"


def test_invalid_payload_names_the_payload_field(api: Api) -> None:
    portal = api.project_id("portal")
    given = {"id": portal, "trigger": "put_on_hold", "payload": {"reason": ""}}
    error = fire_refused(api, given, "INVALID_INPUT")
    assert error["field"] == "payload.reason"
    for bad in ("just a string", [1, 2], 42):
        error = fire_refused(api, {"id": portal, "trigger": "put_on_hold", "payload": bad}, "INVALID_INPUT")
        assert error["field"] == "payload"


def test_a_missing_payload_property_is_named(api: Api) -> None:
    given = {"id": api.project_id("portal"), "trigger": "put_on_hold", "payload": {}}
    error = fire_refused(api, given, "INVALID_INPUT")
    assert "reason" in error["message"]
    assert error["field"] == "payload.reason"


def test_another_customers_subject_is_not_found_exactly_like_a_missing_one(api: Api) -> None:
    scheduling = {"id": api.project_id("scheduling"), "trigger": "close"}
    missing = {"id": global_id("Project", 999_999), "trigger": "close"}
    hidden = fire_refused(api, scheduling, "NOT_FOUND", as_="carla")
    unknown = fire_refused(api, missing, "NOT_FOUND", as_="carla")
    assert hidden == unknown
    assert hidden["field"] == "id"
    assert "Bluebird" not in hidden["message"] and "scheduling" not in hidden["message"]
    # Ben, whose project it is, gets the real answer: the trigger is the manager's.
    assert "manager" in fire_refused(api, scheduling, "NOT_ALLOWED", as_="ben")["message"]


def test_an_id_without_a_lifecycle_is_not_found(api: Api) -> None:
    for gid in (api.customer_id("northwind"), api.user_id("mia"), global_id("Meeting", 1)):
        error = fire_refused(api, {"id": gid, "trigger": "close"}, "NOT_FOUND")
        assert error["field"] == "id"


def test_a_malformed_id_is_invalid_input(api: Api) -> None:
    error = fire_refused(api, {"id": "not-an-id", "trigger": "close"}, "INVALID_INPUT")
    assert error["field"] == "id"


def test_anonymous_fire_is_a_typed_error(api: Api) -> None:
    error = fire_refused(
        api, {"id": api.project_id("portal"), "trigger": "cancel"}, "UNAUTHENTICATED", as_=None
    )
    assert "Bearer" in error["message"]


def test_a_refused_transition_leaves_no_trace(api: Api) -> None:
    portal = api.project_id("portal")
    before = state_of(api, portal)
    for given, who in (
        ({"id": portal, "trigger": "start_delivery"}, "mia"),
        ({"id": portal, "trigger": "put_on_hold", "payload": {}}, "mia"),
        ({"id": portal, "trigger": "put_on_hold", "payload": {"reason": "x"}}, "carla"),
        ({"id": portal, "trigger": "close"}, "mia"),
        ({"id": portal, "trigger": "put_on_hold", "payload": {"reason": "x"}, "expectedVersion": 1}, "mia"),
    ):
        payload = mutate(api, FIRE, given, as_=who)
        assert payload["errors"] and payload["subject"] is None and payload["event"] is None
    assert state_of(api, portal) == before


# ---- customers and contacts -------------------------------------------------------------------------


CREATE_CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name version } errors { code message field } }
}
"""
ADD_CONTACT = """
mutation($input: AddContactInput!) {
  addContact(input: $input) { contact { id name email role userId } errors { code message field } }
}
"""


def test_create_customer_and_add_a_contact(api: Api) -> None:
    created = mutate(api, CREATE_CUSTOMER, {"name": "Acme Rockets"})
    assert created["errors"] == []
    customer = created["customer"]
    assert customer["name"] == "Acme Rockets" and customer["version"] == 1
    added = mutate(
        api,
        ADD_CONTACT,
        {"customerId": customer["id"], "name": "Wile", "email": "wile@acme.example", "role": "CTO"},
        as_="mia",
    )
    assert added["errors"] == []
    contact = added["contact"]
    assert (contact["name"], contact["email"], contact["role"], contact["userId"]) == (
        "Wile",
        "wile@acme.example",
        "CTO",
        None,
    )
    query = "query($id: ID!) { node(id: $id) { ... on Customer { name contacts { id name } } } }"
    seen = api.data(query, {"id": customer["id"]})["node"]
    assert seen == {"name": "Acme Rockets", "contacts": [{"id": contact["id"], "name": "Wile"}]}
    names = [c["name"] for c in api.data("{ customers { name } }")["customers"]]
    assert "Acme Rockets" in names


def test_create_customer_refusals(api: Api) -> None:
    error = refused(api, CREATE_CUSTOMER, {"name": "Northwind Logistics"}, "INVALID_INPUT")
    assert error["field"] == "name" and "already exists" in error["message"]
    assert refused(api, CREATE_CUSTOMER, {"name": ""}, "INVALID_INPUT")["field"] == "name"
    refused(api, CREATE_CUSTOMER, {"name": "Carla's own"}, "NOT_ALLOWED", as_="carla")
    refused(api, CREATE_CUSTOMER, {"name": "Nobody's"}, "UNAUTHENTICATED", as_=None)
    assert len(api.data("{ customers { name } }")["customers"]) == 2


def test_add_contact_refusals(api: Api) -> None:
    northwind = api.customer_id("northwind")
    error = refused(
        api, ADD_CONTACT, {"customerId": northwind, "name": "X", "email": "nope"}, "INVALID_INPUT"
    )
    assert error["field"] == "email"
    given = {"customerId": api.project_id("portal"), "name": "X", "email": "x@example.com"}
    assert refused(api, ADD_CONTACT, given, "INVALID_INPUT")["field"] == "customerId"
    given = {"customerId": global_id("Customer", 999), "name": "X", "email": "x@example.com"}
    refused(api, ADD_CONTACT, given, "NOT_FOUND")
    given = {"customerId": northwind, "name": "X", "email": "x@example.com"}
    refused(api, ADD_CONTACT, given, "NOT_ALLOWED", as_="carla")
    query = "query($id: ID!) { node(id: $id) { ... on Customer { contacts { name } } } }"
    assert len(api.data(query, {"id": northwind})["node"]["contacts"]) == 2


def test_add_contact_to_an_unknown_customer_names_customer_id(api: Api) -> None:
    given = {"customerId": global_id("Customer", 999), "name": "X", "email": "x@example.com"}
    assert refused(api, ADD_CONTACT, given, "NOT_FOUND")["field"] == "customerId"


# ---- projects -----------------------------------------------------------------------------------------


CREATE_PROJECT = """
mutation($input: CreateProjectInput!) {
  createProject(input: $input) {
    project {
      id name goal state version customFields startDate targetDate milestones { name due }
      customer { name } members { role user { name } }
    }
    errors { code message field }
  }
}
"""
UPDATE_PROJECT = """
mutation($input: UpdateProjectInput!) {
  updateProject(input: $input) {
    project { id name goal scope version customFields milestones { name due } }
    errors { code message field }
  }
}
"""
ADD_MEMBER = """
mutation($input: AddProjectMemberInput!) {
  addProjectMember(input: $input) { membership { id role user { id name } } errors { code message field } }
}
"""
COUNT = "{ projects(first: 100) { totalCount } }"


def new_project(api: Api, name: str = "Warehouse app") -> str:
    """A Northwind project made by Mia through the services (createProject itself is tested below)."""
    row = api.domain.projects.create(
        api.actor("mia"), {"customer_id": api.demo.customers["northwind"], "name": name}
    )
    return global_id("Project", row["id"])


def test_create_project(api: Api) -> None:
    given = {
        "customerId": api.customer_id("northwind"),
        "name": "Warehouse app",
        "goal": "Scan every pallet",
        "startDate": "2026-01-05",
        "targetDate": "2026-06-01",
        "milestones": [{"name": "Beta", "due": "2026-03-01"}],
        "customFields": {"budget": 5000, "contract_reference": "NW-1"},
    }
    payload = mutate(api, CREATE_PROJECT, given, as_="mia")
    assert payload["errors"] == []
    project = payload["project"]
    assert (project["name"], project["state"], project["version"]) == ("Warehouse app", "initiation", 1)
    assert project["customFields"] == {"budget": 5000, "contract_reference": "NW-1"}
    assert project["milestones"] == [{"name": "Beta", "due": "2026-03-01"}]
    assert project["customer"]["name"] == "Northwind Logistics"
    assert {"role": "manager", "user": {"name": "Mia Manager"}} in project["members"]
    assert api.data(COUNT)["projects"]["totalCount"] == 4
    query = "query($id: ID!) { node(id: $id) { ... on Project { name goal } } }"
    assert api.data(query, {"id": project["id"]}, as_="carla")["node"]["name"] == "Warehouse app"


def test_create_project_refusals(api: Api) -> None:
    northwind = api.customer_id("northwind")
    error = refused(api, CREATE_PROJECT, {"customerId": northwind, "name": "X"}, "NOT_ALLOWED", as_="carla")
    assert "team" in error["message"]
    error = refused(
        api,
        CREATE_PROJECT,
        {"customerId": northwind, "name": "X", "customFields": {"colour": "red"}},
        "INVALID_INPUT",
        as_="mia",
    )
    assert "colour" in error["message"] and "budget" in error["message"]
    given = {"customerId": northwind, "name": "X", "customFields": {"budget": -1}}
    assert "budget" in refused(api, CREATE_PROJECT, given, "INVALID_INPUT", as_="mia")["message"]
    given = {"customerId": northwind, "name": "X", "startDate": "2026-06-01", "targetDate": "2026-01-01"}
    assert refused(api, CREATE_PROJECT, given, "INVALID_INPUT", as_="mia")["field"] == "targetDate"
    given = {"customerId": global_id("Customer", 999), "name": "X"}
    assert refused(api, CREATE_PROJECT, given, "NOT_FOUND", as_="mia")["field"] == "customerId"
    given = {"customerId": northwind, "name": ""}
    assert refused(api, CREATE_PROJECT, given, "INVALID_INPUT", as_="mia")["field"] == "name"
    refused(api, CREATE_PROJECT, {"customerId": northwind, "name": "X"}, "UNAUTHENTICATED", as_=None)
    assert api.data(COUNT)["projects"]["totalCount"] == 3


def test_an_unknown_custom_field_names_the_input_field(api: Api) -> None:
    given = {"customerId": api.customer_id("northwind"), "name": "X", "customFields": {"colour": "red"}}
    error = refused(api, CREATE_PROJECT, given, "INVALID_INPUT", as_="mia")
    assert error["field"] in ("customFields", "customFields.colour")


def test_update_project(api: Api) -> None:
    project = new_project(api)
    payload = mutate(
        api,
        UPDATE_PROJECT,
        {
            "id": project,
            "expectedVersion": 1,
            "name": "Warehouse scanning",
            "goal": "Every pallet scanned",
            "milestones": [{"name": "Pilot", "due": "2026-04-01"}],
            "customFields": {"budget": 12000},
        },
        as_="mia",
    )
    assert payload["errors"] == []
    updated = payload["project"]
    assert updated["name"] == "Warehouse scanning" and updated["goal"] == "Every pallet scanned"
    assert updated["version"] == 2
    assert updated["customFields"] == {"budget": 12000}
    assert updated["milestones"] == [{"name": "Pilot", "due": "2026-04-01"}]
    # Only what was given changes.
    again = mutate(api, UPDATE_PROJECT, {"id": project, "scope": "Two depots"}, as_="mia")["project"]
    assert (again["name"], again["goal"], again["scope"]) == (
        "Warehouse scanning",
        "Every pallet scanned",
        "Two depots",
    )
    seen = api.data(
        "query($id: ID!) { node(id: $id) { ... on Project { name scope version customFields } } }",
        {"id": project},
    )["node"]
    assert seen == {
        "name": "Warehouse scanning",
        "scope": "Two depots",
        "version": 3,
        "customFields": {"budget": 12000},
    }


def test_update_project_refusals(api: Api) -> None:
    project = new_project(api)
    mutate(api, UPDATE_PROJECT, {"id": project, "name": "v2"}, as_="mia")
    error = refused(
        api, UPDATE_PROJECT, {"id": project, "name": "v3", "expectedVersion": 1}, "CONFLICT", as_="mia"
    )
    assert error["field"] == "expectedVersion"
    error = refused(
        api, UPDATE_PROJECT, {"id": project, "customFields": {"nope": 1}}, "INVALID_INPUT", as_="mia"
    )
    assert "nope" in error["message"]
    assert (
        refused(api, UPDATE_PROJECT, {"id": project, "name": None}, "INVALID_INPUT", as_="mia")["field"]
        == "name"
    )
    refused(api, UPDATE_PROJECT, {"id": project, "name": "mine"}, "NOT_ALLOWED", as_="carla")
    assert (
        refused(api, UPDATE_PROJECT, {"id": api.customer_id("northwind"), "name": "x"}, "INVALID_INPUT")[
            "field"
        ]
        == "id"
    )
    seen = api.data("query($id: ID!) { node(id: $id) { ... on Project { name version } } }", {"id": project})
    assert seen["node"] == {"name": "v2", "version": 2}


def test_add_project_member(api: Api) -> None:
    project = new_project(api)
    payload = mutate(
        api, ADD_MEMBER, {"projectId": project, "userId": api.user_id("sam"), "role": "analyst"}, as_="mia"
    )
    assert payload["errors"] == []
    membership = payload["membership"]
    assert membership["role"] == "analyst"
    assert membership["user"] == {"id": api.user_id("sam"), "name": "Sam Analyst"}
    given = {"projectId": project, "userId": api.user_id("carla"), "role": "customer_representative"}
    assert mutate(api, ADD_MEMBER, given, as_="mia")["errors"] == []
    query = "query($id: ID!) { node(id: $id) { ... on Project { members { role user { name } } } } }"
    members = api.data(query, {"id": project})["node"]["members"]
    assert {"role": "analyst", "user": {"name": "Sam Analyst"}} in members
    assert {"role": "customer_representative", "user": {"name": "Carla Northwind"}} in members
    # Sam, now the analyst, may ask the customer to confirm (once there are requirements).
    options = api.data(
        "query($id: ID!) { node(id: $id) { ... on Governed { availableTransitions { trigger } } } }",
        {"id": project},
    )["node"]["availableTransitions"]
    assert options


def test_add_project_member_refusals(api: Api) -> None:
    project = new_project(api)
    given = {"projectId": project, "userId": api.user_id("sam"), "role": "astronaut"}
    assert refused(api, ADD_MEMBER, given, "INVALID_INPUT", as_="mia")["field"] == "role"
    given = {"projectId": project, "userId": api.user_id("ben"), "role": "customer_representative"}
    assert refused(api, ADD_MEMBER, given, "INVALID_INPUT", as_="mia")["field"] == "userId"
    given = {"projectId": project, "userId": api.user_id("sam"), "role": "analyst"}
    refused(api, ADD_MEMBER, given, "NOT_ALLOWED", as_="carla")
    given = {"projectId": project, "userId": global_id("User", 999), "role": "analyst"}
    assert refused(api, ADD_MEMBER, given, "NOT_FOUND", as_="mia")["field"] == "userId"


# ---- requirements -------------------------------------------------------------------------------------


CREATE_REQUIREMENT = """
mutation($input: CreateRequirementInput!) {
  createRequirement(input: $input) {
    requirement { id title description priority acceptanceCriteria source state version project { id } }
    errors { code message field }
  }
}
"""
UPDATE_REQUIREMENT = """
mutation($input: UpdateRequirementInput!) {
  updateRequirement(input: $input) {
    requirement { id title description priority acceptanceCriteria source state version }
    errors { code message field }
  }
}
"""


def new_requirement(api: Api, project: str = "fleet", title: str = "Fuel level per truck") -> str:
    row = api.domain.requirements.create(api.actor("mia"), api.demo.projects[project], {"title": title})
    return global_id("Requirement", row["id"])


def test_create_requirement(api: Api) -> None:
    fleet = api.project_id("fleet")
    given = {
        "projectId": fleet,
        "title": "Fuel level per truck",
        "priority": "high",
        "acceptanceCriteria": ["Shown on the map"],
        "source": "workshop",
    }
    payload = mutate(api, CREATE_REQUIREMENT, given, as_="mia")
    assert payload["errors"] == []
    requirement = payload["requirement"]
    assert (requirement["state"], requirement["version"], requirement["priority"]) == ("draft", 1, "high")
    assert requirement["acceptanceCriteria"] == ["Shown on the map"]
    assert requirement["project"]["id"] == fleet
    query = "query($id: ID!) { node(id: $id) { ... on Project { requirements(first: 100) { totalCount } } } }"
    assert api.data(query, {"id": fleet})["node"]["requirements"]["totalCount"] == 3


def test_create_requirement_refusals(api: Api) -> None:
    fleet = api.project_id("fleet")
    given = {"projectId": fleet, "title": "X", "priority": "urgent"}
    assert refused(api, CREATE_REQUIREMENT, given, "INVALID_INPUT", as_="mia")["field"] == "priority"
    given = {"projectId": fleet, "title": ""}
    assert refused(api, CREATE_REQUIREMENT, given, "INVALID_INPUT", as_="mia")["field"] == "title"
    given = {"projectId": api.project_id("scheduling"), "title": "Peek"}
    assert refused(api, CREATE_REQUIREMENT, given, "NOT_FOUND", as_="carla")["field"] == "projectId"
    given = {"projectId": api.customer_id("northwind"), "title": "X"}
    assert refused(api, CREATE_REQUIREMENT, given, "INVALID_INPUT", as_="mia")["field"] == "projectId"
    refused(api, CREATE_REQUIREMENT, {"projectId": fleet, "title": "X"}, "UNAUTHENTICATED", as_=None)
    query = "query($id: ID!) { node(id: $id) { ... on Project { requirements(first: 100) { totalCount } } } }"
    assert api.data(query, {"id": fleet})["node"]["requirements"]["totalCount"] == 2


def test_update_requirement(api: Api) -> None:
    requirement = new_requirement(api)
    given = {
        "id": requirement,
        "expectedVersion": 1,
        "title": "Fuel level and range per truck",
        "priority": "critical",
        "acceptanceCriteria": ["Shown on the map", "Alert below 10%"],
    }
    payload = mutate(api, UPDATE_REQUIREMENT, given, as_="mia")
    assert payload["errors"] == []
    updated = payload["requirement"]
    assert updated["title"] == "Fuel level and range per truck"
    assert (updated["priority"], updated["version"], updated["state"]) == ("critical", 2, "draft")
    seen = api.data(
        "query($id: ID!) { node(id: $id) { ... on Requirement { title priority acceptanceCriteria } } }",
        {"id": requirement},
    )["node"]
    assert seen == {
        "title": "Fuel level and range per truck",
        "priority": "critical",
        "acceptanceCriteria": ["Shown on the map", "Alert below 10%"],
    }


def test_update_requirement_refusals(api: Api) -> None:
    confirmed = api.data(
        "query($id: ID!) { node(id: $id) { ... on Project { requirements(first: 100) "
        "{ nodes { id state } } } } }",
        {"id": api.project_id("portal")},
    )["node"]["requirements"]["nodes"][0]
    assert confirmed["state"] == "confirmed"
    error = refused(
        api,
        UPDATE_REQUIREMENT,
        {"id": confirmed["id"], "title": "Quietly different"},
        "INVALID_INPUT",
        as_="mia",
    )
    assert "change request" in error["message"]

    requirement = new_requirement(api)
    mutate(api, UPDATE_REQUIREMENT, {"id": requirement, "title": "v2"}, as_="mia")
    given = {"id": requirement, "title": "v3", "expectedVersion": 1}
    assert refused(api, UPDATE_REQUIREMENT, given, "CONFLICT", as_="mia")["field"] == "expectedVersion"
    given = {"id": requirement, "priority": "urgent"}
    assert refused(api, UPDATE_REQUIREMENT, given, "INVALID_INPUT", as_="mia")["field"] == "priority"
    bluebird = api.data(
        "query($id: ID!) { node(id: $id) { ... on Project { requirements(first: 100) { nodes { id } } } } }",
        {"id": api.project_id("scheduling")},
    )["node"]["requirements"]["nodes"][0]["id"]
    hidden = refused(api, UPDATE_REQUIREMENT, {"id": bluebird, "title": "x"}, "NOT_FOUND", as_="carla")
    missing = refused(
        api,
        UPDATE_REQUIREMENT,
        {"id": global_id("Requirement", 99_999), "title": "x"},
        "NOT_FOUND",
        as_="carla",
    )
    assert hidden == missing
    seen = api.data(
        "query($id: ID!) { node(id: $id) { ... on Requirement { title version } } }", {"id": requirement}
    )
    assert seen["node"] == {"title": "v2", "version": 2}
