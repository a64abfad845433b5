"""The email channel: plain-text mail over SMTP to a project's customer contacts and team, on the few
events that ask something of people (``MAILED``).

Configured from the environment (``SmtpSettings.from_env``): without ``PMFLOW_SMTP_HOST`` the channel is
off (nothing is queued, no consumer). Fan-out as for webhooks: inside the event's transaction, one outbox
row (topic ``email``) per recipient, rendered then; the worker's consumer ``email`` sends each on its own
and retries it with backoff. Each mail carries ``X-Pmflow-Event-Id`` and a ``Message-ID`` derived from the
outbox row, so a mail sent twice (at least once delivery) is recognisable as the same one.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import Connection, select

from pmflow.core.hookspecs import hookimpl
from pmflow.core.outbox import OutboxConsumer, OutboxConsumerError, OutboxDelivery
from pmflow.core.types import HistoryEvent, Subject
from pmflow.domain import tables as t
from pmflow.domain.guards import project_id_of
from pmflow.plugins.channels import NOTIFIED, event_body, event_type, queue
from pmflow.plugins.preferences import email_wanted

TOPIC = "email"
CONSUMER = "email"
TIMEOUT = 15.0

ENV_HOST = "PMFLOW_SMTP_HOST"
ENV_PORT = "PMFLOW_SMTP_PORT"
ENV_FROM = "PMFLOW_SMTP_FROM"
ENV_USER = "PMFLOW_SMTP_USER"
ENV_PASSWORD = "PMFLOW_SMTP_PASSWORD"
ENV_STARTTLS = "PMFLOW_SMTP_STARTTLS"

# Event type -> subject line: the shared who-hears-what map (channels.NOTIFIED) less the iteration steps,
# in-app only (a mail per iteration step would be noise). Every mail goes to the project's customer
# contacts and team members whose preferences (pmflow.plugins.preferences) let it through.
MAILED: Mapping[str, str] = {
    kind: title for kind, (title, _) in NOTIFIED.items() if not kind.startswith("iteration.")
}


class SmtpSettingsError(OutboxConsumerError):
    """The PMFLOW_SMTP_* settings are unusable."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings, ``None`` when ``PMFLOW_SMTP_HOST`` is unset; ``SmtpSettingsError`` naming each
        bad variable."""
        env = os.environ if env is None else env
        host = env.get(ENV_HOST, "").strip()
        if not host:
            return None
        problems = []
        port_text = env.get(ENV_PORT, "25").strip()
        port = int(port_text) if port_text.isdigit() else 0
        if not 0 < port < 65536:
            problems.append(f"{ENV_PORT} must be a port number (1-65535), got {port_text!r}")
        sender = env.get(ENV_FROM, "").strip()
        if "@" not in sender:
            problems.append(f"{ENV_FROM} must be the sender's email address, got {sender!r}")
        user = env.get(ENV_USER) or None
        password = env.get(ENV_PASSWORD) or None
        if (user is None) != (password is None):
            problems.append(f"{ENV_USER} and {ENV_PASSWORD} go together: set both or neither")
        starttls_text = env.get(ENV_STARTTLS, "").strip().lower()
        if starttls_text not in ("", "0", "1", "true", "false", "yes", "no"):
            problems.append(f"{ENV_STARTTLS} must be true or false, got {starttls_text!r}")
        if problems:
            raise SmtpSettingsError("email channel: " + "; ".join(problems))
        starttls = starttls_text in ("1", "true", "yes")
        return cls(host, port, sender, user, password, starttls)


def recipients(connection: Connection, project_id: int) -> list[tuple[str, str]]:
    """(name, email) of the project's customer contacts and active team members, by email, once each."""
    contacts = (
        select(t.contacts.c.name, t.contacts.c.email)
        .join(t.projects, t.projects.c.customer_id == t.contacts.c.customer_id)
        .where(t.projects.c.id == project_id)
    )
    team = (
        select(t.users.c.name, t.users.c.email)
        .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
        .where(t.memberships.c.project_id == project_id, t.users.c.active.is_(True))
    )
    found: dict[str, str] = {}
    for row in [*connection.execute(contacts), *connection.execute(team)]:
        found.setdefault(str(row.email).lower(), str(row.name))
    return sorted(((name, email) for email, name in found.items()), key=lambda pair: pair[1])


@hookimpl
def pmflow_event_recorded(event: HistoryEvent, subject: Subject, connection: Connection) -> None:
    kind = event_type(subject.kind, event.trigger)
    # Only whether the channel is on: bad settings stop the worker at start, never a transition.
    if kind not in MAILED or not os.environ.get(ENV_HOST, "").strip():
        return
    project_id = project_id_of(connection, subject)
    if project_id is None:
        return
    name = connection.execute(select(t.projects.c.name).where(t.projects.c.id == project_id)).scalar()
    subject_line = MAILED[kind].format(project=name or f"project {project_id}")
    body = event_body(event, subject)
    text = (
        f"{subject_line}.\n\n"
        f"{body['subject_kind'].replace('_', ' ').capitalize()} {subject.id} moved from "
        f"{event.from_state} to {event.to_state} ({event.trigger}), by {event.actor_name or event.actor_id}"
        f" at {body['occurred_at']}.\n"
        + (f"\nComment: {event.comment}\n" if event.comment else "")
        + f"\nEvent {event.event_id} - sent by pmflow.\n"
    )
    queue(
        connection,
        event,
        TOPIC,
        (
            {"to": email, "to_name": who, "subject": subject_line, "text": text, "type": kind}
            for who, email in recipients(connection, project_id)
            if email_wanted(connection, project_id, kind, email)
        ),
    )


def message(delivery: OutboxDelivery, sender: str) -> EmailMessage:
    payload = delivery.payload
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = f"{payload['to_name']} <{payload['to']}>"
    mail["Subject"] = str(payload["subject"])
    mail["Date"] = formatdate(delivery.created_at.timestamp())
    # stable across retries: a receiver (or a person) sees a resent mail is the same one
    mail["Message-ID"] = f"<{delivery.event_id}.{delivery.outbox_id}@pmflow>"
    mail["X-Pmflow-Event-Id"] = delivery.event_id
    mail["X-Pmflow-Event-Type"] = str(payload["type"])
    mail.set_content(str(payload["text"]))
    return mail


def sender_for(settings: SmtpSettings) -> OutboxConsumer:
    def send(delivery: OutboxDelivery) -> None:
        with smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user is not None and settings.password is not None:
                smtp.login(settings.user, settings.password)
            smtp.send_message(message(delivery, settings.sender))

    return OutboxConsumer(CONSUMER, send, topics=frozenset({TOPIC}), description="plain-text mail over SMTP")


@hookimpl
def pmflow_outbox_consumers() -> list[OutboxConsumer]:
    settings = SmtpSettings.from_env()
    return [] if settings is None else [sender_for(settings)]
