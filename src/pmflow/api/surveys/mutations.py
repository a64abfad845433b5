"""Answering a survey: with the one-time token of the invitation mail (no account), or signed in as
a customer user linked to an invited contact (by survey id). Expected failures are typed errors."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from pmflow.api.context import Info
from pmflow.api.errors import Error, ErrorCode, Unauthenticated
from pmflow.api.ids import expect_id
from pmflow.api.loaders import in_thread
from pmflow.api.surveys.types import SurveyForm
from pmflow.core.errors import InvalidInput, PmflowError
from pmflow.domain import tables as t
from pmflow.plugins.surveys import answering, settings_of

MAX_ANSWERS = 100


@strawberry.input(description="The answer to one question: `value`, `choices` or `text` by its kind.")
class SurveyAnswerInput:
    question: str = strawberry.field(description="The question's key.")
    value: int | None = None
    choices: list[str] | None = None
    text: str | None = None


@strawberry.input(description="Give `token` (from the mail) or, signed in as an invited contact, `surveyId`.")
class AnswerSurveyInput:
    token: str | None = None
    survey_id: strawberry.ID | None = None
    answers: list[SurveyAnswerInput]


@strawberry.type
class AnswerSurveyPayload:
    form: SurveyForm | None = strawberry.field(description="The survey as answered.")
    errors: list[Error]


@strawberry.type
class SurveyMutation:
    @strawberry.mutation(
        description="Answer a survey once. Every answer is checked; on any problem nothing is stored and "
        "each problem is an error (INVALID_INPUT with `field` answers.<question>). INVALID_TOKEN, "
        "TOKEN_EXPIRED, ALREADY_ANSWERED as their names say."
    )
    async def answer_survey(self, info: Info, input: AnswerSurveyInput) -> AnswerSurveyPayload:
        context = info.context
        app = context.app
        settings = settings_of(app)
        now = app.engine.clock()
        answers = [answering.Answer(a.question, a.value, a.choices, a.text) for a in input.answers]

        def work() -> SurveyForm:
            if (input.token is None) == (input.survey_id is None):
                raise InvalidInput("give either token or surveyId", field="token")
            if len(answers) > MAX_ANSWERS:
                raise InvalidInput(f"at most {MAX_ANSWERS} answers, got {len(answers)}", field="answers")
            with app.database.write() as conn:
                if input.token is not None:
                    invitation = answering.by_token(conn, input.token, now, answering=True)
                    via = answering.TOKEN
                else:
                    assert input.survey_id is not None
                    if context.user is None:
                        raise Unauthenticated()
                    survey_pk = expect_id(input.survey_id, "Survey", field="surveyId")
                    invitation = answering.for_contact_user(conn, survey_pk, context.user)
                    via = answering.ACCOUNT
                survey = answering.record_answer(
                    conn, invitation, answers, via=via, now=now, settings=settings
                )
                fresh = conn.execute(
                    select(t.survey_invitations).where(t.survey_invitations.c.id == invitation.id)
                ).one()
                name = conn.execute(
                    select(t.projects.c.name).where(t.projects.c.id == survey.project_id)
                ).scalar_one()
                return SurveyForm.of(survey, fresh, str(name))

        try:
            return AnswerSurveyPayload(form=await in_thread(work), errors=[])
        except answering.InvalidAnswers as error:
            return AnswerSurveyPayload(form=None, errors=[_error(p) for p in error.problems])
        except PmflowError as error:
            return AnswerSurveyPayload(form=None, errors=[_error(error)])


def _error(error: PmflowError) -> Error:
    # not Error.of: it camel-cases the field, and `answers.<key>` must name the question's key as written
    return Error(code=ErrorCode(str(error.code)), message=error.message, field=error.field)
