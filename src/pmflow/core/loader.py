"""Read workflow files: YAML with positions, structure checked by pydantic, meaning by ``validation``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from pmflow.core.problems import Problem, did_you_mean
from pmflow.core.schema import StateModel, TimeoutModel, TransitionModel, WorkflowModel

Loc = Sequence[str | int]


class Locator:
    """Maps a path of keys and indexes inside a parsed file to its (line, column), 1-based."""

    def __init__(self, file: str, tree: Any) -> None:
        self.file = file
        self.tree = tree

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``loc`` (or of its key when ``key``); the nearest parent if absent."""
        node = self.tree
        line, column = 0, 0
        for index, step in enumerate(loc):
            if isinstance(node, CommentedMap) and step in node:
                at_key = key and index == len(loc) - 1
                found = _own_position(node, step, at_key)
                # a key merged in (`<<: *anchor`) has no position of its own in this mapping
                line, column = found if found is not None else (node.lc.line, node.lc.col)
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
                line, column = node.lc.item(step)
                node = node[step]
            else:
                break
        return line + 1, column + 1

    def problem(self, loc: Loc, message: str, suggestion: str | None = None, *, key: bool = False) -> Problem:
        line, column = self.position(loc, key=key)
        return Problem(self.file, line, column, message, suggestion)


def _own_position(node: CommentedMap, step: Any, key: bool) -> tuple[int, int] | None:
    """Where ``step`` (0-based) is written: in ``node`` itself, or in the mapping a merge key
    (``<<: *anchor``) brought it from, searched in the order the merge gives precedence."""
    if step in (node.lc.data or {}):  # None when every key was merged in
        position: tuple[int, int] = node.lc.key(step) if key else node.lc.value(step)
        return position
    for item in getattr(node, "merge", None) or ():
        source = item[-1] if isinstance(item, tuple) else item  # ruamel 0.18 keeps (index, map)
        if isinstance(source, CommentedMap) and step in source:
            found = _own_position(source, step, key)
            if found is not None:
                return found
    return None


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Parse one file keeping positions; syntax errors (and duplicate keys) become problems."""
    yaml = YAML(typ="rt")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(str(path), 1, 1, f"cannot read file: {error}")]
    try:
        return yaml.load(text), []
    except MarkedYAMLError as error:
        return None, [_syntax_problem(str(path), error)]
    except YAMLError as error:
        return None, [Problem(str(path), 1, 1, f"invalid YAML: {error}")]


_DUPLICATE_KEY = re.compile(r'found duplicate key "(?P<key>.*?)" with value')


def _syntax_problem(file: str, error: MarkedYAMLError) -> Problem:
    """ruamel's "while parsing X ... expected Y" -> "expected Y (while parsing X that starts on line N)"."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = error.problem or ""
    started = (
        f" that starts on line {error.context_mark.line + 1}"
        if error.context_mark is not None and error.context_mark is not mark
        else ""
    )
    duplicate = _DUPLICATE_KEY.search(problem)
    if duplicate:
        message = f"duplicate key '{duplicate['key']}' in the mapping{started}"
        return Problem(file, line, column, message, "a key may appear only once; remove or rename one")
    message = f"invalid YAML: {problem}" if problem else "invalid YAML"
    if error.context:
        message += f" ({error.context}{started})"
    suggestion = None
    if "\\t" in problem or "\t" in problem:
        suggestion = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        suggestion = "put a text that contains ': ' in quotes"
    return Problem(file, line, column, message, suggestion)


def check_structure(locator: Locator) -> tuple[WorkflowModel | None, list[Problem]]:
    """Keys and types, every mistake at once, each with its position."""
    tree = locator.tree
    if not isinstance(tree, CommentedMap):
        found = "the file is empty" if tree is None else f"found {shown(_plain(tree))}"
        return None, [
            Problem(
                locator.file,
                1,
                1,
                f"a workflow file must be a mapping with the keys workflow, version, subject, "
                f"initial, states and transitions; {found}",
            )
        ]
    try:
        return WorkflowModel.model_validate(_plain(tree)), []
    except ValidationError as error:
        return None, [_problem_from(locator, detail) for detail in error.errors()]


@dataclass(frozen=True)
class Salvaged:
    """What is left of a file with structural mistakes once the broken parts are cut out.

    ``transitions`` maps each kept transition to its index in the file, so positions stay right.
    The meaning of what is left can still be checked (unknown names, durations, schemas) so one
    run reports everything; checks of the whole (reachability, final states, timeout triggers)
    cannot, since something was cut out.
    """

    model: WorkflowModel
    transitions: tuple[int, ...]


def salvage(locator: Locator) -> Salvaged | None:
    """Cut the parts with structural mistakes out of the file; None when too little is left."""
    tree = _plain(locator.tree)
    if not isinstance(tree, dict):
        return None
    try:
        WorkflowModel.model_validate(tree)
    except ValidationError as error:
        dropped: set[int] = set()
        for detail in error.errors():
            if not _cut(tree, tuple(detail["loc"]), dropped):
                return None
        items = tree.get("transitions")
        kept = [i for i in range(len(items)) if i not in dropped] if isinstance(items, list) else []
        if isinstance(items, list):
            tree["transitions"] = [items[i] for i in kept]
        try:
            return Salvaged(WorkflowModel.model_validate(tree), tuple(kept))
        except ValidationError:
            return None
    return None  # nothing to salvage: the file is structurally fine


_PLACEHOLDERS: dict[str, Any] = {"workflow": "unnamed", "version": 1, "subject": "unnamed"}


def _cut(tree: dict[str, Any], loc: tuple[str | int, ...], dropped: set[int]) -> bool:
    """Remove what ``loc`` points at (or the smallest thing around it); False if the file is too
    broken for its meaning to be checked (no states, a state without a name, no initial state)."""
    if not loc:
        return False
    top = loc[0]
    if len(loc) == 1 and top not in WorkflowModel.model_fields:  # unknown top-level key
        tree.pop(str(top), None)
        return True
    if top in _PLACEHOLDERS:
        tree[str(top)] = _PLACEHOLDERS[str(top)]
        return True
    if top == "initial":
        states = tree.get("states")
        first = states[0] if isinstance(states, list) and states else None
        if isinstance(first, dict) and isinstance(first.get("name"), str):
            tree["initial"] = first["name"]
            return True
        return False
    if top in ("label", "description", "roles") or (top in ("fields", "transitions") and len(loc) == 1):
        tree.pop(str(top), None)
        return True
    if top == "fields":
        fields = tree.get("fields")
        if isinstance(fields, dict):
            fields.pop(loc[1], None)
        return True
    if top == "transitions":
        if isinstance(loc[1], int):
            dropped.add(loc[1])
            return True
        return False
    if top == "states":
        return _cut_state(tree, loc)
    return False


def _cut_state(tree: dict[str, Any], loc: tuple[str | int, ...]) -> bool:
    """Within a (nested) state only a key can go: a state itself, or its name, cannot."""
    node: Any = tree
    index = 0
    while index + 1 < len(loc) and loc[index] == "states" and isinstance(loc[index + 1], int):
        items = node.get("states") if isinstance(node, dict) else None
        if not isinstance(items, list) or not isinstance(loc[index + 1], int):
            return False
        node = items[int(loc[index + 1])]
        index += 2
    if index == 0 or index >= len(loc) or not isinstance(node, dict):
        return False  # the list of states itself, or a state that is not a mapping
    key = loc[index]
    if key in ("name", "states"):
        return False
    node.pop(key, None)
    return True


def _plain(node: Any) -> Any:
    """ruamel's containers -> dicts and lists (pydantic validates the plain shapes)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _problem_from(locator: Locator, detail: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(detail["loc"])
    kind = detail["type"]
    where = _describe(loc)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        key = str(loc[-1])
        return locator.problem(
            loc,
            f"unknown key '{key}' in {_describe(loc[:-1]) or 'the workflow'}",
            did_you_mean(key, model.model_fields) if model else None,
            key=True,
        )
    if kind == "missing":
        return locator.problem(
            loc[:-1], f"missing required key '{loc[-1]}' in {_describe(loc[:-1]) or 'the workflow'}"
        )
    if kind in _EXPECTED:
        return locator.problem(
            loc, f"{where}: expected {_EXPECTED[kind]}, got {shown(detail['input'])}", _hint(loc, detail)
        )
    if kind == "too_short":
        return locator.problem(loc, f"{where}: must not be empty")
    message = str(detail["msg"]).removeprefix("Value error, ").removeprefix("Input ")
    return locator.problem(loc, f"{where}: {message[0].lower()}{message[1:]}")


_MAPPING = "a mapping (key: value)"
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": _MAPPING,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "list_type": "a list",
}


JSON_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})


def shown(value: Any) -> str:
    """How a wrongly typed value reads in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _hint(loc: Sequence[str | int], detail: Any) -> str | None:
    """How to write the common cases right: a state given as a bare name, a bare timeout, ..."""
    value = detail["input"]
    model = _model_at(loc)
    if model is StateModel and isinstance(value, str):
        return f"write '- name: {value}'"
    if model is TimeoutModel and isinstance(value, str):
        return f"write 'timeout: {{after: {value}, trigger: <trigger>}}'"
    if len(loc) == 2 and loc[0] == "fields" and isinstance(value, str) and value in JSON_TYPES:
        return f"write '{loc[1]}: {{type: {value}}}'"
    if detail["type"] == "bool_type" and isinstance(value, str):
        if value.lower() in ("yes", "no", "on", "off", "y", "n"):
            return "YAML 1.2 reads yes/no/on/off as text: write true or false"
        if value.lower() in ("true", "false"):
            return "write true or false without quotes"
    if detail["type"] == "list_type" and isinstance(value, str):
        return f"write [{value}]"
    return None


def _model_at(loc: Iterable[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = WorkflowModel
    for step in loc:
        if isinstance(step, int):
            continue
        if step == "states":
            model = StateModel
        elif step == "transitions":
            model = TransitionModel
        elif step == "timeout":
            model = TimeoutModel
        else:
            return None
    return model


def _describe(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for step in loc:
        if isinstance(step, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{step}]"]
        else:
            parts.append(str(step))
    return ".".join(parts)
