"""Read workflow files: YAML with positions, structure checked by pydantic, meaning by ``validation``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
                line, column = node.lc.key(step) if at_key else node.lc.value(step)
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
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = " ".join(filter(None, [error.context, error.problem])) or "invalid YAML"
        return None, [Problem(str(path), line, column, f"invalid YAML: {reason}")]
    except YAMLError as error:
        return None, [Problem(str(path), 1, 1, f"invalid YAML: {error}")]


def check_structure(locator: Locator) -> tuple[WorkflowModel | None, list[Problem]]:
    """Keys and types, every mistake at once, each with its position."""
    tree = locator.tree
    if not isinstance(tree, CommentedMap):
        return None, [
            Problem(
                locator.file,
                1,
                1,
                "a workflow file must be a mapping with the keys workflow, version, subject, "
                "initial, states and transitions",
            )
        ]
    try:
        return WorkflowModel.model_validate(_plain(tree)), []
    except ValidationError as error:
        return None, [_problem_from(locator, detail) for detail in error.errors()]


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
    message = str(detail["msg"]).removeprefix("Value error, ")
    return locator.problem(loc, f"{where}: {message[0].lower()}{message[1:]}")


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
