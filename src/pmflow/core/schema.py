"""The structure of a workflow file (keys and types); meaning is checked in ``validation``.

Kept deliberately lenient about values (names, durations, schemas are plain here) so that every
structural mistake is reported in one pass and the semantic checks can name the real problem.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _ref(value: Any) -> Any:
    """``name`` or ``{name: argument}`` -> ``{"name": ..., "argument": ...}``."""
    if isinstance(value, str):
        return {"name": value, "argument": None}
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        return {"name": name, "argument": argument}
    raise ValueError("expected a name, or a mapping with exactly one key: {name: argument}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RefModel(_Strict):
    name: StrictStr
    argument: Any = None


Refs = list[Annotated[RefModel, BeforeValidator(_ref)]]
Names = Annotated[list[StrictStr], BeforeValidator(_listify)]


class TimeoutModel(_Strict):
    after: StrictStr
    trigger: StrictStr


class StateModel(_Strict):
    name: StrictStr
    label: StrictStr | None = None
    description: StrictStr | None = None
    initial: StrictStr | None = None
    final: StrictBool = False
    timeout: TimeoutModel | None = None
    on_enter: Refs = Field(default_factory=list)
    on_exit: Refs = Field(default_factory=list)
    states: list[StateModel] = Field(default_factory=list)


class TransitionModel(_Strict):
    trigger: StrictStr
    source: Names
    dest: StrictStr | None = None
    internal: StrictBool = False
    label: StrictStr | None = None
    description: StrictStr | None = None
    roles: Names = Field(default_factory=list)
    conditions: Refs = Field(default_factory=list)
    unless: Refs = Field(default_factory=list)
    actions: Refs = Field(default_factory=list)
    payload: dict[StrictStr, Any] | None = None


class WorkflowModel(_Strict):
    workflow: StrictStr
    version: StrictInt = Field(ge=1)
    subject: StrictStr
    label: StrictStr | None = None
    description: StrictStr | None = None
    initial: StrictStr
    roles: Names | None = None
    fields: dict[StrictStr, dict[StrictStr, Any]] = Field(default_factory=dict)
    states: list[StateModel] = Field(min_length=1)
    transitions: list[TransitionModel] = Field(default_factory=list)
    settings: dict[StrictStr, Any] = Field(default_factory=dict)


def known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)
