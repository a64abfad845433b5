"""GraphQL types of customer surveys (``pmflow.plugins.surveys``): forms, surveys, results, errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import strawberry

from pmflow.api._project_ref import InProject
from pmflow.api.access import hides, team_only
from pmflow.api.context import Info
from pmflow.api.ids import to_global_id
from pmflow.api.node import Node
from pmflow.domain import tables as t
from pmflow.plugins.surveys.metrics import Figures, PeriodFigures
from pmflow.plugins.surveys.metrics import Trend as TrendFigures
from pmflow.plugins.surveys.templates import Question


@strawberry.type(description="One question of a survey, as sent.")
class SurveyQuestion:
    key: str = strawberry.field(description="Name the question by it when answering.")
    kind: str = strawberry.field(
        description="csat (answer `value` 1-5), nps (`value` 0-10), scale (`value` min-max), "
        "choice (`choices` from `options`), text (`text`)."
    )
    text: str
    required: bool
    min: int | None
    max: int | None
    options: list[str]
    multiple: bool = strawberry.field(description="choice: whether several options may be picked.")
    max_length: int | None = strawberry.field(description="text: the longest answer taken.")

    @classmethod
    def of(cls, q: Question) -> SurveyQuestion:
        return cls(
            key=q.key,
            kind=q.kind,
            text=q.text,
            required=q.required,
            min=q.min,
            max=q.max,
            options=list(q.options),
            multiple=q.multiple,
            max_length=q.max_length,
        )


def questions(survey: Any) -> list[SurveyQuestion]:
    return [SurveyQuestion.of(Question.from_json(q)) for q in survey.questions]


@strawberry.type(description="A survey as the invited contact answers it (by token or signed in).")
class SurveyForm:
    survey_id: strawberry.ID
    title: str
    kind: str = strawberry.field(description="csat, nps or custom: what the survey's score measures.")
    project_name: str
    questions: list[SurveyQuestion]
    expires_at: datetime = strawberry.field(description="Answers are taken until then.")
    answered: bool
    answered_at: datetime | None

    @classmethod
    def of(cls, survey: Any, invitation: Any, project_name: str) -> SurveyForm:
        return cls(
            survey_id=strawberry.ID(to_global_id("Survey", survey.id)),
            title=survey.title,
            kind=survey.kind,
            project_name=project_name,
            questions=questions(survey),
            expires_at=invitation.expires_at,
            answered=invitation.answered_at is not None,
            answered_at=invitation.answered_at,
        )


@strawberry.type(description="One answer to one question.")
class SurveyAnswer:
    question: str
    value: int | None
    choices: list[str] | None
    text: str | None


def _answers(stored: Mapping[str, Any] | None) -> list[SurveyAnswer]:
    found = []
    for key, value in (stored or {}).items():
        found.append(
            SurveyAnswer(
                question=key,
                value=value if isinstance(value, int) else None,
                choices=list(value) if isinstance(value, list) else None,
                text=value if isinstance(value, str) else None,
            )
        )
    return found


@strawberry.type(description="What one invited contact answered.")
class SurveyResponse:
    contact_id: strawberry.ID
    answered_at: datetime
    answered_via: str = strawberry.field(description="token (a mailed link) or account (signed in).")
    score: int | None = strawberry.field(description="The answer to the survey's csat or nps question.")
    answers: list[SurveyAnswer]


_RESPONSES = team_only("Each contact's answers.")


@strawberry.type(description="A survey sent to the contacts of a project's customer on a workflow event.")
class Survey(Node, InProject):
    id: strawberry.ID
    database_id: int
    template: str
    trigger: str = strawberry.field(
        description="The survey trigger that sent it (after_iteration_review...)."
    )
    kind: str = strawberry.field(description="csat, nps or custom: what its score measures.")
    title: str
    questions: list[SurveyQuestion]
    sent_at: datetime
    closes_at: datetime

    @strawberry.field(description="How many contacts were invited.")
    async def invited(self, info: Info) -> int:
        return len(await self._invitations(info))

    @strawberry.field(description="How many of them answered.")
    async def answered(self, info: Info) -> int:
        return sum(1 for row in await self._invitations(info) if row.answered_at is not None)

    @strawberry.field(description=_RESPONSES)
    async def responses(self, info: Info) -> list[SurveyResponse] | None:
        if hides(info.context, "Survey", self):
            return None
        return [
            SurveyResponse(
                contact_id=strawberry.ID(to_global_id("Contact", row.contact_id)),
                answered_at=row.answered_at,
                answered_via=row.answered_via,
                score=row.score,
                answers=_answers(row.answers),
            )
            for row in await self._invitations(info)
            if row.answered_at is not None
        ]

    async def _invitations(self, info: Info) -> list[Any]:
        rows: list[Any] = await info.context.loaders.by_column(t.survey_invitations, "survey_id").load(
            self.database_id
        )
        return rows

    @classmethod
    def from_row(cls, row: Any, info: Info | None = None) -> Survey:
        return cls(
            id=strawberry.ID(to_global_id("Survey", row.id)),
            database_id=row.id,
            template=row.template,
            trigger=row.trigger,
            kind=row.kind,
            title=row.title,
            questions=questions(row),
            sent_at=row.sent_at,
            closes_at=row.closes_at,
            _project_pk=row.project_id,
        )


@strawberry.type(description="Response rate, CSAT and NPS of a set of survey invitations.")
class SurveyFigures:
    invited: int
    answered: int
    response_rate: float | None = strawberry.field(
        description="answered / invited, 0 to 1; null: none invited."
    )
    csat: float | None = strawberry.field(description="% of csat answers that are 4 or 5; null: no answer.")
    csat_responses: int
    nps: float | None = strawberry.field(
        description="% promoters (9-10) - % detractors (0-6), -100 to 100; null: no answer."
    )
    promoters: int
    passives: int
    detractors: int
    nps_responses: int

    @classmethod
    def fields_of(cls, figures: Figures) -> dict[str, Any]:
        return {
            "invited": figures.invited,
            "answered": figures.answered,
            "response_rate": figures.response_rate,
            "csat": figures.csat,
            "csat_responses": figures.csat_responses,
            "nps": figures.nps,
            "promoters": figures.promoters,
            "passives": figures.passives,
            "detractors": figures.detractors,
            "nps_responses": figures.nps_responses,
        }


@strawberry.type(description="The figures of the surveys sent in one period.")
class SurveyPeriod(SurveyFigures):
    start: date
    end: date = strawberry.field(description="The last day of the period.")

    @classmethod
    def of(cls, period: PeriodFigures) -> SurveyPeriod:
        return cls(start=period.start, end=period.end, **cls.fields_of(period.figures))


@strawberry.type(
    description="The change from the period before the last to the last (null: either lacks it)."
)
class SurveyTrend:
    csat: float | None
    nps: float | None

    @classmethod
    def of(cls, trend: TrendFigures | None) -> SurveyTrend | None:
        return None if trend is None else cls(csat=trend.csat, nps=trend.nps)


@strawberry.type(description="Survey results over the chosen projects and dates, with periods and trend.")
class SurveyResults(SurveyFigures):
    periods: list[SurveyPeriod] = strawberry.field(description="Oldest first, empty periods included.")
    trend: SurveyTrend | None
