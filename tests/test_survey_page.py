"""The survey answer page /survey (docs/surveys.md "The answer page"): where the mails' link lands. It
shows every question, records an answer through the same code as ``answerSurvey`` (answered_via
'token'), refuses a second answer, reports bad values next to their questions storing nothing, and
says nothing of the survey for an unknown, replaced or expired token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select, update

from api_helpers import Api, running_api
from pmflow.domain import tables as t
from pmflow.plugins.surveys.sending import token_hash
from pmflow.plugins.surveys.templates import Question
from test_surveys import open_survey, write_survey

FORM = {"content-type": "application/x-www-form-urlencoded"}
QUESTIONS = [
    Question("satisfaction", "csat", "How satisfied are you with what we delivered?"),
    Question("recommend", "nps", "Would you recommend us?"),
    Question("effort", "scale", "How much effort did it take?", min=1, max=7),
    Question("channel", "choice", "How did you hear of us?", options=("Mail", "Friend & co", "Web")),
    Question(
        "liked", "choice", "What did you like?", required=False, options=("Speed", "Quality"), multiple=True
    ),
    Question("comment", "text", "Anything else?", required=False, max_length=50),
]
VALID = [
    ("satisfaction", "4"),
    ("recommend", "9"),
    ("effort", "2"),
    ("channel", "Friend & co"),
    ("liked", "Speed"),
    ("liked", "Quality"),
    ("comment", "Quick <and> clear"),
]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def custom_survey(api: Api, project: str = "portal") -> tuple[int, str]:
    """A custom survey of every question kind, with an open invitation: (invitation id, token)."""
    _, invitation, token = write_survey(
        api, project, questions=QUESTIONS, template="onboarding", title="Onboarding <survey>"
    )
    return invitation, token


def invitation_row(api: Api, pk: int) -> Any:
    with api.built.database.read() as conn:
        return conn.execute(select(t.survey_invitations).where(t.survey_invitations.c.id == pk)).one()


def post(api: Api, token: str, fields: list[tuple[str, str]]) -> httpx.Response:
    """A form as a browser sends it: the hidden token first, then the fields in order (keys repeated)."""
    return api.client.post("/survey", content=urlencode([("token", token), *fields]), headers=FORM)


def assert_private(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in response.text


def radios(html: str, name: str) -> list[str]:
    return re.findall(rf'type="radio" name="{name}" value="([^"]*)"', html)


def test_the_page_shows_every_question(api: Api) -> None:
    _, token = custom_survey(api)
    response = api.client.get("/survey", params={"token": token})
    assert response.status_code == 200, response.text
    assert_private(response)
    html = response.text
    assert "Onboarding &lt;survey&gt;" in html and "<survey>" not in html  # escaped
    assert "Customer portal" in html
    for q in QUESTIONS:
        assert q.text in html
    assert radios(html, "satisfaction") == ["1", "2", "3", "4", "5"]
    assert "1 = very unsatisfied" in html and "5 = very satisfied" in html
    assert radios(html, "recommend") == [str(n) for n in range(11)]
    assert "0 = not at all likely" in html and "10 = extremely likely" in html
    assert radios(html, "effort") == [str(n) for n in range(1, 8)]
    assert radios(html, "channel") == ["Mail", "Friend &amp; co", "Web"]
    assert re.findall(r'type="checkbox" name="liked" value="([^"]*)"', html) == ["Speed", "Quality"]
    assert '<textarea id="q-comment-input" name="comment" rows="4" maxlength="50"' in html
    assert f'name="token" value="{token}"' in html
    assert html.count("(required)") == 4  # all but the optional choice and the comment
    assert "Answers are taken until" in html and "UTC" in html


def test_the_built_in_csat_survey_shows(api: Api) -> None:
    _, token = open_survey(api)
    response = api.client.get(f"/survey?token={token}")
    assert response.status_code == 200
    assert "Probe survey" in response.text and radios(response.text, "satisfaction") == list("12345")


def test_an_answer_is_recorded_once(api: Api) -> None:
    pk, token = custom_survey(api)
    response = post(api, token, VALID)
    assert response.status_code == 200, response.text
    assert_private(response)
    assert "Thank you" in response.text
    row = invitation_row(api, pk)
    assert row.answered_via == "token" and row.answered_at is not None and row.score == 4
    assert row.answers == {
        "satisfaction": 4,
        "recommend": 9,
        "effort": 2,
        "channel": ["Friend & co"],
        "liked": ["Speed", "Quality"],
        "comment": "Quick <and> clear",
    }

    again = post(api, token, [("satisfaction", "1"), ("recommend", "0"), ("effort", "1"), ("channel", "Web")])
    assert again.status_code == 409, again.text
    assert_private(again)
    assert "answered already" in again.text
    assert invitation_row(api, pk) == row  # nothing changed
    shown = api.client.get("/survey", params={"token": token})
    assert shown.status_code == 409 and "answered already" in shown.text and "<form" not in shown.text


def test_bad_values_are_named_next_to_their_questions_and_nothing_is_stored(api: Api) -> None:
    pk, token = custom_survey(api)
    response = post(
        api,
        token,
        [
            ("satisfaction", "lots"),  # not a number: a problem of its question, not a 500
            ("recommend", "11"),  # out of range
            # effort: required, missing
            ("channel", "Mail"),
            ("channel", "Web"),  # one option only
            ("liked", "Speed"),
            ("liked", "Price"),  # not offered
            ("comment", "x" * 51),  # too long
        ],
    )
    assert response.status_code == 422, response.text
    assert_private(response)
    html = response.text
    assert "please correct these 6 problems" in html
    for key, message in [
        ("satisfaction", "&#x27;lots&#x27; is not a whole number"),
        ("recommend", "11 is out of range: give 0 to 10"),
        ("effort", "an answer is required"),
        ("channel", "choose one option"),
        ("liked", "&#x27;Price&#x27; is not offered"),
        ("comment", "at most 50"),
    ]:
        block = re.search(rf'id="q-{key}".*?</(fieldset|div)>', html, re.S)
        assert block is not None and message.lower() in block.group(0).lower(), (key, message)
    # the given values are kept
    assert 'value="Mail" checked' in html and 'value="Web" checked' in html
    assert 'value="Speed" checked' in html
    assert "x" * 51 + "</textarea>" in html
    assert f'name="token" value="{token}"' in html
    row = invitation_row(api, pk)
    assert row.answered_at is None and row.answers is None
    with api.built.database.read() as conn:
        assert conn.execute(select(t.feedback).where(t.feedback.c.text.like("%Onboarding%"))).first() is None

    # corrected, the same token answers
    assert post(api, token, VALID).status_code == 200
    assert invitation_row(api, pk).answered_via == "token"


def test_unknown_replaced_and_missing_tokens_are_404_without_survey_details(api: Api) -> None:
    pk, token = custom_survey(api)
    for response in (
        api.client.get("/survey", params={"token": "made-up"}),
        api.client.get("/survey"),
        post(api, "made-up", VALID),
        post(api, "", VALID),
    ):
        assert response.status_code == 404, response.text
        assert_private(response)
        assert "newest" in response.text
        assert "Onboarding" not in response.text and "<form" not in response.text
    with api.built.database.write() as conn:  # a reminder replaced the token
        conn.execute(
            update(t.survey_invitations)
            .where(t.survey_invitations.c.id == pk)
            .values(token_hash=token_hash("newer"))
        )
    replaced = api.client.get("/survey", params={"token": token})
    assert replaced.status_code == 404 and "Onboarding" not in replaced.text
    assert post(api, token, VALID).status_code == 404
    assert invitation_row(api, pk).answered_at is None


def test_an_expired_token_is_410_without_survey_details(api: Api) -> None:
    pk, token = custom_survey(api)
    with api.built.database.write() as conn:
        conn.execute(
            update(t.survey_invitations)
            .where(t.survey_invitations.c.id == pk)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    for response in (api.client.get("/survey", params={"token": token}), post(api, token, VALID)):
        assert response.status_code == 410, response.text
        assert_private(response)
        assert "closed" in response.text and "Onboarding" not in response.text
    assert invitation_row(api, pk).answered_at is None


def test_a_post_that_is_not_a_form_or_too_large_is_refused(api: Api) -> None:
    pk, token = custom_survey(api)
    as_json = api.client.post("/survey", json={"token": token, "satisfaction": 4})
    assert as_json.status_code == 415
    huge = api.client.post(
        "/survey", content=b"token=" + token.encode() + b"&comment=" + b"x" * (1024 * 1024), headers=FORM
    )
    assert huge.status_code == 413  # the API's body limit (PMFLOW_MAX_BODY_BYTES) holds here too
    assert invitation_row(api, pk).answered_at is None
