"""The authorization matrix: every Query and Mutation field of the schema, run as every kind of viewer,
is allowed or denied exactly as ``pmflow.api.access.ROOT_RULES`` declares.

Viewers: admin, a manager (mia), a member of the project (sam, analyst on every demo project), the
project's customer (carla, Northwind), another customer (ben, Bluebird), anonymous. Each field has a
sample request below aimed at Northwind's projects (or at nothing in particular); what a
viewer gets back is one of:

- ``allowed``: the access checks let it through (a mutation may still fail on its data, e.g.
  INVALID_INPUT or INVALID_TRANSITION: that is not an access decision);
- ``hidden``: a query answered, but without the project's object (null, or absent from a list);
- ``UNAUTHENTICATED``, ``NOT_ALLOWED``, ``NOT_FOUND``: the error code of the refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, build_schema

from api_helpers import Api, global_id, ids_in_project, running_api
from pmflow.api.access import INTERNAL, ROOT_RULES, RULE_MEANING, Rule
from pmflow.api.notifications import store as notifications
from pmflow.api.schema import build_schema as build_code_schema
from pmflow.core.tables import deliveries, outbox
from pmflow.domain.identity import issue_token
from test_surveys import open_survey

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("admin", "manager", "member", "customer", "other_customer", "anonymous")
SIGN_IN = {
    "admin": "admin",
    "manager": "mia",
    "member": "sam",
    "customer": "carla",
    "other_customer": "ben",
    "anonymous": None,
}
REFUSALS = ("UNAUTHENTICATED", "NOT_ALLOWED", "NOT_FOUND")

Variables = Callable[[Api, dict[str, list[str]], str], dict[str, Any]]
Found = Callable[[Api, Any], bool]


@dataclass(frozen=True)
class Sample:
    """A minimal request for one root field. ``scoped``: it targets a Northwind project (or something
    in one), so who may see that project matters; ``found`` says whether a query's answer holds it."""

    document: str
    variables: Variables = lambda api, ids, role: {}
    scoped: bool = False
    found: Found = lambda api, value: value is not None


def _first(type_name: str) -> Variables:
    return lambda api, ids, role: {"id": ids[type_name][0]}


def _portal(**more: Any) -> Variables:
    return lambda api, ids, role: {"projectId": api.project_id("portal"), **more}


def _own_token(api: Api, ids: dict[str, list[str]], role: str) -> dict[str, Any]:
    user = SIGN_IN[role]
    if user is None:
        return {"id": global_id("ApiToken", 1)}
    issued = issue_token(api.built.engine, api.demo.users[user], name="matrix")
    return {"id": global_id("ApiToken", issued.id)}


def _own_webhook(api: Api, ids: dict[str, list[str]], role: str) -> dict[str, Any]:
    """A webhook to delete, a fresh one per call (the admin's call deletes it)."""
    built = api.built
    row = notifications.create_webhook(
        built.database,
        built.registry,
        url="http://127.0.0.1:9/matrix",
        secret="matrix",
        events=["*"],
        created_by=None,
        now=built.engine.clock(),
    )
    return {"id": global_id("Webhook", row.id)}


def _dead_delivery(api: Api, ids: dict[str, list[str]], role: str) -> dict[str, Any]:
    """A dead delivery to retry, a fresh one per call (the admin's call makes it pending)."""
    now = api.built.engine.clock()
    row = {"event_id": "matrix", "subject_id": 1, "topic": "matrix", "payload": {}, "attempts": 1}
    with api.built.database.write() as conn:
        outbox_id = conn.execute(
            outbox.insert().returning(outbox.c.id),
            {**row, "status": "dead", "available_at": now, "created_at": now},
        ).scalar_one()
        delivery_id = conn.execute(
            deliveries.insert().returning(deliveries.c.id),
            {
                "outbox_id": outbox_id,
                "event_id": "matrix",
                "consumer": "matrix",
                "status": "dead",
                "attempts": 1,
                "next_attempt_at": now,
                "created_at": now,
            },
        ).scalar_one()
    return {"id": global_id("Delivery", delivery_id)}


def _portal_with_survey(api: Api, ids: dict[str, list[str]], role: str) -> dict[str, Any]:
    """Portal, with a survey sent (the demo's surveys are not, without the worker)."""
    open_survey(api)
    return {"projectId": api.project_id("portal")}


def _mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ errors {{ code message }} }} }}"


QUERIES: dict[str, Sample] = {
    "viewer": Sample("{ viewer { id } }"),
    "node": Sample(
        "query($id: ID!) { node(id: $id) { id } }",
        lambda api, ids, role: {"id": api.project_id("portal")},
        scoped=True,
    ),
    "nodes": Sample(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        lambda api, ids, role: {"ids": [api.project_id("portal")]},
        scoped=True,
        found=lambda api, value: value[0] is not None,
    ),
    "projects": Sample(
        "{ projects(first: 100) { nodes { id } } }",
        scoped=True,
        found=lambda api, value: api.project_id("portal") in [n["id"] for n in value["nodes"]],
    ),
    "customers": Sample(
        "{ customers { id } }",
        scoped=True,
        found=lambda api, value: api.customer_id("northwind") in [c["id"] for c in value],
    ),
    "workflows": Sample("{ workflows { name } }", found=lambda api, value: bool(value)),
    "users": Sample("{ users(first: 10) { totalCount } }"),
    "webhooks": Sample("{ webhooks { id } }"),
    "deliveries": Sample("{ deliveries(first: 10) { totalCount } }"),
    "notifications": Sample("{ notifications(first: 10) { totalCount } }"),
    "unreadNotificationCount": Sample("{ unreadNotificationCount }"),
    "notificationPreferences": Sample("{ notificationPreferences { id } }"),
    # surveys: a one-time token opens its form to anyone; a project's surveys follow its visibility
    "surveyInvitation": Sample(
        "query($token: String!) { surveyInvitation(token: $token) { surveyId } }",
        lambda api, ids, role: {"token": open_survey(api)[1]},
    ),
    "pendingSurveys": Sample("{ pendingSurveys { surveyId } }"),
    "surveys": Sample(
        "query($projectId: ID!) { surveys(projectId: $projectId, first: 10) { totalCount } }",
        _portal_with_survey,
        scoped=True,
        found=lambda api, value: value["totalCount"] > 0,
    ),
    "surveyResults": Sample(
        "query($projectId: ID) { surveyResults(projectId: $projectId) { invited } }", _portal(), scoped=True
    ),
}

MUTATIONS: dict[str, tuple[str, Variables, bool]] = {
    # name: (input type, input, scoped)
    "fireTransition": (
        "FireTransitionInput",
        lambda api, ids, role: {"id": api.project_id("portal"), "trigger": "no_such_trigger"},
        True,
    ),
    "createCustomer": ("CreateCustomerInput", lambda api, ids, role: {"name": f"Matrix {role}"}, False),
    "addContact": (
        "AddContactInput",
        lambda api, ids, role: {
            "customerId": api.customer_id("northwind"),
            "name": "Matrix",
            "email": f"{role}@matrix.example",
        },
        False,
    ),
    "createProject": (
        "CreateProjectInput",
        lambda api, ids, role: {"customerId": api.customer_id("northwind"), "name": f"Matrix {role}"},
        False,
    ),
    "updateProject": ("UpdateProjectInput", lambda api, ids, role: {"id": api.project_id("portal")}, True),
    "addProjectMember": (
        "AddProjectMemberInput",
        lambda api, ids, role: {
            "projectId": api.project_id("portal"),
            "userId": api.user_id("sam"),
            "role": "analyst",
        },
        True,
    ),
    "createRequirement": ("CreateRequirementInput", _portal(title="Matrix"), True),
    "updateRequirement": ("UpdateRequirementInput", _first("Requirement"), True),
    "createChangeRequest": (
        "CreateChangeRequestInput",
        _portal(title="Matrix", description="What", reason="Why"),
        True,
    ),
    "assessChangeRequest": ("AssessChangeRequestInput", _first("ChangeRequest"), True),
    "planIteration": (
        "PlanIterationInput",
        _portal(goal="Matrix", startDate="2027-01-04", endDate="2027-01-12"),
        True,
    ),
    "updateIteration": ("UpdateIterationInput", _first("Iteration"), True),
    "createWorkItem": ("CreateWorkItemInput", _portal(title="Matrix"), True),
    "updateWorkItem": ("UpdateWorkItemInput", _first("WorkItem"), True),
    "recordMeeting": ("RecordMeetingInput", _portal(kind="demo", heldOn="2027-01-05"), True),
    "recordFeedback": ("RecordFeedbackInput", _portal(text="Matrix"), True),
    "createDeliverable": ("CreateDeliverableInput", _portal(title="Matrix", kind="document"), True),
    "updateDeliverable": ("UpdateDeliverableInput", _first("Deliverable"), True),
    "createRisk": ("CreateRiskInput", _portal(title="Matrix"), True),
    "updateRisk": ("UpdateRiskInput", _first("Risk"), True),
    "createUser": (
        "CreateUserInput",
        lambda api, ids, role: {"email": f"{role}@pmflow.example", "name": role, "role": "member"},
        False,
    ),
    "createToken": ("CreateTokenInput", lambda api, ids, role: {"name": "matrix"}, False),
    "createUserToken": (
        "CreateUserTokenInput",
        lambda api, ids, role: {"userId": api.user_id("tess"), "name": "matrix"},
        False,
    ),
    "revokeToken": ("RevokeTokenInput", _own_token, False),
    "updateUser": ("UpdateUserInput", lambda api, ids, role: {"id": api.user_id("tess")}, False),
    "createWebhook": (
        "CreateWebhookInput",
        lambda api, ids, role: {"url": "http://127.0.0.1:9/matrix", "secret": "matrix", "events": ["*"]},
        False,
    ),
    "deleteWebhook": ("DeleteWebhookInput", _own_webhook, False),
    "retryDelivery": ("RetryDeliveryInput", _dead_delivery, False),
    "markNotificationsRead": ("MarkNotificationsReadInput", lambda api, ids, role: {"all": True}, False),
    "setNotificationPreference": (
        "SetNotificationPreferenceInput",
        lambda api, ids, role: {"eventType": "*", "channel": "in_app", "enabled": True},
        False,
    ),
    # a made-up token: refused as INVALID_TOKEN, which is not an access decision
    "answerSurvey": ("AnswerSurveyInput", lambda api, ids, role: {"token": "matrix", "answers": []}, False),
}


def expected(rule: Rule, root: str, scoped: bool, role: str) -> str:
    """What the declaration promises ``role`` for a sample (see the module docstring)."""
    if rule == "public":
        return "allowed"
    if role == "anonymous":
        return "UNAUTHENTICATED"
    customer = role in ("customer", "other_customer")
    if (
        (rule == "admin" and role != "admin")
        or (rule == "manager" and role not in ("admin", "manager"))
        or (rule == "team" and customer)
    ):
        return "NOT_ALLOWED"
    if scoped and role == "other_customer":  # sees nothing of Northwind's: as if it did not exist
        return "NOT_FOUND" if root == "Mutation" else "hidden"
    return "allowed"


def northwinds(api: Api) -> dict[str, list[str]]:
    """Ids of everything in Northwind's projects, portal's first, with a deliverable (the demo's
    Northwind projects have none yet)."""
    portal = api.demo.projects["portal"]
    api.domain.deliverables.create(api.actor("mia"), portal, {"title": "Handbook", "kind": "document"})
    ids = ids_in_project(api, "portal")
    for type_name, more in ids_in_project(api, "fleet").items():
        ids[type_name] = ids[type_name] + more
    return ids


def observed_query(api: Api, name: str, sample: Sample, ids: dict[str, list[str]], role: str) -> str:
    result = api.gql(sample.document, sample.variables(api, ids, role), as_=SIGN_IN[role])
    errors = result.get("errors") or []
    if errors:
        return str((errors[0].get("extensions") or {}).get("code"))
    return "allowed" if sample.found(api, result["data"][name]) else "hidden"


def observed_mutation(api: Api, name: str, ids: dict[str, list[str]], role: str) -> str:
    input_type, variables, _ = MUTATIONS[name]
    result = api.gql(_mutation(name, input_type), {"input": variables(api, ids, role)}, as_=SIGN_IN[role])
    assert not result.get("errors"), (name, role, result["errors"])
    codes = [e["code"] for e in result["data"][name]["errors"]]
    refused = [c for c in codes if c in REFUSALS]
    return refused[0] if refused else "allowed"


def schema_fields(root: str) -> list[str]:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    code = build_code_schema()._schema
    # the committed SDL and the live schema (drift has its own test; a field in either needs a rule)
    found = set()
    for each in (schema, code):
        root_type = each.get_type(root)
        assert isinstance(root_type, GraphQLObjectType)
        found |= set(root_type.fields)
    return sorted(found)


@pytest.mark.parametrize("root", ["Query", "Mutation", "Subscription"])
def test_every_root_field_has_a_declared_rule(root: str) -> None:
    missing = [f for f in schema_fields(root) if f not in ROOT_RULES[root]]
    assert not missing, (
        f"{root} fields without an access rule: {', '.join(missing)} — declare one in "
        "src/pmflow/api/access.py ROOT_RULES (and a sample request in tests/test_api_access_matrix.py)"
    )
    assert set(ROOT_RULES[root].values()) <= set(RULE_MEANING)


@pytest.mark.parametrize("root", ["Query", "Mutation"])
def test_every_root_field_has_a_sample_request(root: str) -> None:
    samples = QUERIES if root == "Query" else MUTATIONS
    missing = [f for f in schema_fields(root) if f not in samples]
    assert not missing, f"{root} fields without a sample in tests/test_api_access_matrix.py: {missing}"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def test_the_matrix_holds_for_every_field_and_role(api: Api) -> None:
    ids = northwinds(api)
    wrong = []
    for name in schema_fields("Query"):
        sample = QUERIES[name]
        for role in ROLES:
            want = expected(ROOT_RULES["Query"][name], "Query", sample.scoped, role)
            got = observed_query(api, name, sample, ids, role)
            if got != want:
                wrong.append(f"Query.{name} as {role}: expected {want}, got {got}")
    for name in schema_fields("Mutation"):
        scoped = MUTATIONS[name][2]
        for role in ROLES:
            want = expected(ROOT_RULES["Mutation"][name], "Mutation", scoped, role)
            got = observed_mutation(api, name, ids, role)
            if got != want:
                wrong.append(f"Mutation.{name} as {role}: expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_a_member_sees_and_acts_only_on_their_projects(api: Api) -> None:
    """Sam is a member of the demo projects, not of a new one; managers and its customer see it."""
    created = api.domain.projects.create(
        api.actor("mia"), {"customer_id": api.demo.customers["northwind"], "name": "Skunkworks"}
    )
    hidden = global_id("Project", created["id"])
    unknown = global_id("Project", 999_999)
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert api.gql(node, {"id": hidden}, as_="sam") == api.gql(node, {"id": unknown}, as_="sam")
    assert api.data(node, {"id": hidden}, as_="sam") == {"node": None}
    for viewer in ("admin", "mia", "carla"):
        assert api.data(node, {"id": hidden}, as_=viewer)["node"] == {"id": hidden}, viewer
    listed = "{ projects(first: 100) { totalCount nodes { name } } }"
    sams = api.data(listed, as_="sam")["projects"]
    assert "Skunkworks" not in [p["name"] for p in sams["nodes"]]
    assert sams["totalCount"] == 3
    assert api.data(listed, as_="mia")["projects"]["totalCount"] == 4
    nested = "query($id: ID!) { node(id: $id) { ... on Customer { projects(first: 100) { totalCount } } } }"
    northwind = {"id": api.customer_id("northwind")}
    assert api.data(nested, northwind, as_="sam")["node"]["projects"]["totalCount"] == 2
    assert api.data(nested, northwind, as_="mia")["node"]["projects"]["totalCount"] == 3
    # subscribing and acting answer exactly as for a project that does not exist
    assert subscription_answer(api, "sam", hidden) == subscription_answer(api, "sam", unknown)
    assert subscription_answer(api, "sam", hidden)["type"] in ("next", "error")
    create = _mutation("createRisk", "CreateRiskInput")
    on_hidden = api.data(create, {"input": {"projectId": hidden, "title": "x"}}, as_="sam")
    on_unknown = api.data(create, {"input": {"projectId": unknown, "title": "x"}}, as_="sam")
    assert on_hidden == on_unknown
    assert on_hidden["createRisk"]["errors"][0]["code"] == "NOT_FOUND"
    assert api.data(create, {"input": {"projectId": hidden, "title": "x"}}, as_="mia")["createRisk"] == {
        "errors": []
    }


def subscription_answer(api: Api, who: str, project_id: str) -> dict[str, Any]:
    """The first message after subscribing to a project's events (a refusal comes at once)."""
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens[who]}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        query = "subscription($p: ID!) { events(projectId: $p) { trigger } }"
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"p": project_id}}}
        )
        answer: dict[str, Any] = ws.receive_json()
        return answer


def test_available_transitions_follow_the_workflow_roles_per_viewer(api: Api) -> None:
    """The same requirement under the customer's review: only the customer may confirm it."""
    query = """query($id: ID!) { node(id: $id) { ... on Project {
      requirements(state: ["under_review"], first: 1) { nodes { availableTransitions { trigger allowed } } }
    } } }"""

    def confirm(viewer: str) -> bool:
        node = api.data(query, {"id": api.project_id("fleet")}, as_=viewer)["node"]
        options = node["requirements"]["nodes"][0]["availableTransitions"]
        return next(o["allowed"] for o in options if o["trigger"] == "confirm")

    assert confirm("carla") is True
    assert confirm("mia") is False
    assert confirm("sam") is False


def test_security_doc_lists_every_rule_and_internal_field() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    assert "## Who sees and does what" in doc
    for root, rules in ROOT_RULES.items():
        for name, rule in rules.items():
            assert f"| `{root}.{name}` | `{rule}` |" in doc, (
                f"docs/security.md lacks the row of {root}.{name}"
            )
    for type_name, internal in INTERNAL.items():
        for field in internal.graphql_fields:
            assert f"`{type_name}.{field}`" in doc, f"docs/security.md does not list {type_name}.{field}"


def test_internal_fields_are_nullable_and_say_so() -> None:
    schema = build_code_schema()._schema
    for type_name, internal in INTERNAL.items():
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType), type_name
        for field in internal.graphql_fields:
            found = graphql_type.fields[field]
            assert not isinstance(found.type, GraphQLNonNull), f"{type_name}.{field} must be nullable"
            assert "Team only" in (found.description or ""), f"{type_name}.{field}: say 'Team only'"
