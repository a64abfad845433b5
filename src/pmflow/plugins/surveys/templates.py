"""Survey templates: YAML files naming a questionnaire, checked at startup with every problem at once.

A template is ``survey`` (its name, what triggers ask for), ``title``, ``kind`` (``csat``, ``nps`` or
``custom``: which question's answer is the survey's score), ``answer_within`` (ISO duration, default
``P14D``) and ``questions``. Built-ins live beside this module (``templates/*.yaml``); an organisation's
directory adds templates and overrides built-ins of the same name. Problems are reported as
``file:line:column: message`` with the positions of the workflow loader (``pmflow.core.loader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml.comments import CommentedMap

from pmflow.core.durations import DurationError, parse_duration
from pmflow.core.loader import Locator, read_yaml, shown
from pmflow.core.problems import Problem, did_you_mean

BUILT_IN = Path(__file__).resolve().parent / "templates"

SURVEY_KINDS = ("csat", "nps", "custom")
QUESTION_KINDS = ("csat", "nps", "scale", "choice", "text")
# The fixed ranges of the standard questions.
RANGES = {"csat": (1, 5), "nps": (0, 10)}
DEFAULT_MAX_LENGTH = 2000
DEFAULT_ANSWER_WITHIN = "P14D"

Loc = tuple[str | int, ...]


class QuestionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    key: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Literal["csat", "nps", "scale", "choice", "text"]
    text: str = Field(min_length=1)
    required: bool = True
    min: int | None = None
    max: int | None = None
    options: list[str] | None = None
    multiple: bool | None = None
    max_length: int | None = Field(default=None, gt=0)


class TemplateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    survey: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    kind: Literal["csat", "nps", "custom"]
    answer_within: str = DEFAULT_ANSWER_WITHIN
    # each question is checked on its own (QuestionModel), so one bad question hides no other problem
    questions: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class Question:
    """One question as sent (stored in ``surveys.questions``) and as answers are checked against."""

    key: str
    kind: str
    text: str
    required: bool = True
    min: int | None = None  # csat, nps and scale
    max: int | None = None
    options: tuple[str, ...] = ()  # choice
    multiple: bool = False  # choice: several options may be picked
    max_length: int | None = None  # text

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "text": self.text,
            "required": self.required,
            "min": self.min,
            "max": self.max,
            "options": list(self.options),
            "multiple": self.multiple,
            "max_length": self.max_length,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Question:
        return cls(
            key=str(value["key"]),
            kind=str(value["kind"]),
            text=str(value["text"]),
            required=bool(value.get("required", True)),
            min=value.get("min"),
            max=value.get("max"),
            options=tuple(value.get("options") or ()),
            multiple=bool(value.get("multiple", False)),
            max_length=value.get("max_length"),
        )


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    kind: str
    answer_within: timedelta
    questions: tuple[Question, ...]
    file: str

    @property
    def score_key(self) -> str | None:
        """The question whose answer is the survey's score (the first of the survey's kind)."""
        return score_key(self.kind, self.questions)


def score_key(kind: str, questions: Iterable[Question]) -> str | None:
    return next((q.key for q in questions if q.kind == kind), None) if kind in RANGES else None


class TemplateError(Exception):
    """Survey templates with problems; ``problems`` has every one, each naming file, line and column."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in survey templates:\n"
            + "\n".join(str(p) for p in self.problems)
        )


def where(loc: Loc) -> str:
    """``questions[1].options`` for a path of keys and indexes."""
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "the template"


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _structure_problem(locator: Locator, detail: Mapping[str, Any]) -> Problem:
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        known = QuestionModel.model_fields if "questions" in loc[:-1] else TemplateModel.model_fields
        return locator.problem(
            loc,
            f"unknown key '{loc[-1]}' in {where(loc[:-1])}",
            did_you_mean(str(loc[-1]), known),
            key=True,
        )
    if kind == "missing":
        return locator.problem(loc[:-1], f"missing required key '{loc[-1]}' in {where(loc[:-1])}")
    if kind == "literal_error" and loc and loc[-1] == "kind":
        allowed = QUESTION_KINDS if "questions" in loc else SURVEY_KINDS
        hint = did_you_mean(str(detail["input"]), allowed)
        return locator.problem(
            loc,
            f"{where(loc)}: unknown kind {shown(detail['input'])} (one of {', '.join(allowed)})",
            hint,
        )
    if kind == "string_pattern_mismatch":
        return locator.problem(
            loc, f"{where(loc)}: {shown(detail['input'])} is not a key: use letters, digits and '_'"
        )
    message = str(detail["msg"]).removeprefix("Value error, ").removeprefix("Input ")
    return locator.problem(
        loc, f"{where(loc)}: {message[0].lower()}{message[1:]} (got {shown(detail['input'])})"
    )


RESERVED_KEYS = frozenset({"token"})


def _question_problems(questions: Sequence[tuple[int, QuestionModel]]) -> Iterable[tuple[Loc, str]]:
    """What pydantic's types cannot say of the (well-formed) questions: ranges, options, unique keys."""
    seen: dict[str, int] = {}
    for index, q in questions:
        at: Loc = ("questions", index)
        if q.key in seen:
            yield (
                (*at, "key"),
                f"{where((*at, 'key'))}: duplicate question key '{q.key}' (also questions[{seen[q.key]}])",
            )
        seen.setdefault(q.key, index)
        if q.key in RESERVED_KEYS:  # the answer page's form carries the link's token under that name
            yield (*at, "key"), f"{where((*at, 'key'))}: '{q.key}' is reserved: name the question otherwise"
        if q.kind == "scale":
            if q.min is None or q.max is None:
                yield at, f"{where(at)}: a scale question needs both min and max"
            elif q.min >= q.max:
                yield (*at, "max"), f"{where((*at, 'max'))}: max ({q.max}) must be greater than min ({q.min})"
        else:
            for name in ("min", "max"):
                if getattr(q, name) is not None:
                    yield (*at, name), f"{where((*at, name))}: only scale questions take {name}"
        if q.kind == "choice":
            if not q.options:
                yield at, f"{where(at)}: a choice question needs options (a list of texts)"
            else:
                doubles = sorted({o for o in q.options if q.options.count(o) > 1})
                if doubles:
                    yield (*at, "options"), f"{where((*at, 'options'))}: option '{doubles[0]}' is given twice"
                if any(not o.strip() for o in q.options):
                    yield (*at, "options"), f"{where((*at, 'options'))}: an option must not be empty"
        else:
            for name in ("options", "multiple"):
                if getattr(q, name) is not None:
                    yield (*at, name), f"{where((*at, name))}: only choice questions take {name}"
        if q.kind != "text" and q.max_length is not None:
            yield (*at, "max_length"), f"{where((*at, 'max_length'))}: only text questions take max_length"


def _head_problems(model: TemplateModel, questions: Sequence[QuestionModel]) -> Iterable[tuple[Loc, str]]:
    try:
        parse_duration(model.answer_within)
    except DurationError as error:
        yield ("answer_within",), f"answer_within: {error}"
    if model.kind in RANGES and not any(q.kind == model.kind for q in questions):
        yield ("kind",), f"kind: a {model.kind} survey needs a question of kind {model.kind} (its score)"


def _template(model: TemplateModel, parsed: Sequence[QuestionModel], file: str) -> Template:
    questions = []
    for q in parsed:
        low, high = RANGES.get(q.kind, (q.min, q.max))
        questions.append(
            Question(
                key=q.key,
                kind=q.kind,
                text=q.text,
                required=q.required,
                min=low,
                max=high,
                options=tuple(q.options or ()),
                multiple=bool(q.multiple),
                max_length=(q.max_length or DEFAULT_MAX_LENGTH) if q.kind == "text" else None,
            )
        )
    return Template(
        name=model.survey,
        title=model.title,
        kind=model.kind,
        answer_within=parse_duration(model.answer_within),
        questions=tuple(questions),
        file=file,
    )


def read_template(path: Path) -> tuple[Template | None, list[Problem]]:
    """One file: the template, or the problems found in it (every one)."""
    tree, problems = read_yaml(path)
    file = str(path)
    if problems:
        return None, problems
    if not isinstance(tree, CommentedMap):
        found = "the file is empty" if tree is None else f"found {shown(_plain(tree))}"
        message = f"a survey template must be a mapping with survey, title, kind and questions; {found}"
        return None, [Problem(file, 1, 1, message)]
    locator = Locator(file, tree)
    plain = _plain(tree)
    problems = []
    model: TemplateModel | None = None
    try:
        model = TemplateModel.model_validate(plain)
    except ValidationError as error:
        problems.extend(_structure_problem(locator, detail) for detail in error.errors())
    raw = plain.get("questions")
    parsed: list[tuple[int, QuestionModel]] = []
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            parsed.append((index, QuestionModel.model_validate(item)))
        except ValidationError as error:
            for detail in error.errors():
                moved = {**detail, "loc": ("questions", index, *detail["loc"])}
                problems.append(_structure_problem(locator, moved))
    meaning = list(_question_problems(parsed))
    if model is not None and len(parsed) == len(raw or []):
        meaning.extend(_head_problems(model, [q for _, q in parsed]))
    problems.extend(locator.problem(loc, message) for loc, message in meaning)
    if problems or model is None:
        return None, problems
    return _template(model, [q for _, q in parsed], file), []


def template_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_templates(directories: Sequence[Path]) -> dict[str, Template]:
    """The templates of ``directories`` in order (a later one overrides an earlier one's of the same
    name); ``TemplateError`` with every problem of every file."""
    found: dict[str, Template] = {}
    problems: list[Problem] = []
    for directory in directories:
        if not directory.is_dir():
            problems.append(Problem(str(directory), 1, 1, "survey templates directory does not exist"))
            continue
        here: dict[str, Template] = {}
        for path in template_files(directory):
            template, trouble = read_template(path)
            problems.extend(trouble)
            if template is None:
                continue
            if template.name in here:
                tree, _ = read_yaml(path)
                line, column = Locator(str(path), tree).position(("survey",))
                problems.append(
                    Problem(
                        str(path),
                        line,
                        column,
                        f"survey: '{template.name}' is declared twice in {directory} "
                        f"(also in {here[template.name].file})",
                    )
                )
                continue
            here[template.name] = template
        found.update(here)
    if problems:
        raise TemplateError(problems)
    return found
