"""The survey answer page at ``/survey``: where the link of a survey mail (``<answer_url>?token=T``) lands.

Server-rendered HTML (no JavaScript), built with ``html.escape``:

- ``GET /survey?token=T`` shows the form: title, project, each question (csat 1-5 and nps 0-10 as
  radios with their ends labelled, scale min-max radios, choice as radios or checkboxes, text as a
  textarea), required marks and the closing date.
- ``POST /survey`` (``application/x-www-form-urlencoded``: ``token`` and one field per question key,
  checkboxes repeating the key) records the answer through the code ``answerSurvey`` uses
  (``pmflow.plugins.surveys.answering``), then thanks. Invalid answers re-render the form with each
  problem next to its question and the given values kept (422); nothing is stored.

Statuses: 404 unknown or replaced token (or none), 410 survey closed, 409 answered already (on GET
and POST alike: the link has done its job; a GET once the survey closed is 410, as ``by_token``
says), 422 invalid answers, 415 a body that is not a form, 400 a malformed form, 503 while the
server starts. A refused token's page says what to do and nothing
of the survey. Every response is ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` (the
token is in the URL), and framing is refused.

CSRF is moot here: the form carries no cookie or session; the token in it is the credential, and a
forged request would need it. The rate limit and the body size limit apply as for ``/graphql``
(middleware in ``pmflow.api.app``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Connection, Row, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from pmflow.api.loaders import in_thread
from pmflow.core.errors import InvalidInput, PmflowError
from pmflow.domain import tables as t
from pmflow.plugins.surveys import answering, settings_of
from pmflow.plugins.surveys.templates import RANGES, Question

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # form fields in one POST (a checkbox per option at most, per question)
MAX_RADIOS = 21  # a scale wider than this is a number box, not a row of radios
ENDS = {"csat": ("very unsatisfied", "very satisfied"), "nps": ("not at all likely", "extremely likely")}
_NUMBER = re.compile(r"[+-]?[0-9]{1,18}")

Given = Mapping[str, Sequence[str]]  # the posted values by question key


@dataclass(frozen=True)
class View:
    """What the form shows: the survey as sent, its project and the invitation's dates."""

    title: str
    project: str
    questions: list[Question]
    expires_at: datetime
    answered_at: datetime | None


class Rejected(Exception):
    """Invalid answers: the form again, with the problems by question key ("" for the whole form)."""

    def __init__(self, view: View, problems: dict[str, list[str]]) -> None:
        super().__init__("invalid answers")
        self.view = view
        self.problems = problems


def survey_endpoint(state: Mapping[str, Any]) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The ``/survey`` endpoint (GET and POST) on the app the lifespan put in ``state["app"]``."""

    async def endpoint(request: Request) -> Response:
        built = state.get("app")
        if built is None:
            return page(503, "Please try again", "<p>The server is starting. Please reload in a moment.</p>")
        if request.method == "POST":
            return await _post(built, request)
        return await _get(built, request.query_params.get("token", ""))

    return endpoint


# ---- GET ----------------------------------------------------------------------------------------------


async def _get(built: Any, token: str) -> Response:
    now = built.engine.clock()

    def load() -> View:
        with built.database.read() as conn:
            return _view(conn, answering.by_token(conn, token, now, answering=False))

    try:
        view = await in_thread(load)
    except PmflowError as error:
        return refusal(error)
    if view.answered_at is not None:
        return refusal(answering.AlreadyAnswered(), view)
    return form_page(200, view, token)


def _view(conn: Connection, invitation: Row[Any]) -> View:
    survey = conn.execute(select(t.surveys).where(t.surveys.c.id == invitation.survey_id)).one()
    project = conn.execute(select(t.projects.c.name).where(t.projects.c.id == survey.project_id)).scalar_one()
    return View(
        title=str(survey.title),
        project=str(project),
        questions=answering.questions_of(survey),
        expires_at=invitation.expires_at,
        answered_at=invitation.answered_at,
    )


# ---- POST ---------------------------------------------------------------------------------------------


async def _post(built: Any, request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        return page(415, "Not a survey form", f"<p>Send the survey form as <code>{FORM_TYPE}</code>.</p>")
    body = await request.body()  # its size is bounded by the BodyLimit middleware
    try:
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:
        return page(400, "Not a survey form", "<p>The form could not be read. Please send it again.</p>")
    # `token` is the link's token (templates may not key a question so: plugins.surveys.templates)
    token = ""
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        if name == "token":
            token = token or value
        else:
            given.setdefault(name, []).append(value)
    settings = settings_of(built)
    now = built.engine.clock()

    def work() -> View:
        view: View | None = None
        try:
            with built.database.write() as conn:
                invitation = answering.by_token(conn, token, now, answering=True)
                view = _view(conn, invitation)
                answers, problems = parse_answers(view.questions, given)
                if problems:  # report them with every other problem of the answers, store nothing
                    try:
                        answering.check_answers(view.questions, answers)
                    except answering.InvalidAnswers as error:
                        problems += [p for p in error.problems if p.field not in {q.field for q in problems}]
                    raise answering.InvalidAnswers(problems)
                answering.record_answer(
                    conn, invitation, answers, via=answering.TOKEN, now=now, settings=settings
                )
                return _view(conn, conn.execute(_invitation(invitation.id)).one())
        except answering.InvalidAnswers as error:  # rolled back: nothing was written
            assert view is not None
            raise Rejected(view, by_question(error.problems)) from None

    try:
        view = await in_thread(work)
    except Rejected as rejected:
        return form_page(422, rejected.view, token, given, rejected.problems)
    except PmflowError as error:
        return refusal(error)
    return thanks_page(view)


def _invitation(pk: int) -> Any:
    return select(t.survey_invitations).where(t.survey_invitations.c.id == pk)


def parse_answers(
    questions: Sequence[Question], given: Given
) -> tuple[list[answering.Answer], list[InvalidInput]]:
    """The posted fields as ``Answer``s (fields that name no question are ignored), and the values that
    cannot be an answer of their kind (a number that is not a whole number, two values for one)."""
    answers: list[answering.Answer] = []
    problems: list[InvalidInput] = []

    def problem(key: str, message: str) -> None:
        problems.append(InvalidInput(f"question '{key}': {message}", field=f"answers.{key}"))

    for q in questions:
        values = [v for v in given.get(q.key, ()) if v.strip()]
        if not values:
            continue  # not answered: the answering code says whether it had to be
        if q.kind == "choice":
            answers.append(answering.Answer(q.key, choices=values))
        elif len(values) > 1:
            problem(q.key, "give one answer")
        elif q.kind == "text":
            answers.append(answering.Answer(q.key, text=values[0].replace("\r\n", "\n")))
        elif _NUMBER.fullmatch(values[0].strip()):
            answers.append(answering.Answer(q.key, value=int(values[0].strip())))
        else:
            shown = values[0].strip()
            shown = shown if len(shown) <= 20 else shown[:20] + "…"
            problem(q.key, f"'{shown}' is not a whole number")
    return answers, problems


def by_question(problems: Sequence[InvalidInput]) -> dict[str, list[str]]:
    """Problem messages by question key (``answers.<key>``), without the "question 'key': " prefix."""
    found: dict[str, list[str]] = {}
    for p in problems:
        key = (p.field or "").removeprefix("answers.") if (p.field or "").startswith("answers.") else ""
        message = p.message.removeprefix(f"question '{key}': ") if key else p.message
        found.setdefault(key, []).append(message)
    return found


# ---- pages --------------------------------------------------------------------------------------------


def refusal(error: PmflowError, view: View | None = None) -> Response:
    """The page of a token that cannot answer: it names no survey (but an answered one's own title)."""
    if isinstance(error, answering.AlreadyAnswered):
        thanks = ""
        if view is not None:
            thanks = f"<p>Your answers to <strong>{escape(view.title)}</strong> ({escape(view.project)})"
            if view.answered_at is not None:
                thanks += f" were recorded on {escape(when(view.answered_at))}"
            thanks += ".</p>"
        return page(
            409,
            "Already answered",
            f"{thanks}<p>This survey has been answered already: one answer per person is taken. "
            "Thank you for your time. To add something, reply to the mail or write to your project "
            "manager.</p>",
        )
    if isinstance(error, answering.TokenExpired):
        return page(
            410,
            "This survey is closed",
            "<p>This survey is closed: answers are no longer taken. To tell us something all the same, "
            "reply to the mail or write to your project manager.</p>",
        )
    if isinstance(error, answering.InvalidToken):
        return page(
            404,
            "This link is not valid",
            "<p>This survey link is not valid. Check that the whole link was opened: it is long, and a "
            "mail program may split it.</p><p>If you received a reminder, use the link in the "
            "<strong>newest</strong> mail: each reminder replaces the link of the earlier mails.</p>",
        )
    return page(400, "Not possible", f"<p>{escape(error.message)}</p>")


def thanks_page(view: View) -> Response:
    return page(
        200,
        "Thank you!",
        f"<p>Your answers to <strong>{escape(view.title)}</strong> ({escape(view.project)}) were recorded. "
        "Thank you for your time: we read every answer.</p><p>You can close this page.</p>",
    )


def form_page(
    status: int,
    view: View,
    token: str,
    given: Given | None = None,
    problems: Mapping[str, Sequence[str]] | None = None,
) -> Response:
    given = given or {}
    problems = problems or {}
    parts = [
        f'<p class="project">{escape(view.project)}</p>',
        f'<p class="hint">Questions marked <span class="req" aria-hidden="true">*</span>'
        '<span class="sr">with a star</span> need an answer. Answers are taken until '
        f"{escape(when(view.expires_at))}.</p>",
    ]
    if problems:
        count = sum(len(v) for v in problems.values())
        items = "".join(
            f'<li><a href="#q-{escape(key)}">{escape(_question_text(view, key))}</a>: {escape(m)}</li>'
            if key and _has_question(view, key)
            else f"<li>{escape(m)}</li>"
            for key, messages in problems.items()
            for m in messages
        )
        which = "this problem" if count == 1 else f"these {count} problems"
        parts.append(
            f'<div class="errors" role="alert"><p><strong>Nothing was saved yet: please correct {which}.'
            f"</strong></p><ul>{items}</ul></div>"
        )
    parts.append(
        f'<form method="post" action="" accept-charset="UTF-8"><input type="hidden" name="token" '
        f'value="{escape(token)}">'
    )
    for q in view.questions:
        parts.append(question_html(q, given.get(q.key, ()), problems.get(q.key, ())))
    parts.append('<p><button type="submit">Send my answers</button></p></form>')
    return page(status, view.title, "".join(parts))


def _has_question(view: View, key: str) -> bool:
    return any(q.key == key for q in view.questions)


def _question_text(view: View, key: str) -> str:
    return next((q.text for q in view.questions if q.key == key), key)


def question_html(q: Question, given: Sequence[str], problems: Sequence[str]) -> str:
    key = escape(q.key)
    qid = f"q-{key}"
    mark = (
        ' <span class="req" aria-hidden="true">*</span><span class="sr">(required)</span>'
        if q.required
        else ""
    )
    error_id = f"{qid}-error"
    errors = (
        f'<p class="error" id="{error_id}">{"<br>".join(escape(p[:1].upper() + p[1:]) for p in problems)}</p>'
        if problems
        else ""
    )
    described = [error_id] if problems else []
    required = " required" if q.required else ""
    invalid = ' aria-invalid="true"' if problems else ""
    if q.kind == "text":
        hint_id = f"{qid}-hint"
        limit = q.max_length
        hint = f'<p class="hint" id="{hint_id}">At most {limit} characters.</p>' if limit else ""
        ids = " ".join([*described, *([hint_id] if limit else [])])
        maxlength = f' maxlength="{limit}"' if limit else ""
        describedby = f' aria-describedby="{ids}"' if ids else ""
        return (
            f'<div class="question{" has-error" if problems else ""}" id="{qid}">'
            f'<label for="{qid}-input" class="text">{escape(q.text)}{mark}</label>{hint}{errors}'
            f'<textarea id="{qid}-input" name="{key}" rows="4"{maxlength}{required}{invalid}{describedby}>'
            f"{escape(given[0]) if given else ''}</textarea></div>"
        )
    if q.kind == "choice":
        kind = "checkbox" if q.multiple else "radio"
        hint_id = f"{qid}-hint"
        hint = (
            f'<p class="hint" id="{hint_id}">{"Choose any that apply." if q.multiple else "Choose one."}</p>'
        )
        options = "".join(
            f'<label class="option"><input type="{kind}" name="{key}" value="{escape(option)}"'
            f"{' checked' if option in given else ''}{required if kind == 'radio' else ''}> "
            f"{escape(option)}</label>"
            for option in q.options
        )
        body, hint = f'{hint}<div class="options">{options}</div>', ""  # the hint before the options
        ids = " ".join([hint_id, *described])
    else:
        low, high = (q.min, q.max) if q.min is not None and q.max is not None else RANGES[q.kind]
        ends = ENDS.get(q.kind)
        hint_id = f"{qid}-ends"
        if ends is not None:
            hint = (
                f'<p class="ends" id="{hint_id}"><span>{low} = {escape(ends[0])}</span>'
                f"<span>{high} = {escape(ends[1])}</span></p>"
            )
        else:
            hint = f'<p class="hint" id="{hint_id}">From {low} to {high}.</p>'
        picked = given[0].strip() if given else ""
        if high - low + 1 > MAX_RADIOS:
            body = (
                f'<input type="number" class="number" name="{key}" min="{low}" max="{high}" step="1" '
                f'inputmode="numeric" aria-labelledby="{qid}-legend" value="{escape(picked)}"{required}>'
            )
        else:
            body = (
                '<div class="scale">'
                + "".join(
                    f'<label class="point"><input type="radio" name="{key}" value="{n}"'
                    f"{' checked' if picked == str(n) else ''}{required}><span>{n}</span></label>"
                    for n in range(low, high + 1)
                )
                + "</div>"
            )
        ids = " ".join([hint_id, *described])
    return (
        f'<fieldset class="question{" has-error" if problems else ""}" id="{qid}" aria-describedby="{ids}"'
        f'{invalid}><legend id="{qid}-legend">{escape(q.text)}{mark}</legend>{errors}{body}{hint}</fieldset>'
    )


def when(moment: datetime) -> str:
    """A date and time as people read it, in UTC: "26 November 2026, 14:30 UTC"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


STYLE = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;
color:#1d2330}
main{max-width:40rem;margin:0 auto;padding:1.25rem 1rem 3rem;background:#fff;min-height:100vh}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 .25rem}
.project{margin:0;color:#4a5468;font-weight:600}
.hint{color:#4a5468;font-size:.9rem;margin:.25rem 0}
.question{border:1px solid #d5d9e0;border-radius:.5rem;margin:1.25rem 0;padding:.75rem 1rem 1rem}
legend,label.text{font-weight:600;padding:0 .25rem}
label.text{display:block;padding:0;margin-bottom:.25rem}
div.question{border:1px solid #d5d9e0}
.scale{display:flex;flex-wrap:wrap;gap:.4rem;margin:.5rem 0}
.point{position:relative}
.point input{position:absolute;opacity:0;width:100%;height:100%;margin:0;cursor:pointer}
.point span{display:block;min-width:2.6rem;padding:.55rem .4rem;text-align:center;border:1px solid #8a94a6;
border-radius:.4rem;background:#fff}
.point input:checked+span{background:#1f5fbf;border-color:#1f5fbf;color:#fff;font-weight:700}
.point input:focus-visible+span{outline:3px solid #f0a500;outline-offset:2px}
.ends{display:flex;justify-content:space-between;gap:1rem;font-size:.85rem;color:#4a5468;margin:0}
.options{display:flex;flex-direction:column;gap:.35rem;margin:.5rem 0}
.option{display:flex;gap:.5rem;align-items:center;padding:.3rem 0}
.option input{width:1.2rem;height:1.2rem}
textarea,.number{width:100%;font:inherit;padding:.5rem;border:1px solid #8a94a6;border-radius:.4rem}
.number{max-width:10rem}
button{font:inherit;font-weight:600;background:#1f5fbf;color:#fff;border:0;border-radius:.4rem;
padding:.75rem 1.5rem;cursor:pointer;width:100%;max-width:20rem}
.req{color:#b3261e;font-weight:700}
.error{color:#b3261e;font-weight:600;margin:.25rem 0}
.has-error{border-color:#b3261e;border-width:2px}
.errors{border:2px solid #b3261e;border-radius:.5rem;padding:.5rem 1rem;margin:1rem 0;background:#fdf3f2}
.errors a{color:#b3261e}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
"""


def page(status: int, title: str, body: str) -> Response:
    """A whole HTML page; ``body`` is HTML already escaped."""
    text = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=HEADERS)
