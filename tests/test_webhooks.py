"""Webhooks: admins register them with ``createWebhook``; the outbox worker POSTs every matching event to a
real local HTTP receiver, signed (``X-Pmflow-Signature: t=<t>,v1=<HMAC-SHA256(secret, "<t>.<body>")>``)
and named (``X-Pmflow-Event-Id``). A receiver that is down or answers 408/429/5xx gets the event again
later; one that refuses (another 4xx) does not; one receiver failing never redelivers to another."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from api_helpers import Api, running_api
from pmflow.core.outbox import RetryPolicy, Worker
from pmflow.core.tables import outbox

CREATE_WEBHOOK = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { id url events active createdAt } errors { code message field } }
}"""
CREATE_RISK = (
    "mutation($input: CreateRiskInput!) { createRisk(input: $input) { risk { id } errors { code } } }"
)
DELIVERIES = """
query($status: String) {
  deliveries(first: 100, status: $status) {
    totalCount nodes { id eventId consumer topic webhookId status attempts lastError }
  }
}"""
RETRY = """
mutation($id: ID!) { retryDelivery(input: {id: $id}) { delivery { status attempts } errors { code } } }"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers the statuses queued in
    ``answers`` (then 200). ``stop`` and ``start`` take it down and bring it back on the same port."""

    port: int = 0
    answers: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer next
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                queued = receiver.answers.get(self.path, [])
                status = queued.pop(0) if queued else 200
                receiver.received.append(Received(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str, status: int | None = 200) -> list[Received]:
        return [r for r in self.received if r.path == path and (status is None or r.status == status)]


class Clock:
    """The worker's clock, moved by hand: backoff without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def verifies(secret: str, received: Received, tolerance: float = 300) -> bool:
    """The receiver's check, as docs/api.md tells it: HMAC-SHA256 of "<t>.<raw body>", recent t."""
    parts = dict(part.split("=", 1) for part in received.headers["X-Pmflow-Signature"].split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - timestamp) < tolerance


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def create_webhook(api: Api, url: str, secret: str, events: list[str], as_: str = "admin") -> dict[str, Any]:
    answer = api.gql(CREATE_WEBHOOK, {"input": {"url": url, "secret": secret, "events": events}}, as_=as_)
    assert not answer.get("errors"), answer
    payload: dict[str, Any] = answer["data"]["createWebhook"]
    return payload


def create_risks(api: Api, count: int) -> list[str]:
    """``count`` risks in portal: one ``risk.create`` event each; their event ids."""
    ids = []
    for number in range(count):
        given = {"projectId": api.project_id("portal"), "title": f"Risk {number}"}
        risk = api.data(CREATE_RISK, {"input": given}, as_="mia")["createRisk"]["risk"]
        ids.append(risk["id"])
    with api.built.database.read() as conn:
        rows = conn.execute(
            select(outbox.c.event_id)
            .where(outbox.c.topic == "event")
            .order_by(outbox.c.id.desc())
            .limit(count)
        )
        return sorted(r.event_id for r in rows)


def worker(api: Api, clock: Clock, **options: Any) -> Worker:
    """The worker as `pmflow worker` builds it: every consumer of the app's plugins."""
    built = api.built
    return Worker.for_plugins(built.database, built.plugins, clock=clock, chance=lambda: 0.0, **options)


def test_events_arrive_signed_with_their_event_id(api: Api, receiver: Receiver) -> None:
    everything = create_webhook(api, receiver.url("/all"), "secret-all", ["*"])
    assert everything["errors"] == []
    assert everything["webhook"]["events"] == ["*"] and everything["webhook"]["active"] is True
    create_webhook(api, receiver.url("/risks"), "secret-risks", ["risk.create"])
    create_webhook(api, receiver.url("/holds"), "secret-holds", ["project.put_on_hold"])
    event_ids = create_risks(api, 2)

    assert worker(api, Clock()).drain() > 0

    for path, secret in (("/all", "secret-all"), ("/risks", "secret-risks")):
        got = receiver.at(path)
        assert sorted(r.headers["X-Pmflow-Event-Id"] for r in got) == event_ids
        for request in got:
            assert request.headers["Content-Type"] == "application/json"
            assert verifies(secret, request)
            assert not verifies("secret-holds", request)  # another webhook's secret does not fit
            event = request.event
            assert event["event_id"] == request.headers["X-Pmflow-Event-Id"]
            assert event["type"] == "risk.create" and event["subject_kind"] == "risk"
            assert event["trigger"] == "create" and event["from_state"] is None and event["to_state"]
            assert event["version"] == 1 and event["actor_name"] == "Mia Manager"
            assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
    assert receiver.at("/holds", None) == []  # it asked for other events only
    # the body signed is the body sent: one changed byte and the signature fails
    tampered = receiver.at("/all")[0]
    assert not verifies("secret-all", Received(tampered.path, tampered.headers, tampered.body + b" ", 200))


def test_receivers_down_then_back_get_every_event_once(api: Api, receiver: Receiver) -> None:
    """One receiver refuses connections, the other answers 503; both come back: every event arrives at
    each, delivered once, signatures verify; the failing one never made the other receive twice."""
    down = Receiver(port=free_port())  # nothing listens yet: connection refused
    create_webhook(api, down.url("/down"), "secret-down", ["*"])
    create_webhook(api, receiver.url("/busy"), "secret-busy", ["risk.create"])
    create_webhook(api, receiver.url("/fine"), "secret-fine", ["risk.create"])
    receiver.answers["/busy"] = [503, 503, 503]
    event_ids = create_risks(api, 3)
    clock = Clock()
    run = worker(api, clock)

    run.drain()
    assert [r.status for r in receiver.at("/busy", None)] == [503, 503, 503]
    assert sorted(r.headers["X-Pmflow-Event-Id"] for r in receiver.at("/fine")) == event_ids
    failed = api.data(DELIVERIES, {"status": "failed"})["deliveries"]["nodes"]
    assert len(failed) == 6 and {d["consumer"] for d in failed} == {"webhooks"}
    assert any("HTTP 503" in d["lastError"] for d in failed)
    assert any("ConnectError" in d["lastError"] for d in failed)

    down.start()
    try:
        clock.advance(6)  # the first backoff is 5 s
        run.drain()
        for path, secret, receiver_ in (
            ("/down", "secret-down", down),
            ("/busy", "secret-busy", receiver),
            ("/fine", "secret-fine", receiver),
        ):
            delivered = receiver_.at(path)
            assert sorted(r.headers["X-Pmflow-Event-Id"] for r in delivered) == event_ids, path
            assert all(verifies(secret, r) for r in delivered), path
        assert len(receiver.at("/fine", None)) == 3  # never redelivered because the others failed
        assert api.data(DELIVERIES, {"status": "failed"})["deliveries"]["totalCount"] == 0
    finally:
        down.stop()


def test_a_refusal_is_not_retried_but_429_and_408_are(api: Api, receiver: Receiver) -> None:
    create_webhook(api, receiver.url("/refuses"), "s1", ["*"])
    create_webhook(api, receiver.url("/throttles"), "s2", ["*"])
    create_webhook(api, receiver.url("/slow"), "s3", ["*"])
    receiver.answers.update({"/refuses": [400, 400], "/throttles": [429], "/slow": [408]})
    (event_id,) = create_risks(api, 1)
    clock = Clock()
    run = worker(api, clock)
    run.drain()
    clock.advance(3600)
    run.drain()
    clock.advance(3600)
    run.drain()
    assert [r.status for r in receiver.at("/refuses", None)] == [400]
    assert [r.status for r in receiver.at("/throttles", None)] == [429, 200]
    assert [r.status for r in receiver.at("/slow", None)] == [408, 200]
    assert {r.headers["X-Pmflow-Event-Id"] for r in receiver.received} == {event_id}
    # the refusal is in the delivery log as dead after one attempt, with the receiver's answer
    log = api.data(
        '{ deliveries(first: 20, status: "dead") { nodes { eventId attempts lastError webhookId } } }'
    )["deliveries"]["nodes"]
    assert [(d["eventId"], d["attempts"]) for d in log] == [(event_id, 1)]
    assert "answered HTTP 400" in log[0]["lastError"] and "not retried" in log[0]["lastError"]


def test_create_webhook_checks_its_input_and_is_for_admins(api: Api, receiver: Receiver) -> None:
    url = receiver.url("/hook")

    def refused(given: dict[str, Any], as_: str | None = "admin") -> list[dict[str, Any]]:
        answer = api.gql(
            CREATE_WEBHOOK, {"input": {"url": url, "secret": "s", "events": ["*"], **given}}, as_=as_
        )
        assert not answer.get("errors"), answer
        payload = answer["data"]["createWebhook"]
        assert payload["webhook"] is None
        errors: list[dict[str, Any]] = payload["errors"]
        return errors

    (error,) = refused({"url": "ftp://127.0.0.1/hook"})
    assert error["code"] == "INVALID_INPUT" and error["field"] == "url" and "http" in error["message"]
    assert refused({"url": "not a url"})[0]["field"] == "url"
    (error,) = refused({"events": ["risk.create", "project.put_on_hol"]})
    assert error["field"] == "events.1"
    assert (
        "'project.put_on_hol'" in error["message"]
        and "did you mean 'project.put_on_hold'" in error["message"]
    )
    assert refused({"events": []})[0]["field"] == "events"
    assert refused({"secret": "  "})[0]["field"] == "secret"
    assert refused({}, as_="mia")[0]["code"] == "NOT_ALLOWED"
    assert refused({}, as_="carla")[0]["code"] == "NOT_ALLOWED"
    assert refused({}, as_=None)[0]["code"] == "UNAUTHENTICATED"
    assert api.data("{ webhooks { id } }")["webhooks"] == []


def test_the_secret_is_never_returned(api: Api, receiver: Receiver) -> None:
    secret = "never-shown-7f3a"
    created = create_webhook(api, receiver.url("/hook"), secret, ["risk.create", "risk.create"])
    assert created["webhook"]["events"] == ["risk.create"]  # once each
    listed = api.gql("{ webhooks { id url events active createdAt } }")
    assert listed["data"]["webhooks"] == [created["webhook"]]
    assert secret not in json.dumps(created) + json.dumps(listed)
    asked = api.gql("{ webhooks { secret } }")
    assert asked.get("errors") and "secret" in asked["errors"][0]["message"]
    assert api.gql("{ webhooks { id } }", as_="mia")["errors"][0]["extensions"]["code"] == "NOT_ALLOWED"


def test_a_deleted_webhook_gets_nothing_more(api: Api, receiver: Receiver) -> None:
    webhook = create_webhook(api, receiver.url("/gone"), "gone-secret", ["*"])["webhook"]
    create_risks(api, 1)
    deleted = api.data(
        "mutation($id: ID!) { deleteWebhook(input: {id: $id}) { webhook { id } errors { code } } }",
        {"id": webhook["id"]},
    )["deleteWebhook"]
    assert deleted == {"webhook": {"id": webhook["id"]}, "errors": []}
    worker(api, Clock()).drain()
    assert receiver.received == []
    with api.built.database.read() as conn:
        payloads = [
            r.payload for r in conn.execute(select(outbox.c.payload).where(outbox.c.topic == "webhook"))
        ]
    assert payloads and all("secret" not in p for p in payloads)  # dropped with the webhook
    again = api.data(
        "mutation($id: ID!) { deleteWebhook(input: {id: $id}) { webhook { id } errors { code } } }",
        {"id": webhook["id"]},
    )["deleteWebhook"]
    assert again["errors"] == [{"code": "NOT_FOUND"}]


def test_a_dead_delivery_can_be_retried_from_the_log(api: Api) -> None:
    down = Receiver(port=free_port())
    create_webhook(api, down.url("/later"), "later-secret", ["risk.create"])
    (event_id,) = create_risks(api, 1)
    clock = Clock()
    run = worker(api, clock, policy=RetryPolicy(max_attempts=1))
    run.drain()
    (dead,) = api.data(DELIVERIES, {"status": "dead"})["deliveries"]["nodes"]
    assert dead["eventId"] == event_id and dead["topic"] == "webhook" and dead["webhookId"]
    retry = RETRY
    assert api.gql(retry, {"id": dead["id"]}, as_="mia")["data"]["retryDelivery"]["errors"] == [
        {"code": "NOT_ALLOWED"}
    ]
    retried = api.data(retry, {"id": dead["id"]})["retryDelivery"]
    assert retried == {"delivery": {"status": "pending", "attempts": 0}, "errors": []}
    down.start()
    try:
        clock.advance(1)
        run.drain()
        (request,) = down.at("/later")
        assert request.headers["X-Pmflow-Event-Id"] == event_id and verifies("later-secret", request)
    finally:
        down.stop()
    again = api.data(retry, {"id": dead["id"]})["retryDelivery"]
    assert again["errors"] == [{"code": "INVALID_INPUT"}]  # delivered: nothing to retry
