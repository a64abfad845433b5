"""The email channel: events that ask something of people (docs/plugins.md, "Email") are mailed over
SMTP, as plain text, to the project's customer contacts and team: tested against a real aiosmtpd
server. Each mail carries the event id, so a mail sent again after a failure is recognisable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api_helpers import Api, running_api
from mail_helpers import Inbox, smtp_server
from pmflow.core.outbox import OutboxConsumerError, Worker
from pmflow.core.tables import outbox
from pmflow.domain import tables as t
from pmflow.plugins.mail import SmtpSettings


@pytest.fixture
def inbox(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A running SMTP server, configured after the demo data is loaded (the demo's history is not mailed)."""
    with smtp_server(monkeypatch) as handler:
        yield handler


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def submit_requirement(api: Api) -> str:
    """A new portal requirement submitted for review (a mailed event); its event id."""
    domain, sam = api.domain, api.actor("sam")
    data = {
        "title": "Export to CSV",
        "acceptance_criteria": ["a file"],
        "priority": "high",
        "source": "workshop",
    }
    row = domain.requirements.create(sam, api.demo.projects["portal"], data)
    event = domain.fire(sam, row["id"], "submit_for_review")
    return str(event.event.event_id)


def expected_recipients(api: Api) -> set[str]:
    portal = api.demo.projects["portal"]
    with api.built.database.read() as conn:
        customer = conn.execute(
            select(t.projects.c.customer_id).where(t.projects.c.id == portal)
        ).scalar_one()
        contacts = conn.execute(
            select(t.contacts.c.email).where(t.contacts.c.customer_id == customer)
        ).scalars()
        team = conn.execute(
            select(t.users.c.email)
            .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
            .where(t.memberships.c.project_id == portal)
        ).scalars()
        return {e.lower() for e in [*contacts, *team]}


def test_a_review_invitation_is_mailed_to_the_customer_and_team(api: Api, inbox: Inbox) -> None:
    event_id = submit_requirement(api)
    Worker.for_plugins(api.built.database, api.built.plugins, clock=Clock()).drain()

    recipients = expected_recipients(api)
    assert "carla@northwind.example" in recipients and len(recipients) >= 3
    assert {rcpt.lower() for rcpts in inbox.envelopes for rcpt in rcpts} == recipients
    assert all(len(rcpts) == 1 for rcpts in inbox.envelopes)  # one mail each: nobody sees other addresses
    for mail in inbox.messages:
        assert mail["From"] == "pmflow@pmflow.example"
        assert mail["X-Pmflow-Event-Id"] == event_id
        assert mail["Subject"] == "A requirement of Customer portal is ready for your review"
        assert mail.get_content_type() == "text/plain"
        text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "draft to under_review" in text and event_id in text


def test_a_mail_refused_for_now_is_sent_again_recognisably(api: Api, inbox: Inbox) -> None:
    inbox.refuse = 1
    event_id = submit_requirement(api)
    clock = Clock()
    worker = Worker.for_plugins(api.built.database, api.built.plugins, clock=clock, chance=lambda: 0.0)
    worker.drain()
    count = len(expected_recipients(api))
    assert len(inbox.messages) == count - 1  # the first mail was refused with 451
    clock.now += timedelta(seconds=6)
    worker.drain()
    assert len(inbox.messages) == count
    assert {m["X-Pmflow-Event-Id"] for m in inbox.messages} == {event_id}
    assert len({m["Message-ID"] for m in inbox.messages}) == count


def test_events_nobody_is_asked_about_send_no_mail(api: Api, inbox: Inbox) -> None:
    domain, mia = api.domain, api.actor("mia")
    domain.risks.create(mia, api.demo.projects["portal"], {"title": "Late"})
    Worker.for_plugins(api.built.database, api.built.plugins, clock=Clock()).drain()
    assert inbox.messages == []


def test_without_smtp_settings_the_channel_is_off(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PMFLOW_SMTP_HOST", "PMFLOW_SMTP_PORT", "PMFLOW_SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    with running_api(database_url) as api:
        submit_requirement(api)
        with api.built.database.read() as conn:
            assert conn.execute(select(outbox.c.id).where(outbox.c.topic == "email")).first() is None
        worker = Worker.for_plugins(api.built.database, api.built.plugins)
        assert "email" not in worker.consumers


def test_bad_smtp_settings_are_named() -> None:
    assert SmtpSettings.from_env({}) is None
    with pytest.raises(OutboxConsumerError) as raised:
        SmtpSettings.from_env(
            {"PMFLOW_SMTP_HOST": "mail", "PMFLOW_SMTP_PORT": "smtp", "PMFLOW_SMTP_USER": "u"}
        )
    message = str(raised.value)
    assert "PMFLOW_SMTP_PORT must be a port number" in message and "'smtp'" in message
    assert "PMFLOW_SMTP_FROM" in message and "PMFLOW_SMTP_PASSWORD" in message
    settings = SmtpSettings.from_env(
        {"PMFLOW_SMTP_HOST": "mail", "PMFLOW_SMTP_FROM": "a@b.example", "PMFLOW_SMTP_STARTTLS": "true"}
    )
    assert settings == SmtpSettings("mail", 25, "a@b.example", starttls=True)
