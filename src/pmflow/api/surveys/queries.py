"""Survey queries: the form behind a token (public), the viewer's pending surveys, a project's surveys,
and results (response rate, CSAT, NPS) per project, customer and period."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import and_, func, select

from pmflow.api.access import project_clause
from pmflow.api.context import Info
from pmflow.api.ids import expect_id
from pmflow.api.loaders import in_thread
from pmflow.api.node import visible
from pmflow.api.pagination import Connection, connection, window
from pmflow.api.surveys.types import (
    Survey,
    SurveyFigures,
    SurveyForm,
    SurveyPeriod,
    SurveyResults,
    SurveyTrend,
)
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.domain import tables as t
from pmflow.plugins.surveys import answering, metrics

s, i = t.surveys, t.survey_invitations


# Periods one answer may hold: ten years of weeks (the figures of each period travel in the answer).
MAX_PERIODS = 520
PERIOD_DAYS = {"WEEK": 7, "MONTH": 28, "QUARTER": 89}  # the shortest of each: never under-counts


@strawberry.enum(description="How survey results are grouped in time.")
class SurveyPeriodLength(Enum):
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"


def _form(conn: Any, invitation: Any) -> SurveyForm:
    survey = conn.execute(select(s).where(s.c.id == invitation.survey_id)).one()
    name = conn.execute(select(t.projects.c.name).where(t.projects.c.id == survey.project_id)).scalar_one()
    return SurveyForm.of(survey, invitation, str(name))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@strawberry.type
class SurveyQuery:
    @strawberry.field(
        description="The survey a one-time token (from the invitation mail) answers: no account needed. "
        "An unknown or replaced token is INVALID_TOKEN, an expired one TOKEN_EXPIRED."
    )
    async def survey_invitation(self, info: Info, token: str) -> SurveyForm:
        app = info.context.app
        now = app.engine.clock()

        def load() -> SurveyForm:
            with app.database.read() as conn:
                return _form(conn, answering.by_token(conn, token, now, answering=False))

        return await in_thread(load)

    @strawberry.field(
        description="The signed-in customer user's unanswered, open survey invitations, newest first "
        "(empty for the team); answer them with `answerSurvey(input: {surveyId})`."
    )
    async def pending_surveys(self, info: Info) -> list[SurveyForm]:
        context = info.context
        user = context.user
        if user is None or context.customer_id is None:
            return []
        now = context.app.engine.clock()

        def load() -> list[SurveyForm]:
            with context.app.database.read() as conn:
                rows = conn.execute(
                    select(i)
                    .join(t.contacts, t.contacts.c.id == i.c.contact_id)
                    .join(s, s.c.id == i.c.survey_id)
                    .join(t.projects, t.projects.c.id == s.c.project_id)
                    .where(
                        t.contacts.c.user_id == user.id,
                        t.projects.c.customer_id == context.customer_id,
                        i.c.answered_at.is_(None),
                        i.c.expires_at > now,
                    )
                    .order_by(s.c.sent_at.desc(), s.c.id.desc())
                ).all()
                return [_form(conn, row) for row in rows]

        return await in_thread(load)

    @strawberry.field(description="The surveys sent for a project, newest first; at most 100 a page.")
    async def surveys(
        self, info: Info, project_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[Survey]:
        pk = expect_id(project_id, "Project", field="projectId")
        project = await info.context.loaders.by_id(t.projects).load(pk)
        shown = project is not None and await visible(info, "Project", project)
        database = info.context.app.database

        def load() -> tuple[list[Any], Any]:
            with database.read() as conn:
                total = (
                    0
                    if not shown
                    else int(
                        conn.execute(
                            select(func.count()).select_from(s).where(s.c.project_id == pk)
                        ).scalar_one()
                    )
                )
                page = window(total, first=first, after=after)
                rows = (
                    list(
                        conn.execute(
                            select(s)
                            .where(s.c.project_id == pk)
                            .order_by(s.c.sent_at.desc(), s.c.id.desc())
                            .offset(page.start)
                            .limit(page.end - page.start)
                        )
                    )
                    if shown
                    else []
                )
            return rows, page

        rows, page = await in_thread(load)
        return connection(rows, page, Survey.from_row, offset=page.start)

    @strawberry.field(
        description="Response rate, CSAT and NPS of the surveys sent from `from` to `to` (dates, UTC, both "
        "included) for a project or a customer's projects (default: every project the viewer may see), "
        "per period (oldest first) with the trend of the last period. Team only."
    )
    async def survey_results(
        self,
        info: Info,
        project_id: strawberry.ID | None = None,
        customer_id: strawberry.ID | None = None,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
        period: SurveyPeriodLength = SurveyPeriodLength.MONTH,
    ) -> SurveyResults:
        context = info.context
        if from_ is not None and to is not None and from_ > to:
            raise InvalidInput(f"'from' ({from_}) is after 'to' ({to})", field="from")
        if to is not None and to >= date.max:
            raise InvalidInput(f"'to' must be before {date.max.isoformat()}", field="to")
        if from_ is not None and to is not None:
            spans = (to - from_).days // PERIOD_DAYS[period.value] + 1
            if spans > MAX_PERIODS:
                raise InvalidInput(
                    f"{spans} {period.value.lower()}s between 'from' and 'to': at most {MAX_PERIODS}; "
                    "narrow the dates or take a longer period",
                    field="from",
                )
        conditions: list[Any] = []
        clause = project_clause(context)
        if clause is not None:
            conditions.append(clause)
        if project_id is not None:
            pk = expect_id(project_id, "Project", field="projectId")
            project = await context.loaders.by_id(t.projects).load(pk)
            if project is None or not await visible(info, "Project", project):
                raise NotFound("no Project with this id", field="projectId")
            conditions.append(t.projects.c.id == pk)
        if customer_id is not None:
            conditions.append(
                t.projects.c.customer_id == expect_id(customer_id, "Customer", field="customerId")
            )
        if from_ is not None:
            conditions.append(s.c.sent_at >= _day_start(from_))
        if to is not None:
            conditions.append(s.c.sent_at < _day_start(to + timedelta(days=1)))

        def load() -> list[metrics.Invitation]:
            with context.app.database.read() as conn:
                rows = conn.execute(
                    select(s.c.kind, s.c.sent_at, i.c.answered_at, i.c.score)
                    .join(s, s.c.id == i.c.survey_id)
                    .join(t.projects, t.projects.c.id == s.c.project_id)
                    .where(and_(True, *conditions))
                ).all()
            return [
                metrics.Invitation(str(r.kind), r.sent_at, r.answered_at is not None, r.score) for r in rows
            ]

        invitations = await in_thread(load)
        length: metrics.Period = period.value
        periods = metrics.by_period(invitations, length, from_, to)
        return SurveyResults(
            **SurveyFigures.fields_of(metrics.figures(invitations)),
            periods=[SurveyPeriod.of(p) for p in periods],
            trend=SurveyTrend.of(metrics.trend(periods)),
        )
