"""Sending surveys and reminders: triggered by history events, done by the outbox worker.

1. ``pmflow_event_recorded`` (inside the event's transaction) queues one ``survey.send`` outbox row per
   survey trigger matching the event type: a cheap insert, nothing else.
2. The worker's consumer ``surveys`` then writes, in ONE transaction: the ``surveys`` row (unique per
   (trigger, event id), so a redelivered message is a no-op), one invitation per contact of the
   project's customer with a one-time token (only its SHA-256 is stored), the outbox rows that tell
   each contact (``email`` in the mail channel's format when SMTP was on as the event was recorded,
   ``in_app`` for contacts with an account) and the first ``survey.remind`` row.
3. ``survey.remind`` re-sends to unanswered, unexpired invitations with a new token (the old link stops
   working) and queues the next reminder until ``max_reminders``.

The raw token exists only in the ``email`` outbox payload and the mail itself.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from pmflow.core.database import Database
from pmflow.core.hookspecs import SurveyTrigger, hookimpl
from pmflow.core.outbox import OutboxConsumer, OutboxDelivery, PermanentFailure, pending_row
from pmflow.core.tables import outbox, subjects
from pmflow.core.types import HistoryEvent, Subject
from pmflow.domain import tables as t
from pmflow.domain.guards import project_of
from pmflow.plugins import inapp, mail
from pmflow.plugins.channels import event_type, matches, queue
from pmflow.plugins.surveys.settings import SurveySettings
from pmflow.plugins.surveys.templates import Template

SEND_TOPIC = "survey.send"
REMIND_TOPIC = "survey.remind"
CONSUMER = "surveys"
INVITATION_TYPE = "survey.invitation"
REMINDER_TYPE = "survey.reminder"
# Stable ids of the messages a survey sends (round 0 the invitation, n the n-th reminder): the in-app
# channel stores one notification per (user, event id), and a person can tell a resent mail.
_IDS = uuid.UUID("3f0d7e0c-52a4-4a8e-9d55-5c0a4c3b1a70")

Clock = Callable[[], datetime]


def token_hash(token: str) -> str:
    """What is stored of a survey token: 256 random bits need no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def message_id(survey_id: int, kind: str, round_: int) -> str:
    return str(uuid.uuid5(_IDS, f"survey:{survey_id}:{kind}:{round_}"))


def answer_link(base: str, token: str) -> str:
    parts = urlsplit(base)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"token": token})))


def email_on() -> bool:
    """Whether the email channel is on (as ``pmflow.plugins.mail`` decides when an event is recorded)."""
    return bool(os.environ.get(mail.ENV_HOST, "").strip())


@dataclass(frozen=True)
class _Invitee:
    invitation_id: int
    name: str
    email: str
    user_id: int | None
    token: str


class SurveySender:
    """The triggers' fan-out and the ``surveys`` outbox consumer of one app's database."""

    def __init__(
        self,
        database: Database,
        templates: Mapping[str, Template],
        triggers: Mapping[str, SurveyTrigger],
        settings: SurveySettings,
        clock: Clock,
    ) -> None:
        self.database = database
        self.templates = templates
        self.triggers = triggers
        self.settings = settings
        self.clock = clock

    # ---- in the event's transaction ------------------------------------------------------------
    @hookimpl
    def pmflow_event_recorded(self, event: HistoryEvent, subject: Subject, connection: Connection) -> None:
        type_ = event_type(subject.kind, event.trigger)
        wanted = [trigger for trigger in self.triggers.values() if matches([trigger.event], type_)]
        if not wanted:
            return
        email = email_on()
        queue(
            connection,
            event,
            SEND_TOPIC,
            (
                {
                    "trigger": trigger.name,
                    "template": trigger.survey,
                    "subject_id": subject.id,
                    "subject_kind": subject.kind,
                    "event_type": type_,
                    "email": email,
                }
                for trigger in wanted
            ),
        )

    @hookimpl
    def pmflow_outbox_consumers(self) -> list[OutboxConsumer]:
        return [
            OutboxConsumer(
                CONSUMER,
                self.deliver,
                topics=frozenset({SEND_TOPIC, REMIND_TOPIC}),
                description="sends customer surveys and their reminders",
            )
        ]

    # ---- in the worker ---------------------------------------------------------------------------
    def deliver(self, delivery: OutboxDelivery) -> None:
        if delivery.topic != SEND_TOPIC:
            self.remind(delivery)
            return
        try:
            self.send(delivery)
        except IntegrityError:
            # Another worker sent the same survey meanwhile: delivered, exactly once. Any other
            # constraint failure is raised, so the delivery is retried and ends dead, never dropped.
            s = t.surveys
            with self.database.read() as conn:
                sent = conn.execute(
                    select(s.c.id).where(
                        s.c.trigger == delivery.payload["trigger"], s.c.event_id == delivery.event_id
                    )
                ).first()
            if sent is None:
                raise

    def send(self, delivery: OutboxDelivery) -> int | None:
        """Create the survey of one trigger occurrence; its id (None when there is nothing to ask about)."""
        payload = delivery.payload
        name = str(payload["template"])
        template = self.templates.get(name)
        if template is None:
            raise PermanentFailure(f"no survey template '{name}' (trigger '{payload['trigger']}')")
        now = self.clock()
        s = t.surveys
        with self.database.write() as conn:
            done = conn.execute(
                select(s.c.id).where(s.c.trigger == payload["trigger"], s.c.event_id == delivery.event_id)
            ).scalar()
            if done is not None:
                return int(done)  # a redelivered message: everything was written with the survey
            project_id = project_of(conn, str(payload["subject_kind"]), int(payload["subject_id"]))
            if project_id is None:
                return None
            survey_id = int(
                conn.execute(
                    insert(s)
                    .values(
                        project_id=project_id,
                        template=template.name,
                        trigger=str(payload["trigger"]),
                        kind=template.kind,
                        title=template.title,
                        questions=[q.as_json() for q in template.questions],
                        event_id=delivery.event_id,
                        subject_id=int(payload["subject_id"]),
                        sent_at=now,
                        closes_at=now + template.answer_within,
                    )
                    .returning(s.c.id)
                ).scalar_one()
            )
            invitees = self._invite(conn, survey_id, project_id, now, now + template.answer_within)
            email = bool(payload.get("email"))
            # due at once: stamped with the message's own time, never later than the worker's clock
            self._tell(conn, survey_id, project_id, invitees, now, delivery.created_at, email=email, round_=0)
            if invitees and self.settings.max_reminders > 0:
                self._queue_reminder(conn, survey_id, now + self.settings.remind_after, 1, email, now)
            return survey_id

    def remind(self, delivery: OutboxDelivery) -> int:
        """Remind the unanswered, unexpired invitations of one survey (a new token each); how many."""
        payload = delivery.payload
        survey_id, round_ = int(payload["survey_id"]), int(payload["round"])
        email = bool(payload.get("email"))
        now = self.clock()
        i = t.survey_invitations
        with self.database.write() as conn:
            survey = conn.execute(select(t.surveys).where(t.surveys.c.id == survey_id)).first()
            if survey is None:
                return 0
            # reminders < round: an invitation reminded for this round already (a redelivery) is skipped
            open_ = and_(
                i.c.survey_id == survey_id,
                i.c.answered_at.is_(None),
                i.c.expires_at > now,
                i.c.reminders < round_,
            )
            rows = conn.execute(
                select(i.c.id, t.contacts.c.name, t.contacts.c.email, t.contacts.c.user_id)
                .join(t.contacts, t.contacts.c.id == i.c.contact_id)
                .where(open_)
                .order_by(i.c.id)
            ).all()
            invitees = []
            for row in rows:
                token, hashed = new_token()
                changed = conn.execute(
                    update(i)
                    .where(open_, i.c.id == row.id)
                    .values(token_hash=hashed, reminders=round_, reminded_at=now)
                ).rowcount
                if changed:
                    invitees.append(_Invitee(int(row.id), str(row.name), str(row.email), row.user_id, token))
            due = datetime.fromisoformat(str(payload["due_at"]))
            self._tell(
                conn, survey_id, int(survey.project_id), invitees, now, due, email=email, round_=round_
            )
            still_open = conn.execute(
                select(i.c.id).where(
                    i.c.survey_id == survey_id, i.c.answered_at.is_(None), i.c.expires_at > now
                )
            ).first()
            if round_ < self.settings.max_reminders and still_open is not None:
                self._queue_reminder(
                    conn, survey_id, due + self.settings.remind_after, round_ + 1, email, now
                )
            return len(invitees)

    # ---- helpers -----------------------------------------------------------------------------------
    def _invite(
        self, conn: Connection, survey_id: int, project_id: int, now: datetime, expires: datetime
    ) -> list[_Invitee]:
        contacts = conn.execute(
            select(t.contacts.c.id, t.contacts.c.name, t.contacts.c.email, t.contacts.c.user_id)
            .join(t.projects, t.projects.c.customer_id == t.contacts.c.customer_id)
            .where(t.projects.c.id == project_id)
            .order_by(t.contacts.c.id)
        ).all()
        invitees = []
        for contact in contacts:
            token, hashed = new_token()
            invitation_id = conn.execute(
                insert(t.survey_invitations)
                .values(
                    survey_id=survey_id,
                    contact_id=contact.id,
                    token_hash=hashed,
                    expires_at=expires,
                    sent_at=now,
                    reminders=0,
                )
                .returning(t.survey_invitations.c.id)
            ).scalar_one()
            invitees.append(
                _Invitee(int(invitation_id), str(contact.name), str(contact.email), contact.user_id, token)
            )
        return invitees

    def _tell(
        self,
        conn: Connection,
        survey_id: int,
        project_id: int,
        invitees: list[_Invitee],
        now: datetime,
        available: datetime,
        *,
        email: bool,
        round_: int,
    ) -> None:
        """The email and in-app messages of one round, in the formats of those channels' consumers."""
        if not invitees:
            return
        survey = conn.execute(select(t.surveys).where(t.surveys.c.id == survey_id)).one()
        project = conn.execute(select(t.projects.c.name).where(t.projects.c.id == project_id)).scalar()
        project_name = str(project or f"project {project_id}")
        reminder = round_ > 0
        type_ = REMINDER_TYPE if reminder else INVITATION_TYPE
        subject_line = f"{'Reminder: ' if reminder else ''}{survey.title} ({project_name})"
        closes = survey.closes_at.strftime("%Y-%m-%d %H:%M UTC")
        users = {
            int(row.id)
            for row in conn.execute(
                select(t.users.c.id).where(
                    t.users.c.id.in_([i.user_id for i in invitees if i.user_id is not None]),
                    t.users.c.active.is_(True),
                )
            )
        }
        rows: list[dict[str, Any]] = []
        event_id = message_id(survey_id, "tell", round_)
        for invitee in invitees:
            if email:
                text = (
                    f"Hello {invitee.name},\n\n"
                    f"{project_name}: {survey.title}\n"
                    f"It takes a minute; your answer goes to the team of {project_name}.\n\n"
                    f"Answer here (the link is yours alone and works once, until {closes}):\n"
                    f"{answer_link(self.settings.answer_url, invitee.token)}\n"
                    + ("\nThis reminder replaces the link of earlier mails.\n" if reminder else "")
                    + f"\nSurvey {survey_id} - sent by pmflow.\n"
                )
                rows.append(
                    pending_row(
                        event_id,
                        mail.TOPIC,
                        int(survey.subject_id or project_id),
                        {
                            "to": invitee.email,
                            "to_name": invitee.name,
                            "subject": subject_line,
                            "text": text,
                            "type": type_,
                        },
                        now,
                    )
                )
            if invitee.user_id is not None and int(invitee.user_id) in users:
                rows.append(
                    pending_row(
                        event_id,
                        inapp.TOPIC,
                        int(survey.subject_id or project_id),
                        {
                            "user_id": int(invitee.user_id),
                            "type": type_,
                            "project_id": project_id,
                            "subject_id": int(survey.subject_id or project_id),
                            "title": subject_line,
                            "body": f"Please answer the survey '{survey.title}' of {project_name} "
                            f"(your pending surveys are in the app) by {closes}.",
                        },
                        now,
                    )
                )
        for row in rows:
            row["available_at"] = min(now, available)
        if rows:
            conn.execute(insert(outbox), rows)

    def _queue_reminder(
        self, conn: Connection, survey_id: int, due: datetime, round_: int, email: bool, now: datetime
    ) -> None:
        event_id = message_id(survey_id, "remind", round_)
        queued = conn.execute(
            select(outbox.c.id).where(outbox.c.event_id == event_id, outbox.c.topic == REMIND_TOPIC)
        ).first()
        if queued is not None:
            return
        subject_id = conn.execute(
            select(t.surveys.c.project_id).where(t.surveys.c.id == survey_id)
        ).scalar_one()
        row = pending_row(
            event_id,
            REMIND_TOPIC,
            int(subject_id),
            {"survey_id": survey_id, "round": round_, "due_at": due.isoformat(), "email": email},
            now,
            available_at=due,
        )
        conn.execute(insert(outbox).values(**row))


def subject_kind(conn: Connection, subject_id: int | None) -> str | None:
    if subject_id is None:
        return None
    found = conn.execute(select(subjects.c.kind).where(subjects.c.id == subject_id)).scalar()
    return None if found is None else str(found)
