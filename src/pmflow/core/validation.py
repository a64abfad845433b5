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

from jsonschema import Draft202012Validator
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
from pmflow.core.loader import JSON_TYPES, Loc, Locator, shown
from pmflow.core.plugins import Catalog
from pmflow.core.problems import Problem, did_you_mean
from pmflow.core.schema import RefModel, StateModel, TransitionModel, WorkflowModel
from pmflow.core.types import ArgumentScope

CREATE_TRIGGER = "create"  # the engine records creation under this trigger
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
TRIGGER = re.compile(r"^[a-z][a-z0-9_]*$")

# JSON Schema keywords (2020-12) a field schema may use, plus pmflow's own `required` and `label`;
# check_schema alone would accept a misspelt keyword ("tpye") silently. Some keywords are applied
# by others (`then`/`else` by `if`, `minContains`/`maxContains` by `contains`).
SCHEMA_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | {
    "then",
    "else",
    "minContains",
    "maxContains",
    "$dynamicAnchor",
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

# Keywords whose value is a schema, a mapping of names to schemas, or a list of schemas: each
# subschema is checked like the schema itself (misspelt keywords, types, formats).
_ONE_SCHEMA = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_LISTED_SCHEMAS = frozenset({"prefixItems", "allOf", "anyOf", "oneOf"})

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
# The formats of JSON Schema 2020-12; values are checked against those the installation can check.
STANDARD_FORMATS = frozenset(
    {
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)
CHECKED_FORMATS = frozenset(FORMAT_CHECKER.checkers)
_META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=FORMAT_CHECKER)

# The timer fires a timeout's trigger as the system actor, without a comment or a payload.
COMMENT_CONDITION = "comment_given"
_TRUE_WORDS = frozenset({"yes", "y", "on", "true", "1"})
_FALSE_WORDS = frozenset({"no", "n", "off", "false", "0"})


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
    timer_obstacle: str | None  # why the timer (no comment, no payload) could never fire it


@dataclass(frozen=True)
class _Edge:
    """A transition whose states all resolved, for the reachability checks (whatever else in it
    is wrong: a misspelt condition does not change where the transition leads)."""

    leaf_sources: frozenset[str]
    dest: str | None  # None: internal


def _timer_obstacle(t: TransitionModel) -> str | None:
    """Why a timeout could never fire this transition: the timer gives no comment and no payload."""
    if any(ref.name == COMMENT_CONDITION for ref in t.conditions):
        return f"needs a comment (condition '{COMMENT_CONDITION}')"
    if t.payload is None:
        return None
    try:
        error = next(iter(Draft202012Validator(dict(t.payload)).iter_errors({})), None)
    except Exception:  # a broken payload schema is reported on its own
        return None
    if error is None:
        return None
    required = t.payload.get("required")
    if isinstance(required, list) and required:
        return f"needs a payload (required: {', '.join(map(str, required))})"
    return f"needs a payload ({error.message})"


def _subschemas(keyword: str, value: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """The subschemas under ``keyword`` (relative locations and schemas), if it takes any."""
    if keyword in _ONE_SCHEMA:
        return [((), value)]
    if keyword in _NAMED_SCHEMAS and isinstance(value, Mapping):
        return [((str(name),), sub) for name, sub in value.items()]
    if keyword in _LISTED_SCHEMAS and isinstance(value, list):
        return [((i,), sub) for i, sub in enumerate(value)]
    return []


_QUOTED = re.compile(r"'([^']*)'")


def _part_named(argument: Any, message: str, loc: Loc) -> tuple[Loc, bool]:
    """The item, key or value of an argument the message names first (``unknown field 'reson'``),
    so it is reported where it is written; the argument itself when it names none."""
    quoted = _QUOTED.search(message)
    if quoted is not None:
        name = quoted.group(1)
        if isinstance(argument, list):
            for index, item in enumerate(argument):
                if item == name:
                    return (*loc, index), False
        if isinstance(argument, Mapping):
            if name in argument:
                return (*loc, name), True
            for key, value in argument.items():
                if value == name:
                    return (*loc, key), False
    return loc, False


def _at(path: Iterable[str | int]) -> str:
    return "/".join(map(str, path))


def _required_hint(value: Any) -> str:
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return "write 'required: true'"
    if word in _FALSE_WORDS:
        return "write 'required: false'"
    return "write 'required: true' or 'required: false'"


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
        # What arguments of conditions and actions may name; set once states and fields are known.
        self.scope = ArgumentScope()
        # Locations (in a schema) of the `type` keywords already checked, so the meta-schema's
        # vaguer message about the same mistake is not reported as well.
        self._types_checked: set[tuple[str | int, ...]] = set()

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
                    Draft202012Validator(schema, format_checker=FORMAT_CHECKER).validate(ref.argument)
                except SchemaValidationError as error:
                    self.report(
                        (*here, ref.name),
                        f"bad argument for {kind} '{ref.name}': {error.message}",
                        f"expected {expected}",
                    )
                    continue
                if not self.check_argument(item.check_argument, kind, ref, (*here, ref.name)):
                    continue
            out.append(Ref(ref.name, ref.argument))
        return tuple(out)

    def check_argument(self, check: Any, kind: str, ref: RefModel, loc: Loc) -> bool:
        """What the argument names (states, fields) must exist in the file: the plugin says."""
        if check is None:
            return True
        try:
            messages = list(check(self.scope, ref.argument))
        except Exception as error:  # the plugin's bug: say so here, check the rest of the file
            self.report(
                loc,
                f"could not check the argument of {kind} '{ref.name}': {type(error).__name__}: {error}",
                "the plugin providing it has a bug: report it",
            )
            return False
        for message in messages:
            text, suggestion = str(message), None
            if text.endswith(")") and " (" in text:  # "unknown field 'x' (did you mean 'y'?)"
                text, suggestion = text[: text.rindex(" (")], text[text.rindex(" (") + 2 : -1]
            where, key = _part_named(ref.argument, text, loc)
            self.report(where, f"bad argument for {kind} '{ref.name}': {text}", suggestion, key=key)
        return not messages

    # ---- schemas --------------------------------------------------------------------------
    def check_schema(self, schema: Mapping[str, Any], loc: Loc, what: str, keywords: frozenset[str]) -> bool:
        """Misspelt keywords, unknown types and formats, at every level; then the meta-schema."""
        self._types_checked = set()
        ok = self.check_keywords(schema, loc, what, keywords, ())
        checked = self._types_checked
        own = {k: v for k, v in schema.items() if k in SCHEMA_KEYWORDS}
        for error in _META_VALIDATOR.iter_errors(own):
            path = tuple(error.path)
            if path in checked or path[:-1] in checked:
                continue  # an unknown type, reported by check_keywords with a suggestion
            where = "/".join(str(p) for p in path)
            at = f" (at '{where}')" if where else ""
            self.report((*loc, *path) if path else loc, f"bad {what}: {error.message}{at}")
            return False
        return ok

    def check_keywords(
        self,
        schema: Mapping[str, Any],
        loc: Loc,
        what: str,
        keywords: frozenset[str],
        path: tuple[str | int, ...],
    ) -> bool:
        """One (sub)schema at ``path`` inside the schema at ``loc``, and the subschemas in it."""
        ok = True
        inside = f" (at '{'/'.join(map(str, path))}')" if path else ""
        for keyword in schema:
            if keyword not in keywords:
                self.report(
                    (*loc, *path, keyword),
                    f"unknown keyword '{keyword}' in {what}{inside}",
                    did_you_mean(str(keyword), keywords),
                    key=True,
                )
                ok = False
        if "type" in schema:
            ok = self.check_type(schema["type"], loc, what, (*path, "type")) and ok
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt not in CHECKED_FORMATS:
            at = f" (at '{'/'.join(map(str, (*path, 'format')))}')"
            if fmt in STANDARD_FORMATS:
                self.report(
                    (*loc, *path, "format"),
                    f"bad {what}: format '{fmt}' is not checked by this installation{at}",
                    "install jsonschema's format support (pip install 'jsonschema[format-nongpl]') "
                    "or remove 'format'",
                )
            else:
                self.report(
                    (*loc, *path, "format"),
                    f"bad {what}: unknown format '{fmt}'{at}",
                    did_you_mean(fmt, CHECKED_FORMATS) or f"use one of: {', '.join(sorted(CHECKED_FORMATS))}",
                )
            ok = False
        for keyword, value in schema.items():
            if keyword not in keywords:
                continue
            for tail, sub in _subschemas(str(keyword), value):
                if isinstance(sub, Mapping):
                    here = (*path, keyword, *tail)
                    ok = self.check_keywords(sub, loc, what, SCHEMA_KEYWORDS, here) and ok
        return ok

    def check_type(self, value: Any, loc: Loc, what: str, path: tuple[str | int, ...]) -> bool:
        """``type``: a type name or a non-empty list of distinct ones; each bad one named."""
        self._types_checked.add(path)
        items: list[tuple[tuple[int, ...], Any]] | None = [((), value)] if isinstance(value, str) else None
        if isinstance(value, list):
            if not value:
                self.report((*loc, *path), f"bad {what}: the list of types is empty (at '{_at(path)}')")
                return False
            items = [((i,), item) for i, item in enumerate(value)]
        if items is None:
            self.report(
                (*loc, *path),
                f"bad {what}: type must be a type name or a list of them, got {shown(value)} "
                f"(at '{_at(path)}')",
                f"use one of: {', '.join(sorted(JSON_TYPES))}",
            )
            return False
        ok = True
        seen: set[str] = set()
        for tail, item in items:
            where = (*path, *tail)
            if not isinstance(item, str) or item not in JSON_TYPES:
                name = f"'{item}'" if isinstance(item, str) else shown(item)
                self.report(
                    (*loc, *where),
                    f"bad {what}: unknown type {name} (at '{_at(where)}')",
                    (did_you_mean(item, JSON_TYPES) if isinstance(item, str) else None)
                    or f"use one of: {', '.join(sorted(JSON_TYPES))}",
                )
                ok = False
            elif item in seen:
                self.report((*loc, *where), f"bad {what}: type '{item}' is listed twice (at '{_at(where)}')")
                ok = False
            else:
                seen.add(item)
        return ok

    def fields(self) -> dict[str, FieldDef]:
        out: dict[str, FieldDef] = {}
        for name, spec in self.model.fields.items():
            loc = ("fields", name)
            if not NAME.match(name):
                self.report(loc, f"invalid field name '{name}'", key=True)
                continue
            schema = dict(spec)
            ok = True
            required = spec.get("required", False)
            if isinstance(required, bool):
                schema.pop("required", None)
            elif not isinstance(required, list):  # a list keeps its JSON Schema meaning
                schema.pop("required")
                self.report(
                    (*loc, "required"),
                    f"'required' of field '{name}' must be true or false, got {shown(required)}",
                    _required_hint(required),
                )
                ok, required = False, False
            else:
                required = False
            label = schema.pop("label", None)
            if label is not None and not isinstance(label, str):
                self.report((*loc, "label"), f"label of field '{name}' must be a string")
                continue
            if self.check_schema(schema, loc, f"schema of field '{name}'", FIELD_KEYWORDS) and ok:
                out[name] = FieldDef(name, schema, bool(required), label or _humanise(name))
        return out

    def field_names(self) -> frozenset[str]:
        """Every field the file declares, broken ones included (they are reported on their own)."""
        names = set(self.model.fields)
        raw = self.at.tree.get("fields") if isinstance(self.at.tree, Mapping) else None
        if self.partial and isinstance(raw, Mapping):  # fields with structural mistakes were cut out
            names.update(str(name) for name in raw)
        return frozenset(names)

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
        fields = self.fields()
        self.scope = ArgumentScope(
            states=frozenset(draft.states),
            fields=self.field_names(),
            field_schemas={name: f.schema for name, f in fields.items()},
            required_fields=frozenset(name for name, f in fields.items() if f.required),
        )

        transitions: list[TransitionDef] = []
        declared: list[_Declared] = []
        edges: list[_Edge] = []
        # A state a transition names is unknown: the graph would report phantom dead ends.
        unresolved = False
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
            sources_resolved = True
            if not t.source:
                self.report(
                    (*loc, "source"),
                    "a transition needs at least one source",
                    'name the state(s) it can be fired from, or "*" for every state that is not final',
                )
            for j, source in enumerate(t.source):
                src_loc = (*loc, "source", j) if len(t.source) > 1 else (*loc, "source")
                if source == ANY_STATE:
                    sources.append(ANY_STATE)
                    leaf_sources.update(open_leaves)
                    continue
                path = self.resolve_state(source, src_loc, "source")
                if path is None:
                    sources_resolved = False
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
            if sources_resolved:
                declared.append(
                    _Declared(
                        index, t.trigger, tuple(sources), frozenset(leaf_sources), line, _timer_obstacle(t)
                    )
                )
            dest: str | None = None
            dest_resolved = True
            if t.internal:
                if t.dest is not None:
                    self.report((*loc, "dest"), "an internal transition stays in its state: remove 'dest'")
            elif t.dest is None:
                dest_resolved = False
                self.report(
                    loc,
                    f"transition '{t.trigger}' has no 'dest'",
                    "set 'internal: true' for a transition that stays in its state",
                )
            else:
                dest = self.resolve_state(t.dest, (*loc, "dest"), "destination")
                dest_resolved = dest is not None
            if sources_resolved and dest_resolved:
                edges.append(_Edge(frozenset(leaf_sources), dest))
            else:
                unresolved = True
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
        self.check_overlaps(declared)

        states = self.build_states(declared)
        if not _any_final(m.states) and not self.partial:
            self.report(("states",), "no final state: mark at least one state 'final: true'", key=True)
        if initial is not None and not unresolved and not self.graph_incomplete and not self.partial:
            self.check_graph(initial, leaves, finals, edges)
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
        by_leaf: dict[str, dict[str, _Declared]] = {}
        for t in transitions:
            for leaf in t.leaf_sources:
                by_leaf.setdefault(leaf, {}).setdefault(t.trigger, t)
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
        self, path: str, state: StateModel, loc: Loc, by_leaf: Mapping[str, Mapping[str, _Declared]]
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
        trigger = state.timeout.trigger
        missing = [leaf for leaf in leaves if trigger not in by_leaf.get(leaf, {})]
        if missing and not self.partial:
            available = sorted(set.intersection(*(set(by_leaf.get(leaf, {})) for leaf in leaves)))
            self.report(
                (*loc, "timeout", "trigger"),
                f"timeout trigger '{trigger}' does not leave state '{missing[0]}'",
                did_you_mean(trigger, available)
                or "add a transition with this trigger from the state; it may be 'internal: true'",
            )
            ok = False
        fired = [by_leaf[leaf][trigger] for leaf in leaves if trigger in by_leaf.get(leaf, {})]
        blocked = next((t for t in fired if t.timer_obstacle is not None), None)
        if blocked is not None:
            self.report(
                (*loc, "timeout", "trigger"),
                f"timeout trigger '{trigger}' can never be fired by the timer: the transition on "
                f"line {blocked.line} {blocked.timer_obstacle}",
                "the timer fires without a comment or payload: time out with a transition that needs neither",
            )
            ok = False
        if not ok:
            return None
        return Timeout(after=after, after_text=state.timeout.after, trigger=state.timeout.trigger)

    def check_graph(
        self, initial: str, leaves: list[str], finals: set[str], transitions: list[_Edge]
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
