"""Internal data (``pmflow.api.access.INTERNAL``) is null for customer users and there for the team:
risk notes, internal QA, workload, team meetings' notes, team accounts' contact details, and the
comments of risk transitions — each field checked as the project's customer (carla) and as the team."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from api_helpers import Api, app_state, global_id, running_api
from pmflow.api.access import INTERNAL
from test_surveys import ANSWER, open_survey


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def mutate(api: Api, name: str, input_type: str, given: dict[str, Any], selection: str) -> Any:
    document = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} errors {{ message }} }} }}"
    )
    payload = api.data(document, {"input": given}, as_="mia")[name]
    assert payload["errors"] == [], payload["errors"]
    return payload


def node(api: Api, gid: str, fragment: str, as_: str) -> Any:
    return api.data(f"query($id: ID!) {{ node(id: $id) {{ {fragment} }} }}", {"id": gid}, as_=as_)["node"]


def seen_by(api: Api, gid: str, type_name: str, fields: tuple[str, ...]) -> tuple[Any, Any]:
    """What the team (mia, sam) and the customer (carla) see of ``fields``; sam and mia agree."""
    fragment = f"... on {type_name} {{ {' '.join(fields)} }}"
    team = node(api, gid, fragment, "mia")
    assert node(api, gid, fragment, "sam") == team
    return team, node(api, gid, fragment, "carla")


def assert_hidden_from_customers(
    team: dict[str, Any], customer: dict[str, Any], fields: tuple[str, ...]
) -> None:
    for field in fields:
        assert team[field] not in (None, []), f"the team should see {field}: {team}"
        assert customer[field] is None, f"a customer must not see {field}: {customer}"


def test_risk_notes_are_the_teams(api: Api) -> None:
    risk = mutate(
        api,
        "createRisk",
        "CreateRiskInput",
        {
            "projectId": api.project_id("portal"),
            "title": "Key developer leaves",
            "probability": 2,
            "impact": 4,
            "ownerId": api.user_id("dev"),
            "mitigationPlan": "Pair on everything",
            "contingencyPlan": "Contractor on call",
            "earlyWarningIndicator": "Overtime two weeks running",
        },
        "risk { id }",
    )["risk"]
    fields = INTERNAL["Risk"].graphql_fields
    team, customer = seen_by(api, risk["id"], "Risk", (*fields, "title", "score"))
    assert_hidden_from_customers(team, customer, fields)
    assert customer["title"] == "Key developer leaves" and customer["score"] == 8  # the risk itself is shared

    # Comments of its transitions are risk notes too; a requirement's stay visible.
    fired = mutate(
        api,
        "fireTransition",
        "FireTransitionInput",
        {"id": risk["id"], "trigger": "assess", "comment": "Dev's notice period is short"},
        "event { comment }",
    )
    assert fired["event"]["comment"] == "Dev's notice period is short"
    history = "history(first: 100) { nodes { trigger comment payload } }"
    team, customer = seen_by(api, risk["id"], "Risk", (history,))
    assessed = [e for e in team["history"]["nodes"] if e["trigger"] == "assess"]
    assert assessed[0]["comment"] == "Dev's notice period is short" and assessed[0]["payload"] == {}
    assert all(e["comment"] is None and e["payload"] is None for e in customer["history"]["nodes"])


def test_the_progress_report_leaves_out_risk_notes_for_customers(api: Api) -> None:
    mutate(
        api,
        "createRisk",
        "CreateRiskInput",
        {"projectId": api.project_id("portal"), "title": "Go-live slips", "mitigationPlan": "Buffer week"},
        "risk { id }",
    )
    query = "query($id: ID!) { node(id: $id) { ... on Project { progressReport { markdown } } } }"
    team = api.data(query, {"id": api.project_id("portal")}, as_="mia")["node"]["progressReport"]["markdown"]
    customer = api.data(query, {"id": api.project_id("portal")}, as_="carla")["node"]["progressReport"]
    assert "Go-live slips" in team and "Buffer week" in team
    assert "Go-live slips" in customer["markdown"] and "Buffer week" not in customer["markdown"]


def test_internal_qa_is_the_teams(api: Api) -> None:
    deliverable = mutate(
        api,
        "createDeliverable",
        "CreateDeliverableInput",
        {
            "projectId": api.project_id("portal"),
            "title": "Tracking page",
            "kind": "code",
            "acceptanceCriteria": ["Shows every parcel"],
            "qaChecklist": [{"item": "Mobile check", "done": True}],
        },
        "deliverable { id }",
    )["deliverable"]
    fields = ("qaChecklist { item done }",)
    team, customer = seen_by(api, deliverable["id"], "Deliverable", (*fields, "acceptanceCriteria"))
    assert team["qaChecklist"] == [{"item": "Mobile check", "done": True}]
    assert customer["qaChecklist"] is None
    assert customer["acceptanceCriteria"] == ["Shows every parcel"]


def test_workload_is_the_teams(api: Api) -> None:
    item = mutate(
        api,
        "createWorkItem",
        "CreateWorkItemInput",
        {
            "projectId": api.project_id("portal"),
            "title": "Wire the SMS provider",
            "assigneeId": api.user_id("dev"),
            "estimate": 6,
            "blockedReason": "Waiting for the customer's API key",
        },
        "workItem { id }",
    )["workItem"]
    fields = INTERNAL["WorkItem"].graphql_fields
    team, customer = seen_by(api, item["id"], "WorkItem", (*fields, "title", "blockedReason"))
    assert_hidden_from_customers(team, customer, fields)
    assert customer["blockedReason"] == "Waiting for the customer's API key"


def test_team_meetings_notes_are_the_teams_and_reviews_are_shared(api: Api) -> None:
    recorded = {}
    for kind in ("retrospective", "daily_standup", "demo"):
        recorded[kind] = mutate(
            api,
            "recordMeeting",
            "RecordMeetingInput",
            {
                "projectId": api.project_id("portal"),
                "kind": kind,
                "heldOn": "2027-01-05",
                "notes": f"{kind} notes",
                "decisions": [f"{kind} decision"],
                "attendeeUserIds": [api.user_id("mia")],
            },
            "meeting { id }",
        )["meeting"]["id"]
    fields = INTERNAL["Meeting"].graphql_fields
    for kind in ("retrospective", "daily_standup"):
        team, customer = seen_by(api, recorded[kind], "Meeting", fields)
        assert_hidden_from_customers(team, customer, fields)
    team, customer = seen_by(api, recorded["demo"], "Meeting", fields)
    assert customer == team == {"notes": "demo notes", "decisions": ["demo decision"]}


def test_team_accounts_contact_details_are_the_teams(api: Api) -> None:
    fields = INTERNAL["User"].graphql_fields
    team, customer = seen_by(api, api.user_id("mia"), "User", (*fields, "name"))
    assert_hidden_from_customers(team, customer, fields)
    assert customer["name"] == "Mia Manager"
    # through the project's members too, and one's own account in full
    members = "query($id: ID!) { node(id: $id) { ... on Project { members { user { name email } } } } }"
    seen = api.data(members, {"id": api.project_id("portal")}, as_="carla")["node"]["members"]
    emails = {m["user"]["name"]: m["user"]["email"] for m in seen}
    assert emails["Mia Manager"] is None and emails["Carla Northwind"] == "carla@northwind.example"
    viewer = api.data("{ viewer { email active } }", as_="carla")["viewer"]
    assert viewer == {"email": "carla@northwind.example", "active": True}


def test_live_risk_events_hide_their_comment_from_customers_only(api: Api) -> None:
    """The subscription payload is shared per audience (fanout.py); the customer's copy has no notes."""
    risk = mutate(
        api,
        "createRisk",
        "CreateRiskInput",
        {"projectId": api.project_id("portal"), "title": "Courier strike", "probability": 3, "impact": 3},
        "risk { id }",
    )["risk"]
    query = "subscription($p: ID!) { events(projectId: $p) { trigger comment payload } }"
    broker = app_state(api.app)["broker"]
    with ExitStack() as stack:
        listeners = {}
        for who in ("mia", "carla"):
            ws = stack.enter_context(
                api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
            )
            ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens[who]}"}}
            )
            assert ws.receive_json()["type"] == "connection_ack"
            variables = {"p": api.project_id("portal")}
            ws.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
            )
            listeners[who] = ws
        for _ in range(500):
            if broker.subscriber_count(api.demo.projects["portal"]) == 2:
                break
            time.sleep(0.01)
        mutate(
            api,
            "fireTransition",
            "FireTransitionInput",
            {"id": risk["id"], "trigger": "assess", "comment": "Union ballot next week"},
            "event { id }",
        )
        heard = {}
        for who, ws in listeners.items():
            event = ws.receive_json()["payload"]["data"]["events"]
            while event["trigger"] != "assess":  # PostgreSQL may also stream the risk's creation
                event = ws.receive_json()["payload"]["data"]["events"]
            heard[who] = event
    assert heard["mia"] == {"trigger": "assess", "comment": "Union ballot next week", "payload": {}}
    assert heard["carla"] == {"trigger": "assess", "comment": None, "payload": None}


def test_project_health_is_the_teams(api: Api) -> None:
    fields = INTERNAL["Project"].graphql_fields
    selection = (
        "health { score signals { code message } }",
        "healthHistory(first: 5) { totalCount }",
        "name",
    )
    team, customer = seen_by(api, api.project_id("portal"), "Project", selection)
    assert_hidden_from_customers(team, customer, fields)
    assert any("SMTP relay" in s["message"] for s in team["health"]["signals"])  # it names the risks
    assert customer["name"] == team["name"]


def test_survey_answers_are_the_teams(api: Api) -> None:
    survey_id, token = open_survey(api)
    given = {"token": token, "answers": [{"question": "satisfaction", "value": 4}]}
    assert api.data(ANSWER, {"input": given}, as_=None)["answerSurvey"]["errors"] == []
    fields = INTERNAL["Survey"].graphql_fields
    selection = ("responses { score answers { question value } }", "title", "answered")
    team, customer = seen_by(api, global_id("Survey", survey_id), "Survey", selection)
    assert_hidden_from_customers(team, customer, fields)
    assert team["responses"] == [{"score": 4, "answers": [{"question": "satisfaction", "value": 4}]}]
    assert (customer["title"], customer["answered"]) == (team["title"], 1)


COVERED = {
    "Survey": test_survey_answers_are_the_teams,
    "Project": test_project_health_is_the_teams,
    "Risk": test_risk_notes_are_the_teams,
    "HistoryEvent": test_risk_notes_are_the_teams,
    "Deliverable": test_internal_qa_is_the_teams,
    "WorkItem": test_workload_is_the_teams,
    "Meeting": test_team_meetings_notes_are_the_teams_and_reviews_are_shared,
    "User": test_team_accounts_contact_details_are_the_teams,
}


def test_every_type_with_internal_fields_has_its_test_here() -> None:
    missing = set(INTERNAL) - set(COVERED)
    assert not missing, f"internal fields of {sorted(missing)} need a test in {__name__}"
