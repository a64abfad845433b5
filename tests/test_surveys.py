"""Customer surveys end to end (docs/surveys.md): an iteration review fired through the API sends a CSAT
survey to the customer's contacts (a real SMTP server receives the token links, the in-app channel the
contacts with accounts); answered by token without an account or signed in by survey id; tokens that
are reused, expired, replaced or made up are refused; bad answers are all reported and nothing is
written; a low score raises a feedback item and a health check; reminders rotate the token and stop;
redelivered messages send nothing twice; results and visibility per viewer."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from api_helpers import Api, global_id, running_api
from mail_helpers import Inbox, smtp_server
from pmflow.core.errors import PmflowError
from pmflow.core.outbox import OutboxDelivery, Worker
from pmflow.core.tables import events, outbox, subjects, timers
from pmflow.domain import tables as t
from pmflow.plugins.surveys import SENDER_PLUGIN, answering, settings_of
from pmflow.plugins.surveys.sending import REMIND_TOPIC, SEND_TOPIC, SurveySender, new_token, token_hash
from pmflow.plugins.surveys.templates import BUILT_IN, Question, load_templates

FIRE = """mutation($input: FireTransitionInput!) {
  fireTransition(input: $input) { event { eventId } errors { code message } } }"""
FORM = """query($token: String!) { surveyInvitation(token: $token) {
  surveyId title kind projectName expiresAt answered questions { key kind required min max } } }"""
ANSWER = """mutation($input: AnswerSurveyInput!) { answerSurvey(input: $input) {
  form { surveyId answered } errors { code message field } } }"""
PENDING = "{ pendingSurveys { surveyId title projectName answered } }"
SURVEYS = """query($projectId: ID!) { surveys(projectId: $projectId, first: 50) { totalCount nodes {
  id template trigger kind title invited answered
  responses { score answeredVia answers { question value text } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Survey { title responses { score } } } }"
RESULTS = """query($projectId: ID) { surveyResults(projectId: $projectId, period: MONTH) {
  invited answered responseRate csat csatResponses nps npsResponses
  periods { start invited csat } trend { csat } } }"""
LINK = re.compile(r"\?token=([A-Za-z0-9_\-]+)")


class Clock:
    """The worker's clock: real time moved forward by ``ahead`` (the messages the surveys consumer
    writes are stamped with the app's clock, real time)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


@pytest.fixture
def smtp(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A real SMTP server, switched on after the demo data (whose surveys are therefore not mailed)."""
    with smtp_server(monkeypatch) as handler:
        yield handler


def write_survey(
    api: Api,
    project: str = "portal",
    *,
    questions: Sequence[Question] | None = None,
    template: str = "csat",
    title: str = "Probe survey",
) -> tuple[int, int, str]:
    """A survey of the project written directly (the built-in csat questions unless given), with an
    open invitation of one of its customer's contacts: (survey id, invitation id, its token)."""
    project_id = api.demo.projects[project]
    now = api.built.engine.clock()
    token, hashed = new_token()
    asked = questions if questions is not None else load_templates([BUILT_IN])["csat"].questions
    with api.built.database.write() as conn:
        survey_id = conn.execute(
            insert(t.surveys)
            .values(
                project_id=project_id,
                template=template,
                trigger="probe",
                kind="csat",
                title=title,
                questions=[q.as_json() for q in asked],
                event_id=None,
                subject_id=project_id,
                sent_at=now,
                closes_at=now + timedelta(days=14),
            )
            .returning(t.surveys.c.id)
        ).scalar_one()
        contact = conn.execute(
            select(t.contacts.c.id)
            .join(t.projects, t.projects.c.customer_id == t.contacts.c.customer_id)
            .where(t.projects.c.id == project_id)
            .order_by(t.contacts.c.id)
            .limit(1)
        ).scalar_one()
        invitation = conn.execute(
            insert(t.survey_invitations)
            .values(
                survey_id=survey_id,
                contact_id=contact,
                token_hash=hashed,
                expires_at=now + timedelta(days=14),
                sent_at=now,
                reminders=0,
            )
            .returning(t.survey_invitations.c.id)
        ).scalar_one()
    return int(survey_id), int(invitation), token


def open_survey(api: Api, project: str = "portal") -> tuple[int, str]:
    """``write_survey`` for probes that need a survey to exist: (survey id, token)."""
    survey_id, _, token = write_survey(api, project)
    return survey_id, token


def worker(api: Api, clock: Clock | None = None) -> Worker:
    return Worker.for_plugins(
        api.built.database, api.built.plugins, clock=clock or Clock(), chance=lambda: 0.0
    )


def contact_id(api: Api, email: str) -> int:
    with api.built.database.read() as conn:
        return int(conn.execute(select(t.contacts.c.id).where(t.contacts.c.email == email)).scalar_one())


def review_iteration(api: Api) -> str:
    """Portal's running iteration through its review with the customer, `complete_review` fired through
    the API by the manager; the event id."""
    domain, mia, portal = api.domain, api.actor("mia"), api.demo.projects["portal"]
    with api.built.database.read() as conn:
        iteration = conn.execute(
            select(t.iterations.c.id)
            .join(subjects, subjects.c.id == t.iterations.c.id)
            .where(t.iterations.c.project_id == portal, subjects.c.state == "active")
        ).scalar_one()
    domain.fire(mia, iteration, "finish_work")
    carla = contact_id(api, "carla@northwind.example")
    domain.meetings.record(
        mia,
        portal,
        {
            "kind": "iteration_review",
            "held_on": date.today().isoformat(),
            "iteration_id": iteration,
            "attendee_user_ids": [api.demo.users["mia"]],
            "attendee_contact_ids": [carla],
        },
    )
    domain.feedback.record(
        api.actor("carla"),
        portal,
        {"contact_id": carla, "iteration_id": iteration, "rating": 4, "text": "ok"},
    )
    fired = api.data(
        FIRE, {"input": {"id": global_id("Iteration", iteration), "trigger": "complete_review"}}, as_="mia"
    )["fireTransition"]
    assert fired["errors"] == []
    return str(fired["event"]["eventId"])


def survey_of(api: Api, event_id: str) -> Any:
    with api.built.database.read() as conn:
        return conn.execute(select(t.surveys).where(t.surveys.c.event_id == event_id)).one()


def invitations(api: Api, survey_id: int) -> dict[str, Any]:
    """The survey's invitations by contact email."""
    i = t.survey_invitations
    with api.built.database.read() as conn:
        rows = conn.execute(
            select(i, t.contacts.c.email)
            .join(t.contacts, t.contacts.c.id == i.c.contact_id)
            .where(i.c.survey_id == survey_id)
        ).all()
    return {str(r.email): r for r in rows}


def tokens_mailed(inbox: Inbox, survey_id: int) -> dict[str, str]:
    """The newest token link mailed to each recipient for the survey."""
    found = {}
    for mail, rcpts in zip(inbox.messages, inbox.envelopes, strict=True):
        text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        if f"Survey {survey_id} " in text:
            found[rcpts[0]] = LINK.findall(text)[0]
    return found


def answer(api: Api, given: dict[str, Any], *, as_: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = api.data(ANSWER, {"input": given}, as_=as_)["answerSurvey"]
    return result


def sent_survey(api: Api, inbox: Inbox) -> tuple[Any, dict[str, str]]:
    event_id = review_iteration(api)
    worker(api).drain()
    survey = survey_of(api, event_id)
    return survey, tokens_mailed(inbox, survey.id)


def test_a_review_sends_a_survey_answered_by_token_once(api: Api, smtp: Inbox) -> None:
    # given an iteration review completed through the API, and the worker drained
    survey, tokens = sent_survey(api, smtp)
    # then a CSAT survey about the iteration went to both Northwind contacts, by mail with a link each
    assert (survey.trigger, survey.template, survey.kind) == ("after_iteration_review", "csat", "csat")
    invited = invitations(api, survey.id)
    assert set(invited) == {"carla@northwind.example", "nils@northwind.example"}
    assert set(tokens) == set(invited)
    mail = smtp.messages[smtp.envelopes.index(["nils@northwind.example"])]
    assert mail["X-Pmflow-Event-Type"] == "survey.invitation" and "Customer portal" in mail["Subject"]
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"http://127.0.0.1:8000/survey?token={tokens['nils@northwind.example']}\r\n" in text
    # only the hash of each token is stored
    for email, token in tokens.items():
        assert invited[email].token_hash == token_hash(token) and token not in str(invited[email])
        assert invited[email].expires_at == survey.closes_at == survey.sent_at + timedelta(days=14)
    # carla has an account: she is told in the app too
    with api.built.database.read() as conn:
        told = conn.execute(
            select(t.notifications.c.user_id).where(t.notifications.c.event_type == "survey.invitation")
        ).scalars()
        assert api.demo.users["carla"] in set(told)

    # when Nils opens his link: the form, no account needed
    token = tokens["nils@northwind.example"]
    form = api.data(FORM, {"token": token}, as_=None)["surveyInvitation"]
    assert form["title"] == survey.title and form["projectName"] == "Customer portal"
    assert [q["key"] for q in form["questions"]] == ["satisfaction", "comment"]
    assert form["questions"][0] == {
        "key": "satisfaction",
        "kind": "csat",
        "required": True,
        "min": 1,
        "max": 5,
    }
    assert form["answered"] is False
    # and answers with it
    done = answer(api, {"token": token, "answers": [{"question": "satisfaction", "value": 5}]})
    assert done["errors"] == [] and done["form"]["answered"] is True
    row = invitations(api, survey.id)["nils@northwind.example"]
    assert (row.answered_via, row.score, row.answers) == ("token", 5, {"satisfaction": 5})
    # then the same token again is refused, and the form says it is answered
    again = answer(api, {"token": token, "answers": [{"question": "satisfaction", "value": 1}]})
    assert [e["code"] for e in again["errors"]] == ["ALREADY_ANSWERED"] and again["form"] is None
    assert invitations(api, survey.id)["nils@northwind.example"].score == 5
    assert api.data(FORM, {"token": token}, as_=None)["surveyInvitation"]["answered"] is True


def test_made_up_and_expired_tokens_are_refused_without_saying_more(api: Api, smtp: Inbox) -> None:
    survey, tokens = sent_survey(api, smtp)
    made_up = api.gql(FORM, {"token": "x" * 43}, as_=None)
    assert [e["extensions"]["code"] for e in made_up["errors"]] == ["INVALID_TOKEN"]
    assert survey.title not in str(made_up) and "Customer portal" not in str(made_up)
    token = tokens["nils@northwind.example"]
    with api.built.database.write() as conn:
        conn.execute(
            update(t.survey_invitations)
            .where(t.survey_invitations.c.token_hash == token_hash(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = api.gql(FORM, {"token": token}, as_=None)
    assert [e["extensions"]["code"] for e in expired["errors"]] == ["TOKEN_EXPIRED"]
    assert survey.title not in str(expired)
    refused = answer(api, {"token": token, "answers": [{"question": "satisfaction", "value": 4}]})
    assert [e["code"] for e in refused["errors"]] == ["TOKEN_EXPIRED"]
    assert invitations(api, survey.id)["nils@northwind.example"].answered_at is None
    bad = answer(api, {"token": "nope", "answers": []})
    assert [e["code"] for e in bad["errors"]] == ["INVALID_TOKEN"]


def test_every_bad_answer_is_named_and_nothing_is_written(api: Api, smtp: Inbox) -> None:
    survey, tokens = sent_survey(api, smtp)
    token = tokens["nils@northwind.example"]
    given = {
        "token": token,
        "answers": [
            {"question": "satisfaction", "value": 6},
            {"question": "comment", "text": "x" * 2001},
            {"question": "colour", "text": "blue"},
        ],
    }
    refused = answer(api, given)
    assert refused["form"] is None
    found = {(e["code"], e["field"]) for e in refused["errors"]}
    assert found == {
        ("INVALID_INPUT", "answers.satisfaction"),
        ("INVALID_INPUT", "answers.comment"),
        ("INVALID_INPUT", "answers.colour"),
    }
    messages = " ".join(e["message"] for e in refused["errors"])
    assert "6 is out of range: give 1 to 5" in messages and "at most 2000" in messages
    missing = answer(api, {"token": token, "answers": [{"question": "comment", "text": "fine"}]})
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("INVALID_INPUT", "answers.satisfaction")]
    wrong_kind = answer(api, {"token": token, "answers": [{"question": "satisfaction", "text": "five"}]})
    assert [e["field"] for e in wrong_kind["errors"]] == ["answers.satisfaction"]
    row = invitations(api, survey.id)["nils@northwind.example"]
    assert row.answered_at is None and row.answers is None
    with api.built.database.read() as conn:
        assert (
            conn.execute(select(t.feedback.c.id).where(t.feedback.c.survey_id == survey.id)).first() is None
        )
    # and the token still works for a good answer
    assert (
        answer(api, {"token": token, "answers": [{"question": "satisfaction", "value": 4}]})["errors"] == []
    )


def test_a_signed_in_contact_answers_by_survey_id_and_other_customers_cannot(api: Api, smtp: Inbox) -> None:
    survey, _ = sent_survey(api, smtp)
    gid = global_id("Survey", survey.id)
    pending = api.data(PENDING, as_="carla")["pendingSurveys"]
    assert gid in [p["surveyId"] for p in pending]
    # another customer: as if the survey did not exist, and nothing of it to read
    made_up = global_id("Survey", 999_999)
    ben = answer(api, {"surveyId": gid, "answers": [{"question": "satisfaction", "value": 1}]}, as_="ben")
    unknown = answer(
        api, {"surveyId": made_up, "answers": [{"question": "satisfaction", "value": 1}]}, as_="ben"
    )
    assert [e["code"] for e in ben["errors"]] == ["NOT_FOUND"]
    assert ben == unknown
    assert gid not in str(api.data(PENDING, as_="ben"))
    assert api.data(NODE, {"id": gid}, as_="ben")["node"] is None
    listed = api.data(SURVEYS, {"projectId": api.project_id("portal")}, as_="ben")["surveys"]
    assert listed["totalCount"] == 0 and listed["nodes"] == []
    # the team does not answer for the customer; anonymous needs a token
    team = answer(api, {"surveyId": gid, "answers": [{"question": "satisfaction", "value": 5}]}, as_="mia")
    assert [e["code"] for e in team["errors"]] == ["NOT_ALLOWED"]
    nobody = answer(api, {"surveyId": gid, "answers": [{"question": "satisfaction", "value": 5}]})
    assert [e["code"] for e in nobody["errors"]] == ["UNAUTHENTICATED"]
    # carla answers signed in
    done = answer(
        api,
        {
            "surveyId": gid,
            "answers": [{"question": "satisfaction", "value": 4}, {"question": "comment", "text": "Good"}],
        },
        as_="carla",
    )
    assert done["errors"] == [] and done["form"]["answered"] is True
    row = invitations(api, survey.id)["carla@northwind.example"]
    assert (row.answered_via, row.score, row.answers) == (
        "account",
        4,
        {"satisfaction": 4, "comment": "Good"},
    )
    assert gid not in [p["surveyId"] for p in api.data(PENDING, as_="carla")["pendingSurveys"]]
    again = answer(api, {"surveyId": gid, "answers": [{"question": "satisfaction", "value": 4}]}, as_="carla")
    assert [e["code"] for e in again["errors"]] == ["ALREADY_ANSWERED"]
    # the customer sees the survey but not the answers; the team sees both
    mine = api.data(NODE, {"id": gid}, as_="carla")["node"]
    assert mine == {"id": gid, "title": survey.title, "responses": None}
    team_view = api.data(NODE, {"id": gid}, as_="mia")["node"]
    assert team_view["responses"] == [{"score": 4}]


def test_a_low_score_raises_feedback_and_a_health_check(api: Api, smtp: Inbox) -> None:
    survey, tokens = sent_survey(api, smtp)
    nils = contact_id(api, "nils@northwind.example")
    given = {
        "token": tokens["nils@northwind.example"],
        "answers": [{"question": "satisfaction", "value": 2}, {"question": "comment", "text": "Too slow"}],
    }
    assert answer(api, given)["errors"] == []
    with api.built.database.read() as conn:
        item = conn.execute(select(t.feedback).where(t.feedback.c.survey_id == survey.id)).one()
        checks = conn.execute(
            select(outbox.c.payload).where(
                outbox.c.topic == "health.check", outbox.c.subject_id == survey.project_id
            )
        ).all()
    assert (item.project_id, item.contact_id, item.iteration_id, item.rating) == (
        survey.project_id,
        nils,
        survey.subject_id,
        2,
    )
    assert "2/5" in item.text and "Too slow" in item.text
    assert [c.payload["reason"] for c in checks].count("survey answer") == 1
    # Nils's answer is the team's to act on: his colleague Carla reads it nowhere
    said = global_id("Feedback", item.id)
    seen = (
        "query($p: ID!, $f: ID!) { node(id: $f) { id } project: node(id: $p) { ... on Project {"
        " feedback(first: 50) { nodes { id text } } progressReport { markdown } } } }"
    )
    project = global_id("Project", survey.project_id)
    team = api.data(seen, {"p": project, "f": said}, as_="mia")
    customer = api.data(seen, {"p": project, "f": said}, as_="carla")
    assert team["node"] == {"id": said} and customer["node"] is None
    assert said in [f["id"] for f in team["project"]["feedback"]["nodes"]]
    assert said not in [f["id"] for f in customer["project"]["feedback"]["nodes"]]
    assert customer["project"]["feedback"]["nodes"], "Carla still reads the feedback not from surveys"
    assert "Too slow" in team["project"]["progressReport"]["markdown"]
    assert "Too slow" not in customer["project"]["progressReport"]["markdown"]
    # a good score raises nothing
    fine = {"surveyId": global_id("Survey", survey.id), "answers": [{"question": "satisfaction", "value": 3}]}
    assert answer(api, fine, as_="carla")["errors"] == []
    with api.built.database.read() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(t.feedback).where(t.feedback.c.survey_id == survey.id)
            ).scalar_one()
            == 1
        )


def test_reminders_rotate_the_token_and_stop_at_max_reminders(api: Api, smtp: Inbox) -> None:
    clock = Clock()
    event_id = review_iteration(api)
    worker(api, clock).drain()
    survey = survey_of(api, event_id)
    first = tokens_mailed(smtp, survey.id)
    # Carla answers; Nils does not
    done = answer(
        api,
        {"token": first["carla@northwind.example"], "answers": [{"question": "satisfaction", "value": 5}]},
    )
    assert done["errors"] == []
    # nothing is due before remind_after (P3D)
    clock.ahead += timedelta(days=2)
    sent = len(smtp.messages)
    worker(api, clock).drain()
    assert len(smtp.messages) == sent
    # then the first reminder: to Nils only, with a new token; his old link stops working
    clock.ahead += timedelta(days=1, minutes=1)
    worker(api, clock).drain()
    second = tokens_mailed(smtp, survey.id)
    reminder = smtp.messages[-1]
    assert len(smtp.messages) == sent + 1 and reminder["Subject"].startswith("Reminder: ")
    assert second["nils@northwind.example"] != first["nils@northwind.example"]
    stale = answer(
        api, {"token": first["nils@northwind.example"], "answers": [{"question": "satisfaction", "value": 3}]}
    )
    assert [e["code"] for e in stale["errors"]] == ["INVALID_TOKEN"]
    row = invitations(api, survey.id)["nils@northwind.example"]
    assert row.reminders == 1 and row.reminded_at is not None
    assert row.token_hash == token_hash(second["nils@northwind.example"])
    # the second reminder, then no more (max_reminders 2)
    clock.ahead += timedelta(days=3, minutes=1)
    worker(api, clock).drain()
    assert len(smtp.messages) == sent + 2
    assert invitations(api, survey.id)["nils@northwind.example"].reminders == 2
    clock.ahead += timedelta(days=30)
    worker(api, clock).drain()
    assert len(smtp.messages) == sent + 2
    with api.built.database.read() as conn:
        queued = conn.execute(select(outbox.c.payload).where(outbox.c.topic == REMIND_TOPIC)).all()
    assert sorted(r.payload["round"] for r in queued if r.payload["survey_id"] == survey.id) == [1, 2]
    # a redelivered reminder sends nothing again
    sender = sender_of(api)
    outbox_rows = count(api, outbox)
    assert sender.remind(delivery(api, REMIND_TOPIC, survey.id, 2)) == 0
    assert count(api, outbox) == outbox_rows
    # the newest link still answers
    last = tokens_mailed(smtp, survey.id)["nils@northwind.example"]
    assert answer(api, {"token": last, "answers": [{"question": "satisfaction", "value": 4}]})["errors"] == []


def sender_of(api: Api) -> SurveySender:
    """The surveys consumer the app's startup bound to its database."""
    sender = api.built.plugins.get_plugin(SENDER_PLUGIN)
    assert isinstance(sender, SurveySender)
    return sender


def count(api: Api, table: Any) -> int:
    with api.built.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def delivery(
    api: Api, topic: str, survey_id: int | None = None, round_: int | None = None, event_id: str = ""
) -> OutboxDelivery:
    """An outbox message as the worker hands it over (to deliver it again)."""
    with api.built.database.read() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.topic == topic).order_by(outbox.c.id)).all()
    row = next(
        r
        for r in rows
        if (survey_id is None or r.payload.get("survey_id") == survey_id)
        and (round_ is None or r.payload.get("round") == round_)
        and (not event_id or r.event_id == event_id)
    )
    return OutboxDelivery(
        delivery_id=0,
        outbox_id=row.id,
        event_id=row.event_id,
        topic=row.topic,
        subject_id=row.subject_id,
        payload=row.payload,
        consumer="surveys",
        attempt=2,
        created_at=row.created_at,
    )


def test_a_redelivered_send_creates_nothing_twice(api: Api, smtp: Inbox) -> None:
    event_id = review_iteration(api)
    worker(api).drain()
    survey = survey_of(api, event_id)
    before = {table.name: count(api, table) for table in (t.surveys, t.survey_invitations, outbox)}
    sender = sender_of(api)
    assert sender.send(delivery(api, SEND_TOPIC, event_id=event_id)) == survey.id
    assert {table.name: count(api, table) for table in (t.surveys, t.survey_invitations, outbox)} == before
    worker(api).drain()
    assert len(tokens_mailed(smtp, survey.id)) == 2 and len(smtp.messages) == 2


def test_results_and_the_surveys_of_a_project_per_viewer(api: Api, smtp: Inbox) -> None:
    survey, tokens = sent_survey(api, smtp)
    for email, value in (("nils@northwind.example", 5), ("carla@northwind.example", 3)):
        given = {"token": tokens[email], "answers": [{"question": "satisfaction", "value": value}]}
        assert answer(api, given)["errors"] == []
    portal = api.project_id("portal")
    listed = api.data(SURVEYS, {"projectId": portal}, as_="mia")["surveys"]
    mine = next(n for n in listed["nodes"] if n["id"] == global_id("Survey", survey.id))
    assert (mine["invited"], mine["answered"], mine["trigger"]) == (2, 2, "after_iteration_review")
    assert sorted(r["score"] for r in mine["responses"]) == [3, 5]
    as_customer = api.data(SURVEYS, {"projectId": portal}, as_="carla")["surveys"]["nodes"]
    assert all(n["responses"] is None for n in as_customer) and len(as_customer) == len(listed["nodes"])
    # every portal survey (the demo's own reviews were surveyed too, unanswered)
    with api.built.database.read() as conn:
        invited = conn.execute(
            select(func.count())
            .select_from(t.survey_invitations)
            .join(t.surveys, t.surveys.c.id == t.survey_invitations.c.survey_id)
            .where(t.surveys.c.project_id == api.demo.projects["portal"])
        ).scalar_one()
    results = api.data(RESULTS, {"projectId": portal}, as_="sam")["surveyResults"]
    assert results["invited"] == invited and results["answered"] == 2
    assert results["responseRate"] == pytest.approx(2 / invited)
    assert (results["csat"], results["csatResponses"], results["nps"]) == (50.0, 2, None)
    assert results["periods"][-1]["csat"] == 50.0
    refused = api.gql(RESULTS, {"projectId": portal}, as_="carla")
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["NOT_ALLOWED"]
    # dates that would overflow or ask for thousands of periods are named, not an internal error
    ranged = "query($f: Date, $t: Date) { surveyResults(from: $f, to: $t, period: WEEK) { invited } }"
    for given, field, words in (
        ({"t": "9999-12-31"}, "to", "must be before 9999-12-31"),
        ({"f": "1900-01-01", "t": "2100-01-01"}, "from", "at most 520"),
        ({"f": "2026-02-01", "t": "2026-01-01"}, "from", "is after"),
    ):
        errors = api.gql(ranged, given, as_="mia")["errors"]
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in errors] == [
            ("INVALID_INPUT", field)
        ]
        assert words in errors[0]["message"]
    assert (
        api.data(ranged, {"f": "2017-01-01", "t": "2026-01-01"}, as_="mia")["surveyResults"]["invited"] >= 0
    )


def test_maintenance_asks_for_nps_every_30_days(api: Api, smtp: Inbox) -> None:
    scheduling = api.demo.projects["scheduling"]
    # the demo project in maintenance has its satisfaction check armed
    with api.built.database.read() as conn:
        armed = conn.execute(
            select(timers.c.due_at, timers.c.created_at).where(
                timers.c.subject_id == scheduling,
                timers.c.trigger == "satisfaction_check",
                timers.c.status == "pending",
            )
        ).one()
    assert armed.due_at - armed.created_at == timedelta(days=30)
    # when it fires (here by the manager), an NPS survey goes to Bluebird's contact
    fired = api.data(
        FIRE, {"input": {"id": api.project_id("scheduling"), "trigger": "satisfaction_check"}}, as_="mia"
    )
    assert fired["fireTransition"]["errors"] == []
    worker(api).drain()
    survey = survey_of(api, fired["fireTransition"]["event"]["eventId"])
    assert (survey.trigger, survey.kind, survey.project_id) == ("maintenance_checkin", "nps", scheduling)
    assert set(invitations(api, survey.id)) == {"ben@bluebird.example"}
    with api.built.database.read() as conn:
        rearmed = conn.execute(
            select(func.count())
            .select_from(timers)
            .where(
                timers.c.subject_id == scheduling,
                timers.c.trigger == "satisfaction_check",
                timers.c.status == "pending",
            )
        ).scalar_one()
        accepted = conn.execute(
            select(t.surveys.c.trigger, t.surveys.c.kind)
            .join(events, events.c.event_id == t.surveys.c.event_id)
            .where(events.c.trigger == "accept_delivery")
        ).all()
    assert rearmed == 1  # the internal transition re-arms the timer
    assert [(r.trigger, r.kind) for r in accepted] == [("after_acceptance", "csat")]  # the demo's acceptance
    token = tokens_mailed(smtp, survey.id)["ben@bluebird.example"]
    given = {"token": token, "answers": [{"question": "recommend", "value": 6}]}
    assert answer(api, given)["errors"] == []
    with api.built.database.read() as conn:
        item = conn.execute(select(t.feedback).where(t.feedback.c.survey_id == survey.id)).one()
    assert item.rating is None and "NPS score 6/10" in item.text and item.iteration_id is None


def test_concurrent_answers_with_one_token_store_exactly_one(api: Api) -> None:
    survey_id, token = open_survey(api)
    database, settings = api.built.database, settings_of(api.built)
    start = threading.Barrier(6)

    def attempt(value: int) -> str:
        start.wait()
        try:
            with database.write() as conn:
                invitation = answering.by_token(conn, token, datetime.now(UTC), answering=True)
                answering.record_answer(
                    conn,
                    invitation,
                    [answering.Answer("satisfaction", value % 5 + 1)],
                    via=answering.TOKEN,
                    now=datetime.now(UTC),
                    settings=settings,
                )
            return "stored"
        except PmflowError as error:
            return str(error.code)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(1, 7)))
    assert sorted(outcomes) == ["ALREADY_ANSWERED"] * 5 + ["stored"]
    with api.built.database.read() as conn:
        answered = conn.execute(
            select(t.survey_invitations.c.score).where(
                t.survey_invitations.c.survey_id == survey_id,
                t.survey_invitations.c.answered_at.is_not(None),
            )
        ).scalars()
        assert len(list(answered)) == 1
