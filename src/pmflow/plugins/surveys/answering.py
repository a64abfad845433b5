"""Answering a survey: by one-time token (no account) or as a signed-in contact; every answer checked,
one answer per contact per survey, a low score raising a feedback item for the team.

The answer is written with a conditional ``UPDATE ... WHERE answered_at IS NULL`` (and, with a token,
``token_hash = :hash``): of two concurrent answers exactly one changes the row, the other learns it
was already answered. Everything happens in one write transaction; a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from pmflow.core.errors import InvalidInput, NotAllowed, NotFound, PmflowError
from pmflow.domain import tables as t
from pmflow.plugins.health import queue_check
from pmflow.plugins.surveys.sending import subject_kind, token_hash
from pmflow.plugins.surveys.settings import SurveySettings
from pmflow.plugins.surveys.templates import RANGES, Question, score_key

TOKEN, ACCOUNT = "token", "account"


class InvalidToken(PmflowError):
    code = "INVALID_TOKEN"  # type: ignore[assignment]

    def __init__(self) -> None:
        # says nothing of whether such a survey exists: a guessed token learns nothing
        super().__init__(
            "this survey link is not valid: check it was copied whole; a reminder replaces the link "
            "of earlier mails",
            field="token",
        )


class TokenExpired(PmflowError):
    code = "TOKEN_EXPIRED"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("this survey is closed: answers are no longer taken", field="token")


class AlreadyAnswered(PmflowError):
    code = "ALREADY_ANSWERED"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("this survey has been answered already: one answer per person")


class InvalidAnswers(PmflowError):
    """Every problem of the answers at once; nothing was written."""

    def __init__(self, problems: Sequence[InvalidInput]) -> None:
        super().__init__("; ".join(p.message for p in problems), field=problems[0].field)
        self.problems = list(problems)


@dataclass(frozen=True)
class Answer:
    question: str
    value: int | None = None
    choices: Sequence[str] | None = None
    text: str | None = None


def _given(answer: Answer) -> list[str]:
    return [
        name
        for name, value in (("value", answer.value), ("choices", answer.choices), ("text", answer.text))
        if value is not None
    ]


def check_answers(questions: Sequence[Question], answers: Sequence[Answer]) -> dict[str, Any]:
    """The answers as stored (``{question key: value}``); ``InvalidAnswers`` with every problem."""
    by_key = {q.key: q for q in questions}
    problems: list[InvalidInput] = []
    stored: dict[str, Any] = {}

    def problem(key: str, message: str) -> None:
        problems.append(InvalidInput(f"question '{key}': {message}", field=f"answers.{key}"))

    for answer in answers:
        key = answer.question
        q = by_key.get(key)
        if q is None:
            problem(key, f"unknown question (this survey asks: {', '.join(by_key)})")
            continue
        if key in stored:
            problem(key, "answered twice")
            continue
        given = _given(answer)
        if q.kind in ("csat", "nps", "scale"):
            expected = "value"
        elif q.kind == "choice":
            expected = "choices"
        else:
            expected = "text"
        if given and given != [expected]:
            problem(key, f"answer a {q.kind} question with {expected} only, got {', '.join(given)}")
            continue
        if expected == "value" and answer.value is not None:
            low, high = (q.min, q.max) if q.min is not None and q.max is not None else RANGES[q.kind]
            if not low <= answer.value <= high:
                problem(key, f"{answer.value} is out of range: give {low} to {high}")
                continue
            stored[key] = answer.value
        elif expected == "choices" and answer.choices is not None:
            picked = list(answer.choices)
            unknown = [c for c in picked if c not in q.options]
            if unknown:
                problem(key, f"'{unknown[0]}' is not offered (choose from: {', '.join(q.options)})")
                continue
            if len(set(picked)) != len(picked):
                problem(key, "an option is chosen twice")
                continue
            if len(picked) > 1 and not q.multiple:
                problem(key, "choose one option")
                continue
            if picked:
                stored[key] = picked
        elif expected == "text" and answer.text is not None:
            text = answer.text.strip()
            if q.max_length is not None and len(text) > q.max_length:
                problem(key, f"the text is {len(text)} characters long; at most {q.max_length}")
                continue
            if text:
                stored[key] = text
    for q in questions:
        if q.required and q.key not in stored and not any(p.field == f"answers.{q.key}" for p in problems):
            problem(q.key, "an answer is required")
    if problems:
        raise InvalidAnswers(problems)
    return stored


def questions_of(survey: Row[Any]) -> list[Question]:
    return [Question.from_json(q) for q in survey.questions]


def score_of(survey: Row[Any], stored: Mapping[str, Any]) -> int | None:
    key = score_key(str(survey.kind), questions_of(survey))
    value = stored.get(key) if key is not None else None
    return value if isinstance(value, int) else None


# ---- finding the invitation ---------------------------------------------------------------------


def by_token(conn: Connection, token: str, now: datetime, *, answering: bool) -> Row[Any]:
    """The invitation of a token; ``InvalidToken``, ``TokenExpired`` (``AlreadyAnswered`` when
    ``answering``)."""
    i = t.survey_invitations
    if not token or len(token) > 200:
        raise InvalidToken()
    row = conn.execute(select(i).where(i.c.token_hash == token_hash(token))).first()
    if row is None:
        raise InvalidToken()
    if answering and row.answered_at is not None:
        raise AlreadyAnswered()
    if row.expires_at <= now:  # answered or not: once closed, a link shows nothing more
        raise TokenExpired()
    return row


def for_contact_user(conn: Connection, survey_id: int, user: Any) -> Row[Any]:
    """The invitation of the signed-in customer user's contact to this survey; ``NotFound`` for a
    survey they were not invited to, exactly as for one that does not exist."""
    if str(user.role) != "customer":
        raise NotAllowed("surveys are answered by the customer's invited contacts", field="surveyId")
    i = t.survey_invitations
    row = conn.execute(
        select(i)
        .join(t.contacts, t.contacts.c.id == i.c.contact_id)
        .where(i.c.survey_id == survey_id, t.contacts.c.user_id == user.id)
    ).first()
    if row is None:
        raise NotFound("no Survey with this id", field="surveyId")
    return row


# ---- writing the answer ---------------------------------------------------------------------------


def record_answer(
    conn: Connection,
    invitation: Row[Any],
    answers: Sequence[Answer],
    *,
    via: str,
    now: datetime,
    settings: SurveySettings,
) -> Row[Any]:
    """Check and store one contact's answer, in the caller's transaction; the survey row."""
    i = t.survey_invitations
    survey = conn.execute(select(t.surveys).where(t.surveys.c.id == invitation.survey_id)).one()
    if invitation.answered_at is not None:
        raise AlreadyAnswered()
    if invitation.expires_at <= now:
        raise TokenExpired()
    stored = check_answers(questions_of(survey), answers)
    score = score_of(survey, stored)
    condition = [i.c.id == invitation.id, i.c.answered_at.is_(None), i.c.expires_at > now]
    if via == TOKEN:
        condition.append(i.c.token_hash == invitation.token_hash)  # a reminder rotated it meanwhile
    changed = conn.execute(
        update(i).where(*condition).values(answered_at=now, answered_via=via, answers=stored, score=score)
    ).rowcount
    if changed == 0:
        now_row = conn.execute(select(i).where(i.c.id == invitation.id)).one()
        if now_row.answered_at is not None:
            raise AlreadyAnswered()
        if now_row.expires_at <= now:
            raise TokenExpired()
        raise InvalidToken()
    if score is not None and _low(str(survey.kind), score, settings):
        _raise_feedback(conn, survey, invitation, stored, score, now)
    if score is not None:
        queue_check(conn, int(survey.project_id), now, "survey answer")
    return survey


def _low(kind: str, score: int, settings: SurveySettings) -> bool:
    return (kind == "csat" and score <= settings.low_csat) or (kind == "nps" and score <= settings.low_nps)


def _raise_feedback(
    conn: Connection,
    survey: Row[Any],
    invitation: Row[Any],
    stored: Mapping[str, Any],
    score: int,
    now: datetime,
) -> None:
    """A feedback item quoting the low score and every free-text answer, for the team to act on."""
    questions = questions_of(survey)
    kind = str(survey.kind)
    high = RANGES[kind][1]
    words = [f'{q.key}: "{stored[q.key]}"' for q in questions if q.kind == "text" and q.key in stored]
    text = " ".join([f"Low {kind.upper()} score {score}/{high} in the survey '{survey.title}'.", *words])
    subject = subject_kind(conn, survey.subject_id)
    conn.execute(
        insert(t.feedback).values(
            project_id=survey.project_id,
            contact_id=invitation.contact_id,
            iteration_id=survey.subject_id if subject == "iteration" else None,
            deliverable_id=survey.subject_id if subject == "deliverable" else None,
            text=text,
            rating=score if kind == "csat" else None,
            created_at=now,
            survey_id=survey.id,
        )
    )
