"""The meaning of a workflow file: states, references, reachability, names the plugins provide.

Every problem is collected (never the first only) with its position and, where one exists,
a suggestion. A file with problems yields no definition.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema import ValidationError as SchemaValidationError

from pmflow.core.definitions import (
    ANY_STATE,
    SEPARATOR,
    FieldDef,
    Ref,
    StateDef,
    Timeout,
    TransitionDef,
    WorkflowDefinition,
)
from pmflow.core.durations import DurationError, parse_duration
from pmflow.core.loader import JSON_TYPES, Loc, Locator
from pmflow.core.plugins import Catalog
from pmflow.core.problems import Problem, did_you_mean
from pmflow.core.schema import RefModel, StateModel, WorkflowModel

CREATE_TRIGGER = "create"  # the engine records creation under this trigger
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
TRIGGER = re.compile(r"^[a-z][a-z0-9_]*$")

# JSON Schema keywords (2020-12) a field schema may use, plus pmflow's own `required` and `label`;
# check_schema alone would accept a misspelt keyword ("tpye") silently.
SCHEMA_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | {
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "$comment",
    "$anchor",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
}
FIELD_KEYWORDS = SCHEMA_KEYWORDS | {"label"}


def _humanise(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").capitalize()


def describe_argument(schema: Mapping[str, Any]) -> str:
    """The shape a condition's or action's argument schema asks for, in words."""
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(alternatives, list) and alternatives:
        return " or ".join(describe_argument(option) for option in alternatives)
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and items.get("type") in _PLURALS:
            return f"a list of {_PLURALS[items['type']]}"
        return "a list"
    return _SINGULARS.get(kind, "a value") if isinstance(kind, str) else "a value"


_SINGULARS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
}
_PLURALS = {"string": "strings", "integer": "whole numbers", "number": "numbers", "object": "mappings"}


@dataclass
class _Draft:
    """States collected while walking the file, with where each was declared."""

    states: dict[str, StateModel] = field(default_factory=dict)
    locs: dict[str, Loc] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    initials: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Declared:
    """A transition whose sources resolved, kept even when something else in it is wrong, so
    overlaps and timeouts are checked against what the file says rather than what survived."""

    index: int  # in the file
    trigger: str
    sources: tuple[str, ...]
    leaf_sources: frozenset[str]
    line: int


class _Checker:
    def __init__(
        self,
        locator: Locator,
        model: WorkflowModel,
        catalog: Catalog,
        origins: tuple[int, ...] | None = None,
    ) -> None:
        self.at = locator
        self.model = model
        self.catalog = catalog
        # index in the file of each transition of the model (salvaged models lack some)
        self.origins = origins if origins is not None else tuple(range(len(model.transitions)))
        # Parts of the file were cut out (structural mistakes): checks of the whole are skipped.
        self.partial = origins is not None
        self.problems: list[Problem] = []
        self.draft = _Draft()
        # An unresolved initial child leaves entering its parent undefined: no graph checks then.
        self.graph_incomplete = False

    def report(self, loc: Loc, message: str, suggestion: str | None = None, *, key: bool = False) -> None:
        self.problems.append(self.at.problem(loc, message, suggestion, key=key))

    # ---- states -------------------------------------------------------------------------
    def collect_states(self, items: list[StateModel], parent: str | None, loc: Loc) -> None:
        first_seen: dict[str, int] = {}
        for index, state in enumerate(items):
            here = (*loc, index)
            if not NAME.match(state.name):
                reason = (
                    f"'{SEPARATOR}' separates nested states"
                    if SEPARATOR in state.name
                    else "use letters, digits, '_' or '-', starting with a letter"
                )
                self.report((*here, "name"), f"invalid state name '{state.name}': {reason}")
                continue
            if state.name in first_seen:
                line, _ = self.at.position((*loc, first_seen[state.name]))
                self.report(
                    (*here, "name"),
                    f"duplicate state '{state.name}' (already declared on line {line})",
                )
                continue
            first_seen[state.name] = index
            path = f"{parent}{SEPARATOR}{state.name}" if parent else state.name
            draft = self.draft
            draft.states[path] = state
            draft.locs[path] = here
            draft.parents[path] = parent
            draft.children[path] = []
            if parent is not None:
                draft.children[parent].append(path)
            if state.final and state.states:
                self.report(
                    (*here, "final"),
                    f"state '{path}' has nested states and cannot be final; mark a nested state final",
                )
            if state.initial is not None and not state.states:
                self.report(
                    (*here, "initial"),
                    f"'initial' only applies to a state with nested states; '{path}' has none",
                )
            self.collect_states(state.states, path, (*here, "states"))
            draft.initials[path] = None
            if state.states:
                child_names = [c.name for c in state.states]
                chosen = state.initial if state.initial is not None else child_names[0]
                if chosen in child_names:
                    draft.initials[path] = f"{path}{SEPARATOR}{chosen}"
                else:
                    self.graph_incomplete = True
                    self.report(
                        (*here, "initial"),
                        f"unknown initial state '{chosen}' of '{path}'",
                        did_you_mean(chosen, child_names) or f"choose one of: {', '.join(child_names)}",
                    )

    def resolve_state(self, name: str, loc: Loc, role: str) -> str | None:
        if name in self.draft.states:
            return name
        paths = list(self.draft.states)
        short = [p for p in paths if p.rsplit(SEPARATOR, 1)[-1] == name]
        suggestion = f"did you mean '{short[0]}'?" if len(short) == 1 else did_you_mean(name, paths)
        self.report(loc, f"unknown {role} state '{name}'", suggestion)
        return None

    def leaves_under(self, path: str) -> list[str]:
        children = self.draft.children.get(path, [])
        if not children:
            return [path]
        return [leaf for child in children for leaf in self.leaves_under(child)]

    def initial_leaf(self, path: str) -> str | None:
        current: str | None = path
        while current is not None and self.draft.children.get(current):
            current = self.draft.initials.get(current)
        return current

    # ---- names from plugins ---------------------------------------------------------------
    def check_refs(self, refs: list[RefModel], kind: str, loc: Loc) -> tuple[Ref, ...]:
        provided: Mapping[str, Any] = self.catalog.conditions if kind == "condition" else self.catalog.actions
        out: list[Ref] = []
        for index, ref in enumerate(refs):
            here = (*loc, index)
            item = provided.get(ref.name)
            if item is None:
                known = sorted(provided)
                self.report(
                    here,
                    f"unknown {kind} '{ref.name}'",
                    did_you_mean(ref.name, known)
                    or (f"available: {', '.join(known)}" if known else f"no plugin provides a {kind}"),
                )
                continue
            schema = item.argument
            if schema is None and ref.argument is not None:
                self.report(here, f"{kind} '{ref.name}' takes no argument; write just '{ref.name}'")
                continue
            if schema is not None:
                expected = describe_argument(schema)
                if ref.argument is None:
                    self.report(
                        here,
                        f"{kind} '{ref.name}' needs an argument ({expected}): "
                        f"write '{{{ref.name}: <value>}}'",
                        f"{ref.name}: {item.description}" if item.description else None,
                    )
                    continue
                try:
                    Draft202012Validator(schema).validate(ref.argument)
                except SchemaValidationError as error:
                    self.report(
                        (*here, ref.name),
                        f"bad argument for {kind} '{ref.name}': {error.message}",
                        f"expected {expected}",
                    )
                    continue
            out.append(Ref(ref.name, ref.argument))
        return tuple(out)

    # ---- schemas --------------------------------------------------------------------------
    def check_schema(self, schema: Mapping[str, Any], loc: Loc, what: str, keywords: frozenset[str]) -> bool:
        ok = True
        for keyword in schema:
            if keyword not in keywords:
                self.report(
                    (*loc, keyword),
                    f"unknown keyword '{keyword}' in {what}",
                    did_you_mean(keyword, keywords),
                    key=True,
                )
                ok = False
        try:
            Draft202012Validator.check_schema({k: v for k, v in schema.items() if k in SCHEMA_KEYWORDS})
        except SchemaError as error:
            where = "/".join(str(p) for p in error.path)
            at = f" (at '{where}')" if where else ""
            bad_type = error.instance if error.path and error.path[-1] == "type" else None
            if isinstance(bad_type, str) and bad_type not in JSON_TYPES:
                self.report(
                    (*loc, *error.path),
                    f"bad {what}: unknown type '{bad_type}'{at}",
                    did_you_mean(bad_type, JSON_TYPES) or f"use one of: {', '.join(sorted(JSON_TYPES))}",
                )
            else:
                self.report((*loc, *error.path) if error.path else loc, f"bad {what}: {error.message}{at}")
            ok = False
        return ok

    def fields(self) -> dict[str, FieldDef]:
        out: dict[str, FieldDef] = {}
        for name, spec in self.model.fields.items():
            loc = ("fields", name)
            if not NAME.match(name):
                self.report(loc, f"invalid field name '{name}'", key=True)
                continue
            schema = dict(spec)
            required = schema.pop("required", False) if isinstance(spec.get("required"), bool) else False
            label = schema.pop("label", None)
            if label is not None and not isinstance(label, str):
                self.report((*loc, "label"), f"label of field '{name}' must be a string")
                continue
            if self.check_schema(schema, loc, f"schema of field '{name}'", FIELD_KEYWORDS):
                out[name] = FieldDef(name, schema, bool(required), label or _humanise(name))
        return out

    # ---- the whole file -------------------------------------------------------------------
    def run(self) -> WorkflowDefinition | None:
        m = self.model
        if not NAME.match(m.workflow):
            self.report(("workflow",), f"invalid workflow name '{m.workflow}'")
        if not NAME.match(m.subject):
            self.report(("subject",), f"invalid subject name '{m.subject}'")
        self.collect_states(m.states, None, ("states",))
        draft = self.draft
        initial = self.resolve_state(m.initial, ("initial",), "initial")

        declared_roles = frozenset(m.roles) if m.roles is not None else None
        leaves = [p for p in draft.states if not draft.children[p]]
        finals = {p for p in leaves if draft.states[p].final}
        open_leaves = [p for p in leaves if p not in finals]

        transitions: list[TransitionDef] = []
        declared: list[_Declared] = []
        for t, index in zip(m.transitions, self.origins, strict=True):
            loc = ("transitions", index)
            before = len(self.problems)
            if t.trigger == CREATE_TRIGGER:
                self.report(
                    (*loc, "trigger"),
                    f"'{CREATE_TRIGGER}' is reserved: history records a subject's creation under it",
                )
            elif not TRIGGER.match(t.trigger):
                self.report(
                    (*loc, "trigger"),
                    f"invalid trigger name '{t.trigger}': use lower-case letters, digits and '_'",
                )
            sources: list[str] = []
            leaf_sources: set[str] = set()
            before_sources = len(self.problems)
            for j, source in enumerate(t.source):
                src_loc = (*loc, "source", j) if len(t.source) > 1 else (*loc, "source")
                if source == ANY_STATE:
                    sources.append(ANY_STATE)
                    leaf_sources.update(open_leaves)
                    continue
                path = self.resolve_state(source, src_loc, "source")
                if path is None:
                    continue
                if path in finals:
                    self.report(
                        src_loc,
                        f"'{path}' is a final state and cannot be left; "
                        "remove 'final: true' or this transition",
                    )
                    continue
                sources.append(path)
                # final states are terminal even when the transition is declared on their parent
                leaf_sources.update(leaf for leaf in self.leaves_under(path) if leaf not in finals)
            line = self.at.position(loc)[0]
            if len(self.problems) == before_sources:
                declared.append(_Declared(index, t.trigger, tuple(sources), frozenset(leaf_sources), line))
            dest: str | None = None
            if t.internal:
                if t.dest is not None:
                    self.report((*loc, "dest"), "an internal transition stays in its state: remove 'dest'")
            elif t.dest is None:
                self.report(
                    loc,
                    f"transition '{t.trigger}' has no 'dest'",
                    "set 'internal: true' for a transition that stays in its state",
                )
            else:
                dest = self.resolve_state(t.dest, (*loc, "dest"), "destination")
            roles = frozenset(t.roles)
            if declared_roles is not None:
                for j, role in enumerate(t.roles):
                    if role not in declared_roles:
                        self.report(
                            (*loc, "roles", j) if len(t.roles) > 1 else (*loc, "roles"),
                            f"unknown role '{role}': the file declares "
                            + (", ".join(sorted(declared_roles)) or "no roles"),
                            did_you_mean(role, declared_roles),
                        )
            conditions = self.check_refs(t.conditions, "condition", (*loc, "conditions"))
            unless = self.check_refs(t.unless, "condition", (*loc, "unless"))
            actions = self.check_refs(t.actions, "action", (*loc, "actions"))
            if t.payload is not None:
                if t.payload.get("type", "object") != "object":
                    self.report((*loc, "payload", "type"), "a payload schema must have type 'object'")
                else:
                    self.check_schema(t.payload, (*loc, "payload"), "payload schema", SCHEMA_KEYWORDS)
            if len(self.problems) != before:
                continue
            transitions.append(
                TransitionDef(
                    trigger=t.trigger,
                    sources=tuple(sources),
                    dest=dest,
                    label=t.label or _humanise(t.trigger),
                    description=t.description,
                    roles=roles,
                    conditions=conditions,
                    unless=unless,
                    actions=actions,
                    payload_schema=t.payload,
                    leaf_sources=frozenset(leaf_sources),
                    line=line,
                )
            )
        dropped = len(m.transitions) - len(transitions)
        self.check_overlaps(declared)

        states = self.build_states(declared)
        fields = self.fields()
        if not _any_final(m.states) and not self.partial:
            self.report(("states",), "no final state: mark at least one state 'final: true'", key=True)
        # With a transition dropped the graph is incomplete and would report phantom dead ends.
        if initial is not None and not dropped and not self.graph_incomplete and not self.partial:
            self.check_graph(initial, leaves, finals, transitions)
        if self.problems or initial is None:
            return None
        return WorkflowDefinition(
            name=m.workflow,
            version=m.version,
            subject=m.subject,
            label=m.label or _humanise(m.workflow),
            description=m.description,
            initial=initial,
            states=states,
            transitions=tuple(transitions),
            fields=fields,
            roles=declared_roles,
            source_file=self.at.file,
            settings=dict(m.settings),
        )

    def check_overlaps(self, transitions: list[_Declared]) -> None:
        """One trigger leads to one transition from any state: duplicates and overlaps are errors."""
        by_trigger: dict[str, list[int]] = {}
        for index, t in enumerate(transitions):
            by_trigger.setdefault(t.trigger, []).append(index)
        for trigger, indexes in by_trigger.items():
            for a_pos, a in enumerate(indexes):
                for b in indexes[a_pos + 1 :]:
                    first, second = transitions[a], transitions[b]
                    shared = first.leaf_sources & second.leaf_sources
                    if not shared:
                        continue
                    loc = ("transitions", second.index)
                    if set(first.sources) == set(second.sources):
                        self.report(
                            (*loc, "trigger"),
                            f"duplicate trigger '{trigger}' from {', '.join(second.sources)} "
                            f"(already declared on line {first.line})",
                            "merge the two transitions or rename one trigger",
                        )
                    else:
                        example = sorted(shared)[0]
                        self.report(
                            (*loc, "trigger"),
                            f"ambiguous trigger '{trigger}': from state '{example}' it matches the "
                            f"transitions on lines {first.line} and {second.line}",
                            "narrow the sources or rename one trigger",
                        )

    def build_states(self, transitions: list[_Declared]) -> dict[str, StateDef]:
        draft = self.draft
        by_leaf: dict[str, set[str]] = {}
        for t in transitions:
            for leaf in t.leaf_sources:
                by_leaf.setdefault(leaf, set()).add(t.trigger)
        states: dict[str, StateDef] = {}
        for path, state in draft.states.items():
            loc = draft.locs[path]
            timeout = None
            if state.timeout is not None:
                timeout = self.check_timeout(path, state, loc, by_leaf)
            states[path] = StateDef(
                path=path,
                name=state.name,
                label=state.label or _humanise(state.name),
                description=state.description,
                parent=draft.parents[path],
                children=tuple(draft.children[path]),
                initial=draft.initials[path],
                final=state.final,
                timeout=timeout,
                on_enter=self.check_refs(state.on_enter, "action", (*loc, "on_enter")),
                on_exit=self.check_refs(state.on_exit, "action", (*loc, "on_exit")),
            )
        return states

    def check_timeout(
        self, path: str, state: StateModel, loc: Loc, by_leaf: Mapping[str, set[str]]
    ) -> Timeout | None:
        assert state.timeout is not None
        if state.final:
            self.report(
                (*loc, "timeout"),
                f"final state '{path}' cannot have a timeout: nothing leaves a final state",
                "remove the timeout",
                key=True,
            )
            return None
        ok = True
        try:
            after = parse_duration(state.timeout.after)
        except DurationError as error:
            self.report((*loc, "timeout", "after"), f"bad timeout duration: {error}")
            ok = False
        leaves = self.leaves_under(path)
        missing = [leaf for leaf in leaves if state.timeout.trigger not in by_leaf.get(leaf, set())]
        if missing and not self.partial:
            available = sorted(set.intersection(*(by_leaf.get(leaf, set()) for leaf in leaves)))
            self.report(
                (*loc, "timeout", "trigger"),
                f"timeout trigger '{state.timeout.trigger}' does not leave state '{missing[0]}'",
                did_you_mean(state.timeout.trigger, available)
                or "add a transition with this trigger from the state; it may be 'internal: true'",
            )
            ok = False
        if not ok:
            return None
        return Timeout(after=after, after_text=state.timeout.after, trigger=state.timeout.trigger)

    def check_graph(
        self, initial: str, leaves: list[str], finals: set[str], transitions: list[TransitionDef]
    ) -> None:
        start = self.initial_leaf(initial)
        if start is None:
            return
        edges: dict[str, set[str]] = {leaf: set() for leaf in leaves}
        for t in transitions:
            target = self.initial_leaf(t.dest) if t.dest is not None else None
            if target is None:
                continue
            for leaf in t.leaf_sources:
                edges[leaf].add(target)
        reached = _closure([start], edges)
        reverse: dict[str, set[str]] = {leaf: set() for leaf in leaves}
        for source, targets in edges.items():
            for target in targets:
                reverse[target].add(source)
        finishing = _closure(finals, reverse)
        unreachable = [leaf for leaf in leaves if leaf not in reached]
        for path in self._topmost(unreachable):
            self.report(
                (*self.draft.locs[path], "name"),
                f"state '{path}' is unreachable from the initial state '{start}'",
                f"add a transition with dest: {path}",
            )
        if finals:
            stuck = [leaf for leaf in leaves if leaf in reached and leaf not in finishing]
            for path in self._topmost(stuck):
                self.report(
                    (*self.draft.locs[path], "name"),
                    f"state '{path}' has no path to a final state",
                    "add a transition out of it that leads towards a final state",
                )

    def _topmost(self, leaves: Iterable[str]) -> list[str]:
        """Report a compound state once when all its leaves share the problem."""
        marked = set(leaves)
        out: list[str] = []
        for path in self.draft.states:
            if all(leaf in marked for leaf in self.leaves_under(path)):
                parent = self.draft.parents[path]
                if parent is None or not all(leaf in marked for leaf in self.leaves_under(parent)):
                    out.append(path)
        return out


def _any_final(states: Iterable[StateModel]) -> bool:
    return any(state.final or _any_final(state.states) for state in states)


def _closure(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def build_definition(
    locator: Locator, model: WorkflowModel, catalog: Catalog, *, origins: tuple[int, ...] | None = None
) -> tuple[WorkflowDefinition | None, list[Problem]]:
    """Check the meaning of a structurally valid file. With ``origins`` (the file index of each
    transition of a model salvaged from a file with structural mistakes) the checks that need the
    whole file are skipped, and no definition is returned."""
    checker = _Checker(locator, model, catalog, origins)
    definition = checker.run()
    return definition, checker.problems
