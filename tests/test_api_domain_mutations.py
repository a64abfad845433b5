"""The domain's create and update mutations over HTTP: change requests, iterations, work items,
meetings, feedback, deliverables, risks and users.

Each mutation has a happy path whose result a query then shows, and refusals with the right code
and camelCase field (bad input, unknown id, another customer's project, a customer calling a
team-only mutation) after which nothing changed. Runs on SQLite and, with
PMFLOW_TEST_DATABASE_URL set, PostgreSQL.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette >= 1.x suggests httpx2 for its TestClient; httpx is installed and works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from pmflow import app as pmflow_app
from pmflow.api.app import Settings, create_app
from pmflow.core.tables import events, subjects
from pmflow.domain import tables as t
from pmflow.domain.demo import DemoData, load_demo
from pmflow.domain.identity import issue_token

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


def gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def pk_of(global_id: str) -> int:
    padded = global_id + "=" * (-len(global_id) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().partition(":")[2])


@dataclass
class Api:
    client: TestClient
    app: pmflow_app.App  # a second handle on the same database, for looking behind the API
    demo: DemoData
    tokens: dict[str, str]
    contacts: dict[str, int]  # demo contacts by first name (carla, nils, ben)

    def query(self, who: str | None, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        response = self.client.post(
            "/graphql", json={"query": text, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def mutate(self, who: str | None, name: str, input: dict[str, Any], selection: str) -> dict[str, Any]:
        """The payload of ``name(input:)``; selection is what to read of the object."""
        text = (
            f"mutation($input: {name[0].upper() + name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ {selection} errors {{ code message field }} }} }}"
        )
        payload: dict[str, Any] = self.query(who, text, {"input": input})[name]
        return payload

    def node(self, who: str, global_id: str, selection: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.query(
            who, f"query($id: ID!) {{ node(id: $id) {{ {selection} }} }}", {"id": global_id}
        )["node"]
        return found

    def in_project(self, who: str, key: str, selection: str) -> dict[str, Any]:
        """``selection`` read on the demo project ``key`` (which the viewer must be able to see)."""
        found = self.node(who, self.project(key), f"... on Project {{ {selection} }}")
        assert found is not None
        return found

    def project(self, key: str) -> str:
        return gid("Project", self.demo.projects[key])

    def user(self, key: str) -> str:
        return gid("User", self.demo.users[key])

    def contact(self, key: str) -> str:
        return gid("Contact", self.contacts[key])

    def row_of(self, table: Any, **where: Any) -> Any:
        with self.app.database.read() as conn:
            query = select(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return conn.execute(query.order_by(table.c.id)).first()

    def fingerprint(self) -> tuple[int, ...]:
        """Counts of everything a mutation could add, and the sum of every version a change moves."""
        with self.app.database.read() as conn:
            counted = [
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (
                    subjects,
                    events,
                    t.field_changes,
                    t.users,
                    t.contacts,
                    t.memberships,
                    t.change_requests,
                    t.iterations,
                    t.work_items,
                    t.meetings,
                    t.meeting_attendees,
                    t.feedback,
                    t.deliverables,
                    t.risks,
                )
            ]
            versions = [
                conn.execute(select(func.coalesce(func.sum(table.c.version), 0))).scalar_one()
                for table in (subjects, t.work_items, t.users)
            ]
        return tuple(int(v) for v in (*counted, *versions))


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    built = pmflow_app.build(database_url=database_url, workflows=WORKFLOWS)
    try:
        demo = load_demo(built.engine)
        tokens = {
            key: issue_token(built.engine, demo.users[key]).token for key in ("admin", "mia", "carla", "ben")
        }
        with built.database.read() as conn:
            contacts = {
                row.email.split("@")[0]: row.id
                for row in conn.execute(select(t.contacts.c.id, t.contacts.c.email))
            }
        # no outbox worker: its deliveries would change the fingerprint a refused mutation must keep
        settings = Settings(database_url=database_url, workflows=WORKFLOWS, graphiql=False, worker=False)
        app = create_app(settings)
        with TestClient(app) as client:
            yield Api(client=client, app=built, demo=demo, tokens=tokens, contacts=contacts)
    finally:
        built.database.dispose()


def refused(payload: dict[str, Any], code: str, field: str | None, key: str) -> None:
    """The payload carries exactly one error with ``code`` and ``field``, and no object."""
    assert payload[key] is None, payload
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], payload["errors"]
    assert payload["errors"][0]["message"]


def refusals(api: Api, key: str, name: str, cases: list[tuple[str, dict[str, Any], str, str | None]]) -> None:
    """Each (who, input, code, field) is refused and leaves the database exactly as it was."""
    before = api.fingerprint()
    for who, given, code, field in cases:
        refused(api.mutate(who, name, given, f"{key} {{ id }}"), code, field, key)
    assert api.fingerprint() == before


def first_of(api: Api, table: Any, project: str) -> int:
    row = api.row_of(table, project_id=api.demo.projects[project])
    assert row is not None
    return int(row.id)


# ---- change requests ----------------------------------------------------------------------------

CHANGE_FIELDS = "id title state reason requestedByContactId affectedRequirementIds version"
CHANGE = f"changeRequest {{ {CHANGE_FIELDS} }}"
ASSESSED = f"changeRequest {{ {CHANGE_FIELDS} impactScheduleDays impactCost impactRisk }}"


def test_customer_raises_a_change_request_on_own_project(api: Api) -> None:
    tracking = first_of(api, t.requirements, "portal")
    payload = api.mutate(
        "carla",
        "createChangeRequest",
        {
            "projectId": api.project("portal"),
            "title": "Export claims as CSV",
            "description": "A CSV export of all claims",
            "reason": "Our controllers work in spreadsheets",
            "requestedByContactId": api.contact("carla"),
            "affectedRequirementIds": [gid("Requirement", tracking)],
        },
        CHANGE,
    )
    assert payload["errors"] == []
    change = payload["changeRequest"]
    assert change["state"] == "submitted"
    assert change["requestedByContactId"] == api.contact("carla")
    assert change["affectedRequirementIds"] == [gid("Requirement", tracking)]

    seen = api.node("carla", change["id"], "... on ChangeRequest { title reason project { name } }")
    assert seen == {
        "title": "Export claims as CSV",
        "reason": "Our controllers work in spreadsheets",
        "project": {"name": "Customer portal"},
    }
    listed = api.in_project(
        "mia", "portal", 'changeRequests(first: 100, state: ["submitted"]) { edges { node { id } } }'
    )["changeRequests"]["edges"]
    assert {"node": {"id": change["id"]}} in listed

    by_team = api.mutate(
        "mia",
        "createChangeRequest",
        {
            "projectId": api.project("fleet"),
            "title": "Night mode",
            "description": "Dark map",
            "reason": "Night shifts",
        },
        CHANGE,
    )
    assert by_team["errors"] == [] and by_team["changeRequest"]["requestedByContactId"] is None


def test_create_change_request_refusals(api: Api) -> None:
    base = {"projectId": api.project("portal"), "title": "T", "description": "D", "reason": "R"}
    bluebird_requirement = gid("Requirement", first_of(api, t.requirements, "scheduling"))
    refusals(
        api,
        "changeRequest",
        "createChangeRequest",
        [
            ("carla", {**base, "projectId": api.project("scheduling")}, "NOT_FOUND", "projectId"),
            (
                "carla",
                {**base, "requestedByContactId": api.contact("ben")},
                "NOT_FOUND",
                "requestedByContactId",
            ),
            (
                "carla",
                {**base, "affectedRequirementIds": [bluebird_requirement]},
                "NOT_FOUND",
                "affectedRequirementIds",
            ),
            (
                "mia",
                {**base, "affectedRequirementIds": [bluebird_requirement]},
                "INVALID_INPUT",
                "affectedRequirementIds",
            ),
            (
                "mia",
                {**base, "requestedByContactId": api.contact("ben")},
                "INVALID_INPUT",
                "requestedByContactId",
            ),
            ("mia", {**base, "title": "  "}, "INVALID_INPUT", "title"),
            ("mia", {**base, "projectId": gid("Project", 9999)}, "NOT_FOUND", "projectId"),
            ("mia", {**base, "projectId": gid("Customer", 1)}, "INVALID_INPUT", "projectId"),
            ("mia", {**base, "projectId": "not-an-id"}, "INVALID_INPUT", "projectId"),
            (None, base, "UNAUTHENTICATED", None),
        ],
    )


def test_assess_change_request(api: Api) -> None:
    created = api.mutate(
        "carla",
        "createChangeRequest",
        {
            "projectId": api.project("portal"),
            "title": "SMS alerts",
            "description": "Text on delay",
            "reason": "Drivers",
        },
        CHANGE,
    )["changeRequest"]
    claims = api.row_of(t.requirements, project_id=api.demo.projects["portal"], title="Raise a damage claim")
    payload = api.mutate(
        "mia",
        "assessChangeRequest",
        {
            "id": created["id"],
            "expectedVersion": created["version"],
            "impactScheduleDays": 4,
            "impactCost": 2500.5,
            "impactRisk": "Low: provider already integrated",
            "affectedRequirementIds": [gid("Requirement", claims.id)],
        },
        ASSESSED,
    )
    assert payload["errors"] == []
    assert payload["changeRequest"]["version"] == created["version"] + 1
    seen = api.node(
        "carla",
        created["id"],
        "... on ChangeRequest { impactScheduleDays impactCost impactRisk affectedRequirementIds }",
    )
    assert seen == {
        "impactScheduleDays": 4,
        "impactCost": 2500.5,
        "impactRisk": "Low: provider already integrated",
        "affectedRequirementIds": [gid("Requirement", claims.id)],
    }
    # Only what was given changes.
    again = api.mutate(
        "mia",
        "assessChangeRequest",
        {"id": created["id"], "impactCost": 3000},
        ASSESSED,
    )
    assert again["changeRequest"]["impactScheduleDays"] == 4 and again["changeRequest"]["impactCost"] == 3000

    fleet_requirement = gid("Requirement", first_of(api, t.requirements, "fleet"))
    refusals(
        api,
        "changeRequest",
        "assessChangeRequest",
        [
            ("carla", {"id": created["id"], "impactCost": 1}, "NOT_ALLOWED", None),
            (
                "mia",
                {"id": created["id"], "expectedVersion": 1, "impactCost": 1},
                "CONFLICT",
                "expectedVersion",
            ),
            ("mia", {"id": created["id"], "impactCost": -5}, "INVALID_INPUT", "impactCost"),
            (
                "mia",
                {"id": created["id"], "affectedRequirementIds": [fleet_requirement]},
                "INVALID_INPUT",
                "affectedRequirementIds",
            ),
            ("mia", {"id": created["id"]}, "INVALID_INPUT", None),
            ("mia", {"id": gid("ChangeRequest", 9999), "impactCost": 1}, "NOT_FOUND", "id"),
            ("mia", {"id": api.project("portal"), "impactCost": 1}, "INVALID_INPUT", "id"),
        ],
    )


# ---- iterations and work items ------------------------------------------------------------------

ITERATION = "iteration { id number goal startDate endDate state version }"


def test_plan_and_update_iteration(api: Api) -> None:
    payload = api.mutate(
        "mia",
        "planIteration",
        {
            "projectId": api.project("fleet"),
            "goal": "Live map",
            "startDate": "2026-03-02",
            "endDate": "2026-03-13",
        },
        ITERATION,
    )
    assert payload["errors"] == []
    planned = payload["iteration"]
    assert (planned["number"], planned["state"], planned["startDate"]) == (1, "planned", "2026-03-02")

    updated = api.mutate(
        "mia",
        "updateIteration",
        {
            "id": planned["id"],
            "expectedVersion": planned["version"],
            "goal": "Live map for dispatch",
            "endDate": "2026-03-15",
        },
        ITERATION,
    )
    assert updated["errors"] == []
    assert updated["iteration"]["version"] == planned["version"] + 1
    listed = api.in_project(
        "carla", "fleet", "iterations(first: 100) { totalCount edges { node { goal endDate } } }"
    )["iterations"]
    assert listed == {
        "totalCount": 1,
        "edges": [{"node": {"goal": "Live map for dispatch", "endDate": "2026-03-15"}}],
    }

    refusals(
        api,
        "iteration",
        "planIteration",
        [
            (
                "carla",
                {
                    "projectId": api.project("fleet"),
                    "goal": "G",
                    "startDate": "2026-04-01",
                    "endDate": "2026-04-10",
                },
                "NOT_ALLOWED",
                None,
            ),
            (
                "mia",
                {
                    "projectId": api.project("fleet"),
                    "goal": "G",
                    "startDate": "2026-04-01",
                    "endDate": "2026-05-10",
                },
                "INVALID_INPUT",
                "endDate",
            ),
            (
                "mia",
                {
                    "projectId": api.project("fleet"),
                    "goal": "G",
                    "startDate": "2026-04-10",
                    "endDate": "2026-04-01",
                },
                "INVALID_INPUT",
                "endDate",
            ),
            (
                "mia",
                {
                    "projectId": api.project("fleet"),
                    "goal": "",
                    "startDate": "2026-04-01",
                    "endDate": "2026-04-10",
                },
                "INVALID_INPUT",
                "goal",
            ),
            (
                "mia",
                {
                    "projectId": gid("Project", 9999),
                    "goal": "G",
                    "startDate": "2026-04-01",
                    "endDate": "2026-04-10",
                },
                "NOT_FOUND",
                "projectId",
            ),
        ],
    )
    refusals(
        api,
        "iteration",
        "updateIteration",
        [
            (
                "mia",
                {"id": planned["id"], "expectedVersion": planned["version"], "goal": "Stale"},
                "CONFLICT",
                "expectedVersion",
            ),
            ("mia", {"id": planned["id"], "goal": None}, "INVALID_INPUT", "goal"),
            ("mia", {"id": planned["id"], "endDate": "2026-05-30"}, "INVALID_INPUT", "endDate"),
            ("carla", {"id": planned["id"], "goal": "Mine"}, "NOT_ALLOWED", None),
            ("mia", {"id": gid("Iteration", 9999), "goal": "X"}, "NOT_FOUND", "id"),
        ],
    )


WORK_ITEM = "workItem { id title status estimate assigneeId iterationId blockedReason blocked version }"


def test_create_and_update_work_item(api: Api) -> None:
    portal = api.demo.projects["portal"]
    active = api.row_of(t.iterations, project_id=portal, number=2)
    payload = api.mutate(
        "mia",
        "createWorkItem",
        {
            "projectId": api.project("portal"),
            "title": "Claims list paging",
            "iterationId": gid("Iteration", active.id),
            "assigneeId": api.user("dev"),
            "estimate": 5,
            "blockedReason": "Waiting for the API spec",
        },
        WORK_ITEM,
    )
    assert payload["errors"] == []
    item = payload["workItem"]
    assert (item["status"], item["blocked"], item["assigneeId"]) == ("todo", True, api.user("dev"))

    updated = api.mutate(
        "mia",
        "updateWorkItem",
        {
            "id": item["id"],
            "expectedVersion": item["version"],
            "status": "in_progress",
            "blockedReason": None,
        },
        WORK_ITEM,
    )
    assert updated["errors"] == []
    assert (updated["workItem"]["status"], updated["workItem"]["blocked"]) == ("in_progress", False)
    assert updated["workItem"]["estimate"] == 5 and updated["workItem"]["version"] == item["version"] + 1
    mine = api.in_project(
        "carla",
        "portal",
        f'workItems(first: 100, assigneeId: "{api.user("dev")}", status: ["in_progress"]) '
        "{ edges { node { id title } } }",
    )["workItems"]["edges"]
    assert {"node": {"id": item["id"], "title": "Claims list paging"}} in mine

    fleet_requirement = gid("Requirement", first_of(api, t.requirements, "fleet"))
    base = {"projectId": api.project("portal"), "title": "T"}
    refusals(
        api,
        "workItem",
        "createWorkItem",
        [
            ("mia", {**base, "assigneeId": api.user("ben")}, "INVALID_INPUT", "assigneeId"),
            ("mia", {**base, "assigneeId": api.project("portal")}, "INVALID_INPUT", "assigneeId"),
            ("mia", {**base, "status": "finished"}, "INVALID_INPUT", "status"),
            ("mia", {**base, "estimate": -1}, "INVALID_INPUT", "estimate"),
            ("mia", {**base, "requirementId": fleet_requirement}, "INVALID_INPUT", "requirementId"),
            ("mia", {**base, "projectId": gid("Project", 9999)}, "NOT_FOUND", "projectId"),
            ("carla", base, "NOT_ALLOWED", None),
        ],
    )
    refusals(
        api,
        "workItem",
        "updateWorkItem",
        [
            (
                "mia",
                {"id": item["id"], "expectedVersion": item["version"], "title": "Stale"},
                "CONFLICT",
                "expectedVersion",
            ),
            ("mia", {"id": item["id"], "assigneeId": api.user("ben")}, "INVALID_INPUT", "assigneeId"),
            ("mia", {"id": item["id"], "status": None}, "INVALID_INPUT", "status"),
            ("mia", {"id": gid("WorkItem", 9999), "title": "X"}, "NOT_FOUND", "id"),
            ("carla", {"id": item["id"], "title": "Mine"}, "NOT_ALLOWED", None),
        ],
    )


# ---- meetings and feedback ----------------------------------------------------------------------

MEETING = "meeting { id kind heldOn notes decisions iterationId }"


def test_record_meeting_with_action_items(api: Api) -> None:
    payload = api.mutate(
        "mia",
        "recordMeeting",
        {
            "projectId": api.project("portal"),
            "kind": "status_report",
            "heldOn": "2026-03-06",
            "notes": "On track except email",
            "decisions": ["Escalate SMTP credentials"],
            "attendeeUserIds": [api.user("mia"), api.user("dev")],
            "attendeeContactIds": [api.contact("carla")],
            "actionItems": [
                {"title": "Chase SMTP credentials", "assigneeId": api.user("mia"), "estimate": 1},
                {"title": "Draft go-live checklist", "status": "in_progress"},
            ],
        },
        MEETING,
    )
    assert payload["errors"] == []
    meeting = payload["meeting"]
    assert (meeting["kind"], meeting["decisions"]) == ("status_report", ["Escalate SMTP credentials"])

    seen = api.in_project(
        "carla",
        "portal",
        'meetings(first: 100, kind: ["status_report"]) { edges { node { id notes } } } '
        "workItems(first: 100) { edges { node { title meetingId assigneeId status } } }",
    )
    assert {"node": {"id": meeting["id"], "notes": "On track except email"}} in seen["meetings"]["edges"]
    from_meeting = [e["node"] for e in seen["workItems"]["edges"] if e["node"]["meetingId"] == meeting["id"]]
    assert from_meeting == [
        {
            "title": "Chase SMTP credentials",
            "meetingId": meeting["id"],
            "assigneeId": None,  # who does what is the team's business (docs/security.md)
            "status": "todo",
        },
        {
            "title": "Draft go-live checklist",
            "meetingId": meeting["id"],
            "assigneeId": None,
            "status": "in_progress",
        },
    ]
    attendees = api.row_of(
        t.meeting_attendees, meeting_id=pk_of(meeting["id"]), contact_id=api.contacts["carla"]
    )
    assert attendees is not None

    fleet_iteration = api.mutate(
        "mia",
        "planIteration",
        {"projectId": api.project("fleet"), "goal": "G", "startDate": "2026-04-01", "endDate": "2026-04-10"},
        "iteration { id }",
    )["iteration"]["id"]
    base = {
        "projectId": api.project("portal"),
        "kind": "status_report",
        "heldOn": "2026-03-06",
        "attendeeUserIds": [api.user("mia")],
    }
    refusals(
        api,
        "meeting",
        "recordMeeting",
        [
            ("mia", {**base, "kind": "party"}, "INVALID_INPUT", "kind"),
            ("mia", {**base, "kind": "iteration_review"}, "INVALID_INPUT", "iterationId"),
            ("mia", {**base, "iterationId": fleet_iteration}, "INVALID_INPUT", "iterationId"),
            ("mia", {**base, "attendeeUserIds": []}, "INVALID_INPUT", "attendeeUserIds"),
            ("mia", {**base, "attendeeUserIds": [api.user("ben")]}, "INVALID_INPUT", "attendeeUserIds"),
            (
                "mia",
                {**base, "attendeeContactIds": [api.contact("ben")]},
                "INVALID_INPUT",
                "attendeeContactIds",
            ),
            (
                "mia",
                {**base, "attendeeContactIds": [api.user("carla")]},
                "INVALID_INPUT",
                "attendeeContactIds",
            ),
            (
                "mia",
                {**base, "actionItems": [{"title": "ok"}, {"title": "x", "assigneeId": api.user("ben")}]},
                "INVALID_INPUT",
                "actionItems.1.assigneeId",
            ),
            (
                "mia",
                {**base, "actionItems": [{"title": "x", "iterationId": fleet_iteration}]},
                "INVALID_INPUT",
                "actionItems.0.iterationId",
            ),
            (
                "mia",
                {**base, "actionItems": [{"title": "x", "assigneeId": "nope"}]},
                "INVALID_INPUT",
                "actionItems.0.assigneeId",
            ),
            ("mia", {**base, "actionItems": [{"title": ""}]}, "INVALID_INPUT", "actionItems.0.title"),
            ("mia", {**base, "projectId": gid("Project", 9999)}, "NOT_FOUND", "projectId"),
            ("carla", base, "NOT_ALLOWED", None),
        ],
    )


FEEDBACK = "feedback { id text rating contactId iterationId deliverableId }"


def test_record_feedback_as_customer_and_for_a_contact(api: Api) -> None:
    own = api.mutate(
        "carla",
        "recordFeedback",
        {"projectId": api.project("portal"), "text": "Tracking is great", "rating": 5},
        FEEDBACK,
    )
    assert own["errors"] == []
    assert (own["feedback"]["contactId"], own["feedback"]["rating"]) == (api.contact("carla"), 5)
    explicit = api.mutate(
        "carla",
        "recordFeedback",
        {"projectId": api.project("fleet"), "contactId": api.contact("carla"), "text": "Looking forward"},
        FEEDBACK,
    )
    assert explicit["errors"] == [] and explicit["feedback"]["rating"] is None
    for_nils = api.mutate(
        "mia",
        "recordFeedback",
        {
            "projectId": api.project("portal"),
            "contactId": api.contact("nils"),
            "text": "Said on the phone: fine",
            "rating": 4,
        },
        FEEDBACK,
    )
    assert for_nils["errors"] == [] and for_nils["feedback"]["contactId"] == api.contact("nils")

    listed = api.in_project("carla", "portal", "feedback(first: 100) { edges { node { id text } } }")[
        "feedback"
    ]["edges"]
    ids = [e["node"]["id"] for e in listed]
    assert own["feedback"]["id"] in ids and for_nils["feedback"]["id"] in ids

    bluebird_deliverable = gid("Deliverable", first_of(api, t.deliverables, "scheduling"))
    portal_iteration = gid("Iteration", first_of(api, t.iterations, "portal"))
    base = {"projectId": api.project("portal"), "text": "Hm"}
    refusals(
        api,
        "feedback",
        "recordFeedback",
        [
            ("carla", {**base, "contactId": api.contact("nils")}, "NOT_ALLOWED", "contactId"),
            ("carla", {**base, "contactId": api.contact("ben")}, "NOT_FOUND", "contactId"),
            ("carla", {**base, "projectId": api.project("scheduling")}, "NOT_FOUND", "projectId"),
            ("carla", {**base, "deliverableId": bluebird_deliverable}, "NOT_FOUND", "deliverableId"),
            ("carla", {**base, "rating": 9}, "INVALID_INPUT", "rating"),
            ("carla", {**base, "text": ""}, "INVALID_INPUT", "text"),
            (
                "carla",
                {**base, "iterationId": portal_iteration, "deliverableId": gid("Deliverable", 9999)},
                "NOT_FOUND",
                "deliverableId",
            ),
            ("ben", {**base, "contactId": api.contact("ben")}, "NOT_FOUND", "projectId"),
            ("mia", base, "INVALID_INPUT", "contactId"),
            ("mia", {**base, "contactId": api.contact("ben")}, "INVALID_INPUT", "contactId"),
            ("mia", {**base, "contactId": gid("Contact", 9999)}, "NOT_FOUND", "contactId"),
            (
                "mia",
                {**base, "contactId": api.contact("nils"), "deliverableId": bluebird_deliverable},
                "INVALID_INPUT",
                "deliverableId",
            ),
            (
                "mia",
                {**base, "projectId": gid("Project", 9999), "contactId": api.contact("nils")},
                "NOT_FOUND",
                "projectId",
            ),
            (None, base, "UNAUTHENTICATED", None),
        ],
    )


# ---- deliverables -------------------------------------------------------------------------------

DELIVERABLE = (
    "deliverable { id title kind state acceptanceCriteria qaChecklist { item done } iterationId version }"
)


def test_create_and_update_deliverable(api: Api) -> None:
    iteration = gid("Iteration", first_of(api, t.iterations, "portal"))
    payload = api.mutate(
        "mia",
        "createDeliverable",
        {
            "projectId": api.project("portal"),
            "title": "Tracking page",
            "kind": "code",
            "acceptanceCriteria": ["Status within 5 s"],
            "qaChecklist": [{"item": "Mobile check"}, {"item": "Load test", "done": True}],
            "iterationId": iteration,
        },
        DELIVERABLE,
    )
    assert payload["errors"] == []
    created = payload["deliverable"]
    assert created["qaChecklist"] == [
        {"item": "Mobile check", "done": False},
        {"item": "Load test", "done": True},
    ]
    assert (created["state"], created["iterationId"]) == ("in_progress", iteration)

    updated = api.mutate(
        "mia",
        "updateDeliverable",
        {
            "id": created["id"],
            "expectedVersion": created["version"],
            "qaChecklist": [{"item": "Mobile check", "done": True}, {"item": "Load test", "done": True}],
            "iterationId": None,
        },
        DELIVERABLE,
    )
    assert updated["errors"] == []
    seen = api.node(
        "carla", created["id"], "... on Deliverable { title qaChecklist { done } iterationId version }"
    )
    assert seen == {
        "title": "Tracking page",
        "qaChecklist": None,  # internal QA is the team's (docs/security.md)
        "iterationId": None,
        "version": created["version"] + 1,
    }
    team = api.node("mia", created["id"], "... on Deliverable { qaChecklist { done } }")
    assert team == {"qaChecklist": [{"done": True}, {"done": True}]}

    accepted = gid("Deliverable", first_of(api, t.deliverables, "scheduling"))
    fleet_iteration = api.mutate(
        "mia",
        "planIteration",
        {"projectId": api.project("fleet"), "goal": "G", "startDate": "2026-04-01", "endDate": "2026-04-10"},
        "iteration { id }",
    )["iteration"]["id"]
    base = {"projectId": api.project("portal"), "title": "T", "kind": "document"}
    refusals(
        api,
        "deliverable",
        "createDeliverable",
        [
            ("mia", {**base, "kind": "poem"}, "INVALID_INPUT", "kind"),
            ("mia", {**base, "qaChecklist": [{"item": ""}]}, "INVALID_INPUT", "qaChecklist.0.item"),
            ("mia", {**base, "iterationId": fleet_iteration}, "INVALID_INPUT", "iterationId"),
            ("mia", {**base, "iterationId": gid("Iteration", 9999)}, "NOT_FOUND", "iterationId"),
            ("mia", {**base, "projectId": gid("Project", 9999)}, "NOT_FOUND", "projectId"),
            ("carla", base, "NOT_ALLOWED", None),
        ],
    )
    refusals(
        api,
        "deliverable",
        "updateDeliverable",
        [
            ("mia", {"id": accepted, "title": "Renamed"}, "INVALID_INPUT", "state"),
            (
                "mia",
                {"id": created["id"], "expectedVersion": created["version"], "title": "Stale"},
                "CONFLICT",
                "expectedVersion",
            ),
            ("mia", {"id": created["id"], "kind": None}, "INVALID_INPUT", "kind"),
            ("mia", {"id": gid("Deliverable", 9999), "title": "X"}, "NOT_FOUND", "id"),
            ("carla", {"id": created["id"], "title": "Mine"}, "NOT_ALLOWED", None),
            ("ben", {"id": created["id"], "title": "Theirs"}, "NOT_ALLOWED", None),
        ],
    )


# ---- risks --------------------------------------------------------------------------------------

RISK = (
    "risk { id title category probability impact score level reviewDueOn reviewOverdue ownerId"
    " mitigationPlan state version }"
)


def test_create_and_update_risk(api: Api) -> None:
    payload = api.mutate(
        "mia",
        "createRisk",
        {
            "projectId": api.project("portal"),
            "title": "Key developer on leave",
            "category": "resource",
            "probability": 3,
            "impact": 4,
            "ownerId": api.user("dev"),
            "mitigationPlan": "Pair on everything",
            "reviewDueOn": "2020-01-31",
        },
        RISK,
    )
    assert payload["errors"] == []
    risk = payload["risk"]
    assert (risk["score"], risk["level"], risk["ownerId"], risk["state"]) == (
        12,
        "HIGH",
        api.user("dev"),
        "identified",
    )
    # the review date has passed and the risk is open: its review is overdue
    assert (risk["reviewDueOn"], risk["reviewOverdue"]) == ("2020-01-31", True)

    updated = api.mutate(
        "mia",
        "updateRisk",
        {
            "id": risk["id"],
            "expectedVersion": risk["version"],
            "probability": 5,
            "ownerId": None,
            "reviewDueOn": "2999-12-31",
        },
        RISK,
    )
    assert updated["errors"] == []
    query = "... on Risk { probability impact score level ownerId mitigationPlan reviewOverdue }"
    assert api.node("mia", risk["id"], query) == {
        "probability": 5,
        "impact": 4,
        "score": 20,
        "level": "CRITICAL",
        "ownerId": None,
        "mitigationPlan": "Pair on everything",
        "reviewOverdue": False,
    }
    # the customer sees the risk and its score, not the team's plans (docs/security.md)
    assert api.node("carla", risk["id"], query)["mitigationPlan"] is None

    base = {"projectId": api.project("portal"), "title": "T"}
    refusals(
        api,
        "risk",
        "createRisk",
        [
            ("mia", {**base, "probability": 7}, "INVALID_INPUT", "probability"),
            ("mia", {**base, "category": "weather"}, "INVALID_INPUT", "category"),
            ("mia", {**base, "ownerId": api.user("ben")}, "INVALID_INPUT", "ownerId"),
            ("mia", {**base, "ownerId": api.contact("carla")}, "INVALID_INPUT", "ownerId"),
            ("mia", {**base, "projectId": gid("Project", 9999)}, "NOT_FOUND", "projectId"),
            ("carla", base, "NOT_ALLOWED", None),
        ],
    )
    refusals(
        api,
        "risk",
        "updateRisk",
        [
            (
                "mia",
                {"id": risk["id"], "expectedVersion": risk["version"], "impact": 1},
                "CONFLICT",
                "expectedVersion",
            ),
            ("mia", {"id": risk["id"], "impact": 0}, "INVALID_INPUT", "impact"),
            ("mia", {"id": risk["id"], "ownerId": api.user("ben")}, "INVALID_INPUT", "ownerId"),
            ("mia", {"id": risk["id"], "title": None}, "INVALID_INPUT", "title"),
            ("mia", {"id": gid("Risk", 9999), "impact": 2}, "NOT_FOUND", "id"),
            ("carla", {"id": risk["id"], "impact": 1}, "NOT_ALLOWED", None),
        ],
    )


# ---- users --------------------------------------------------------------------------------------

USER = "user { id email name role customerId active }"


def test_admin_creates_users(api: Api) -> None:
    northwind = gid("Customer", api.demo.customers["northwind"])
    payload = api.mutate(
        "admin",
        "createUser",
        {
            "email": "nina@northwind.example",
            "name": "Nina Northwind",
            "role": "customer",
            "customerId": northwind,
        },
        USER,
    )
    assert payload["errors"] == []
    user = payload["user"]
    assert (user["role"], user["customerId"], user["active"]) == ("customer", northwind, True)
    assert api.node("carla", user["id"], "... on User { email }") == {"email": "nina@northwind.example"}
    member = api.mutate(
        "admin", "createUser", {"email": "olga@pmflow.example", "name": "Olga", "role": "member"}, USER
    )
    assert member["errors"] == [] and member["user"]["customerId"] is None

    base = {"email": "x@pmflow.example", "name": "X", "role": "member"}
    refusals(
        api,
        "user",
        "createUser",
        [
            ("mia", base, "NOT_ALLOWED", None),
            ("carla", {**base, "role": "customer", "customerId": northwind}, "NOT_ALLOWED", None),
            (None, base, "UNAUTHENTICATED", None),
            ("admin", {**base, "role": "customer"}, "INVALID_INPUT", "customerId"),
            ("admin", {**base, "customerId": northwind}, "INVALID_INPUT", "customerId"),
            (
                "admin",
                {**base, "role": "customer", "customerId": api.project("portal")},
                "INVALID_INPUT",
                "customerId",
            ),
            (
                "admin",
                {**base, "role": "customer", "customerId": gid("Customer", 9999)},
                "INVALID_INPUT",
                "customerId",
            ),
            ("admin", {**base, "email": "not an email"}, "INVALID_INPUT", "email"),
            ("admin", {**base, "email": "MIA@pmflow.example"}, "INVALID_INPUT", "email"),
            ("admin", {**base, "role": "boss"}, "INVALID_INPUT", "role"),
        ],
    )


# ---- an iteration through its review, only through the API -------------------------------------

FIRE = (
    "mutation($input: FireTransitionInput!) { fireTransition(input: $input) "
    "{ subject { state version } errors { code field reasons } } }"
)


def test_iteration_walks_through_review(api: Api) -> None:
    def fire(who: str, subject: str, trigger: str, version: int) -> dict[str, Any]:
        result: dict[str, Any] = api.query(
            who, FIRE, {"input": {"id": subject, "trigger": trigger, "expectedVersion": version}}
        )["fireTransition"]
        return result

    iteration = api.mutate(
        "mia",
        "planIteration",
        {
            "projectId": api.project("fleet"),
            "goal": "Pilot with 10 trucks",
            "startDate": "2026-03-02",
            "endDate": "2026-03-13",
        },
        ITERATION,
    )["iteration"]
    started = fire("mia", iteration["id"], "start", iteration["version"])
    assert started["errors"] == [] and started["subject"]["state"] == "active"
    in_review = fire("mia", iteration["id"], "finish_work", started["subject"]["version"])
    assert in_review["subject"]["state"] == "review"

    early = fire("mia", iteration["id"], "complete_review", in_review["subject"]["version"])
    assert early["subject"] is None and early["errors"][0]["code"] == "GUARD_FAILED"

    meeting = api.mutate(
        "mia",
        "recordMeeting",
        {
            "projectId": api.project("fleet"),
            "kind": "iteration_review",
            "heldOn": "2026-03-13",
            "iterationId": iteration["id"],
            "decisions": ["Pilot goes on"],
            "attendeeUserIds": [api.user("mia"), api.user("dev")],
            "attendeeContactIds": [api.contact("carla")],
        },
        MEETING,
    )
    assert meeting["errors"] == [] and meeting["meeting"]["iterationId"] == iteration["id"]
    feedback = api.mutate(
        "carla",
        "recordFeedback",
        {
            "projectId": api.project("fleet"),
            "iterationId": iteration["id"],
            "text": "Map is clear",
            "rating": 4,
        },
        FEEDBACK,
    )
    assert feedback["errors"] == [] and feedback["feedback"]["iterationId"] == iteration["id"]

    buttons = api.node(
        "mia", iteration["id"], "... on Iteration { availableTransitions { trigger allowed } }"
    )
    assert buttons is not None
    assert {"trigger": "complete_review", "allowed": True} in buttons["availableTransitions"]
    done = fire("mia", iteration["id"], "complete_review", in_review["subject"]["version"])
    assert done["errors"] == [] and done["subject"]["state"] == "retrospective"
    seen = api.node("carla", iteration["id"], "... on Iteration { state history(first: 100) { totalCount } }")
    assert seen == {"state": "retrospective", "history": {"totalCount": 4}}
