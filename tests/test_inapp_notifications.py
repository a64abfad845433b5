"""The in-app channel and who hears what (docs/plugins.md, "In-app notifications", "Who hears what"):
an event that asks something of the customer reaches the customer's users in the app, never another
customer's; they read, count and mark their notifications; preferences switch events off, per project
too, on the app and on email; the subscription delivers them as they are stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from api_helpers import Api, global_id, running_api
from mail_helpers import Inbox, smtp_server
from pmflow.api.notifications import inbox
from pmflow.core.outbox import OutboxDelivery, Worker
from pmflow.core.tables import outbox
from pmflow.domain import tables as t
from pmflow.plugins.inapp import STORE_PLUGIN
from pmflow.plugins.preferences import Rule, decide

LIST = """query($unread: Boolean!) {
  notifications(first: 50, unreadOnly: $unread) {
    totalCount nodes { id eventId eventType title read projectId }
  }
  unreadNotificationCount
}"""
MARK = """mutation($input: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $input) { marked unreadCount errors { code message field } }
}"""
PREFER = """mutation($input: SetNotificationPreferenceInput!) {
  setNotificationPreference(input: $input) { preference { id eventType channel enabled projectId }
    errors { code message field } }
}"""
REVIEW = "requirement.submit_for_review"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def drain(api: Api) -> None:
    """Run the outbox worker as `pmflow worker` builds it, until nothing is due."""
    Worker.for_plugins(api.built.database, api.built.plugins, clock=Clock(), chance=lambda: 0.0).drain()


def submit_requirement(api: Api, project: str = "portal") -> str:
    """A new requirement submitted for the customer's review; its event id."""
    sam = api.actor("sam")
    data = {
        "title": "Export to CSV",
        "acceptance_criteria": ["a file"],
        "priority": "high",
        "source": "workshop",
    }
    row = api.domain.requirements.create(sam, api.demo.projects[project], data)
    return str(api.domain.fire(sam, row["id"], "submit_for_review").event.event_id)


def listed(api: Api, who: str, *, unread: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = api.data(LIST, {"unread": unread}, as_=who)
    return found


def of_event(api: Api, who: str, event_id: str) -> list[dict[str, Any]]:
    return [n for n in listed(api, who)["notifications"]["nodes"] if n["eventId"] == event_id]


def prefer(api: Api, who: str, **given: Any) -> dict[str, Any]:
    answer: dict[str, Any] = api.data(PREFER, {"input": given}, as_=who)["setNotificationPreference"]
    return answer


def test_a_review_invitation_reaches_carla_once_and_never_ben(api: Api) -> None:
    event_id = submit_requirement(api)
    assert of_event(api, "carla", event_id) == []  # stored by the worker, after the commit
    drain(api)
    (mine,) = of_event(api, "carla", event_id)
    assert mine["eventType"] == REVIEW and mine["read"] is False
    assert mine["title"] == "A requirement of Customer portal is ready for your review"
    assert mine["projectId"] == api.project_id("portal")
    assert of_event(api, "ben", event_id) == []
    assert len(of_event(api, "mia", event_id)) == 1  # the team hears it too
    # delivered again (at least once delivery: a worker stopped before recording it): still one
    with api.built.database.read() as conn:
        row = conn.execute(
            select(outbox).where(outbox.c.topic == "in_app", outbox.c.event_id == event_id).limit(1)
        ).one()
    again = OutboxDelivery(
        0, row.id, event_id, row.topic, row.subject_id, row.payload, "in_app", 2, row.created_at
    )
    store = api.built.plugins.get_plugin(STORE_PLUGIN)
    store.deliver(again)
    store.deliver(again)
    assert len(of_event(api, "carla", event_id)) == 1
    assert len(of_event(api, "mia", event_id)) == 1


def test_carla_counts_and_marks_her_notifications_read(api: Api) -> None:
    first, second = submit_requirement(api), submit_requirement(api, "fleet")
    drain(api)
    unread = listed(api, "carla")["unreadNotificationCount"]
    assert unread >= 2
    (one,) = of_event(api, "carla", first)
    marked = api.data(MARK, {"input": {"ids": [one["id"]]}}, as_="carla")["markNotificationsRead"]
    assert marked == {"marked": 1, "unreadCount": unread - 1, "errors": []}
    assert of_event(api, "carla", first)[0]["read"] is True
    still = listed(api, "carla", unread=True)["notifications"]["nodes"]
    assert first not in [n["eventId"] for n in still] and second in [n["eventId"] for n in still]
    # Ben cannot mark (or learn of) Carla's notification: the same answer as for a made-up id
    foreign = api.data(MARK, {"input": {"ids": [one["id"]]}}, as_="ben")["markNotificationsRead"]
    made_up = api.data(MARK, {"input": {"ids": [global_id("Notification", 987_654)]}}, as_="ben")
    assert foreign["errors"][0]["code"] == "NOT_FOUND" and foreign["errors"][0]["field"] == "ids"
    assert [e["code"] for e in made_up["markNotificationsRead"]["errors"]] == ["NOT_FOUND"]
    everything = api.data(MARK, {"input": {"all": True}}, as_="carla")["markNotificationsRead"]
    assert everything["marked"] == unread - 1 and everything["unreadCount"] == 0
    neither = api.data(MARK, {"input": {}}, as_="carla")["markNotificationsRead"]
    assert neither["errors"] == [
        {"code": "INVALID_INPUT", "message": "give either ids or all: true", "field": "ids"}
    ]


def test_preferences_switch_events_off_per_type_and_per_project(api: Api) -> None:
    off = prefer(api, "carla", eventType=REVIEW, channel="in_app", enabled=False)
    assert off["errors"] == [] and off["preference"]["enabled"] is False
    silenced = submit_requirement(api)
    drain(api)
    assert of_event(api, "carla", silenced) == []
    assert len(of_event(api, "mia", silenced)) == 1  # her rule is hers alone
    # the same rule again updates it; a project's rule is more specific than one for every project
    prefer(api, "carla", eventType=REVIEW, channel="in_app", enabled=True)
    prefer(api, "carla", eventType=REVIEW, channel="in_app", enabled=False, projectId=api.project_id("fleet"))
    rules = api.data("{ notificationPreferences { eventType enabled projectId } }", as_="carla")
    assert rules["notificationPreferences"] == [
        {"eventType": REVIEW, "enabled": True, "projectId": None},
        {"eventType": REVIEW, "enabled": False, "projectId": api.project_id("fleet")},
    ]
    in_portal, in_fleet = submit_requirement(api, "portal"), submit_requirement(api, "fleet")
    drain(api)
    assert len(of_event(api, "carla", in_portal)) == 1
    assert of_event(api, "carla", in_fleet) == []
    # everything off, but on in portal: in portal the project's rule wins
    prefer(api, "carla", eventType=REVIEW, channel="in_app", enabled=False)
    prefer(api, "carla", eventType="*", channel="in_app", enabled=True, projectId=api.project_id("portal"))
    heard, unheard = submit_requirement(api, "portal"), submit_requirement(api, "scheduling")
    drain(api)
    assert len(of_event(api, "carla", heard)) == 1
    assert of_event(api, "carla", unheard) == [] and of_event(api, "ben", unheard) != []


def test_the_most_specific_rule_wins() -> None:
    everyone_off = Rule(1, None, None, None, "*", False)
    customers_on = Rule(2, None, "customer", None, REVIEW, True)
    carla_off_in_7 = Rule(3, 42, None, 7, "*", False)
    rules = [everyone_off, customers_on, carla_off_in_7]
    hear = {"user_id": 42, "role": "customer", "event_type": REVIEW}
    assert decide(rules, project_id=7, **hear) is False  # her own rule in that project
    assert decide(rules, project_id=8, **hear) is True  # a role's rule over everyone's
    assert decide(rules, project_id=8, user_id=43, role="member", event_type=REVIEW) is False
    assert decide([], project_id=8, user_id=43, role="member", event_type="risk.create") is False
    assert decide([], project_id=8, user_id=43, role="customer", event_type="iteration.close") is True


def test_bad_preferences_are_refused_naming_the_field(api: Api) -> None:
    bad_channel = prefer(api, "carla", eventType="*", channel="sms", enabled=True)
    assert bad_channel["errors"][0]["field"] == "channel" and "sms" in bad_channel["errors"][0]["message"]
    bad_type = prefer(api, "carla", eventType="project.fly", channel="email", enabled=True)
    assert bad_type["errors"][0]["field"] == "eventType"
    hidden = prefer(
        api, "ben", eventType="*", channel="email", enabled=True, projectId=api.project_id("portal")
    )
    assert [(e["code"], e["field"]) for e in hidden["errors"]] == [("NOT_FOUND", "projectId")]


def test_the_subscription_delivers_carlas_notifications_live(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "POLL_SECONDS", 0.05)
    drain(api)  # the demo's events first: only the new one is news
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens['carla']}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        query = "subscription { notifications { eventId eventType title read } }"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        time.sleep(0.5)  # the subscription notes where it starts before the event is stored
        event_id = submit_requirement(api)
        drain(api)
        message = ws.receive_json()
    assert message["type"] == "next", message
    assert message["payload"]["data"]["notifications"] == {
        "eventId": event_id,
        "eventType": REVIEW,
        "title": "A requirement of Customer portal is ready for your review",
        "read": False,
    }


def test_anonymous_cannot_subscribe(api: Api) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription { notifications { id } }"}}
        )
        answer = ws.receive_json()
    errors = answer["payload"]["errors"] if answer["type"] == "next" else answer["payload"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", answer


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    with smtp_server(monkeypatch) as handler:
        yield handler


def test_email_honours_the_same_preferences(api: Api, smtp: Inbox) -> None:
    prefer(api, "carla", eventType=REVIEW, channel="email", enabled=False)
    prefer(api, "mia", eventType="*", channel="email", enabled=False, projectId=api.project_id("portal"))
    # an in-app rule does not touch email
    prefer(api, "sam", eventType=REVIEW, channel="in_app", enabled=False)
    event_id = submit_requirement(api)
    drain(api)
    mailed = {
        to
        for to, message in zip(smtp.envelopes, smtp.messages, strict=True)
        if message["X-Pmflow-Event-Id"] == event_id
        for to in to
    }
    assert "carla@northwind.example" not in mailed and "mia@pmflow.example" not in mailed
    assert {"nils@northwind.example", "sam@pmflow.example"} <= mailed
    with api.built.database.read() as conn:
        stored = conn.execute(
            select(func.count()).select_from(t.notifications).where(t.notifications.c.event_id == event_id)
        ).scalar_one()
    assert stored > 0  # the in-app channel still told those who want it
