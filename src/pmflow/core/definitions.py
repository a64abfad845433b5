"""Validated, immutable workflow definitions: what the engine and the machines are built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

SEPARATOR = "."
ANY_STATE = "*"


@dataclass(frozen=True, slots=True)
class Ref:
    """A named condition or action with its argument, as written in the file."""

    name: str
    argument: Any = None

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}: {self.argument!r}"


@dataclass(frozen=True, slots=True)
class Timeout:
    after: timedelta
    after_text: str
    trigger: str


@dataclass(frozen=True, slots=True)
class StateDef:
    path: str  # "requirements.confirmation"
    name: str  # "confirmation"
    label: str
    description: str | None
    parent: str | None
    children: tuple[str, ...]
    initial: str | None  # full path of the initial child of a compound state
    final: bool
    timeout: Timeout | None
    on_enter: tuple[Ref, ...]
    on_exit: tuple[Ref, ...]

    @property
    def compound(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True, slots=True)
class TransitionDef:
    trigger: str
    sources: tuple[str, ...]  # as written: state paths or "*"
    dest: str | None  # None: internal transition, the state does not change
    label: str
    description: str | None
    roles: frozenset[str]
    conditions: tuple[Ref, ...]
    unless: tuple[Ref, ...]
    actions: tuple[Ref, ...]
    payload_schema: Mapping[str, Any] | None
    leaf_sources: frozenset[str]
    line: int


# eq=False: hashed by identity, so validators can be cached per field.
@dataclass(frozen=True, slots=True, eq=False)
class FieldDef:
    name: str
    schema: Mapping[str, Any]
    required: bool
    label: str


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    version: int
    subject: str
    label: str
    description: str | None
    initial: str
    states: Mapping[str, StateDef]  # by path, in file order (parents before children)
    transitions: tuple[TransitionDef, ...]
    fields: Mapping[str, FieldDef]
    roles: frozenset[str] | None
    source_file: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    _by_leaf: dict[str, dict[str, TransitionDef]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for transition in self.transitions:
            for leaf in transition.leaf_sources:
                self._by_leaf.setdefault(leaf, {})[transition.trigger] = transition

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def leaves(self) -> list[str]:
        return [path for path, state in self.states.items() if not state.compound]

    def resolve_initial(self, path: str) -> str:
        """The leaf a subject lands in when it enters ``path`` (compound states descend)."""
        state = self.states[path]
        while state.initial is not None:
            state = self.states[state.initial]
        return state.path

    @property
    def initial_leaf(self) -> str:
        return self.resolve_initial(self.initial)

    def transitions_from(self, leaf: str) -> Mapping[str, TransitionDef]:
        """Every trigger out of ``leaf`` (including those declared on its ancestors or ``*``)."""
        return self._by_leaf.get(leaf, {})

    def transition_for(self, leaf: str, trigger: str) -> TransitionDef | None:
        return self._by_leaf.get(leaf, {}).get(trigger)

    def is_final(self, leaf: str) -> bool:
        return self.states[leaf].final

    def ancestors(self, path: str) -> list[str]:
        """``path`` and its ancestors, innermost first."""
        chain = []
        current: str | None = path
        while current is not None:
            chain.append(current)
            current = self.states[current].parent
        return chain
