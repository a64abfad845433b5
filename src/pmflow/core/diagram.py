"""Draw a workflow definition as a Mermaid state diagram or a Graphviz DOT graph.

Both outputs are meant to be pasted as they are: into a Markdown ```` ```mermaid ```` block (GitHub,
GitLab, mermaid.live) or into ``dot -Tsvg``.

How a definition becomes a picture (the same rules for both formats):

* A state with nested states is a composite (Mermaid ``state "Label" as id { ... }``, a DOT
  ``cluster``) with its own start marker pointing at its initial nested state.
* A final state gets an arrow to the end marker (Mermaid ``--> [*]``) or a double circle (DOT).
* Each transition is one arrow per source state as written in the file, labelled with its trigger
  and, in brackets, the roles that may fire it. An arrow into a composite ends at its border:
  the subject then enters the composite's initial state.
* A ``"*"`` source ("from any state that is not final") is drawn once from each *outermost* state
  all of whose leaves it leaves: in the shipped ``customer-project`` lifecycle ``cancel`` is one
  arrow from each top-level state except ``closed`` and ``cancelled`` (so one arrow from the
  ``requirements`` and ``delivery`` composites, not one per nested state). A composite that has a
  final nested state is not left by ``"*"`` as a whole, so its other nested states get an arrow each.
* An internal transition (no ``dest``) is a self-loop on each leaf state it applies to (a loop
  needs a node to sit on, and a composite has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pmflow.core.definitions import ANY_STATE, TransitionDef, WorkflowDefinition
from pmflow.core.durations import format_duration

__all__ = ["FORMATS", "render", "to_dot", "to_mermaid"]

FORMATS = ("mermaid", "dot")

_INDENT = "    "
# Words Mermaid's state diagram lexer reads as keywords wherever an id could stand.
_MERMAID_KEYWORDS = frozenset(
    {
        "state",
        "statediagram",
        "note",
        "end",
        "as",
        "direction",
        "class",
        "classdef",
        "style",
        "scale",
        "hide",
        "acctitle",
        "accdescr",
        "click",
        "href",
        "default",
        "left",
        "right",
        "of",
    }
)
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def render(definition: WorkflowDefinition, fmt: str) -> str:
    """The diagram in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "mermaid":
        return to_mermaid(definition)
    if fmt == "dot":
        return to_dot(definition)
    raise ValueError(f"unknown diagram format '{fmt}' (choose one of: {', '.join(FORMATS)})")


# ---- what is drawn, independent of the format ---------------------------------------------------


def _leaves_under(definition: WorkflowDefinition, path: str) -> list[str]:
    state = definition.states[path]
    if not state.children:
        return [path]
    return [leaf for child in state.children for leaf in _leaves_under(definition, child)]


def _outermost_covering(definition: WorkflowDefinition, leaves: Iterable[str]) -> list[str]:
    """The outermost states whose leaves are all in ``leaves``, in file order."""
    marked = set(leaves)
    out: list[str] = []
    for path, state in definition.states.items():
        if not all(leaf in marked for leaf in _leaves_under(definition, path)):
            continue
        if state.parent is None or not all(
            leaf in marked for leaf in _leaves_under(definition, state.parent)
        ):
            out.append(path)
    return out


def arrow_sources(definition: WorkflowDefinition, transition: TransitionDef) -> list[str]:
    """The states an arrow for ``transition`` starts from (see the module docstring)."""
    explicit = [s for s in transition.sources if s != ANY_STATE]
    sources = list(explicit)
    if ANY_STATE in transition.sources:
        covered = {leaf for s in explicit for leaf in _leaves_under(definition, s)}
        rest = [leaf for leaf in definition.leaves if leaf in transition.leaf_sources - covered]
        sources.extend(_outermost_covering(definition, rest))
    if transition.dest is None:  # self-loops sit on leaves (never on final ones: they cannot be left)
        seen: dict[str, None] = {}
        for source in sources:
            seen.update(
                dict.fromkeys(
                    leaf for leaf in _leaves_under(definition, source) if leaf in transition.leaf_sources
                )
            )
        sources = list(seen)
    return sources


def _edge_label(transition: TransitionDef) -> str:
    if transition.roles:
        return f"{transition.trigger} [{', '.join(sorted(transition.roles))}]"
    return transition.trigger


def _timeout_note(definition: WorkflowDefinition, path: str) -> str | None:
    timeout = definition.states[path].timeout
    if timeout is None:
        return None
    return f"after {format_duration(timeout.after)} -> {timeout.trigger}"


def _container(definition: WorkflowDefinition, source: str, dest: str) -> str | None:
    """The innermost composite strictly containing both states (None: the top level)."""
    above_source = definition.ancestors(source)[1:]
    above_dest = set(definition.ancestors(dest)[1:])
    return next((path for path in above_source if path in above_dest), None)


def _edges(definition: WorkflowDefinition) -> Iterator[tuple[str, str, TransitionDef]]:
    for transition in definition.transitions:
        for source in arrow_sources(definition, transition):
            yield source, transition.dest if transition.dest is not None else source, transition


# ---- Mermaid --------------------------------------------------------------------------------------


def mermaid_ids(definition: WorkflowDefinition) -> dict[str, str]:
    """A valid, unique Mermaid identifier for every state path ('.' and '-' become '_')."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for path in definition.states:
        base = _MERMAID_UNSAFE.sub("_", path)
        if base.lower() in _MERMAID_KEYWORDS:
            base += "_"
        candidate, n = base, 2
        while candidate.lower() in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate.lower())
        ids[path] = candidate
    return ids


# Mermaid ends a label at ';', '::' or a newline, a quoted name at '"', and reads '#name;' as an
# entity: write these characters as the entity codes Mermaid decodes when it renders.
_MERMAID_ENTITIES = {"#": "#35;", ";": "#59;", ":": "#58;", '"': "#quot;"}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_ENTITIES.get(c, c) for c in " ".join(text.split()))


def to_mermaid(definition: WorkflowDefinition) -> str:
    """A ``stateDiagram-v2`` (see the module docstring for what is drawn how)."""
    ids = mermaid_ids(definition)
    inner: dict[str | None, list[str]] = {}
    for source, dest, transition in _edges(definition):
        label = _mermaid_text(_edge_label(transition))
        inner.setdefault(_container(definition, source, dest), []).append(
            f"{ids[source]} --> {ids[dest]} : {label}"
        )

    title = " ".join(f"{definition.name} v{definition.version}: {definition.label}".split())
    lines = ["stateDiagram-v2", f"{_INDENT}%% {title}"]

    def block(parent: str | None, initial: str | None, children: Iterable[str], depth: int) -> None:
        pad = _INDENT * depth
        if initial is not None:
            lines.append(f"{pad}[*] --> {ids[initial]}")
        for path in children:
            state = definition.states[path]
            label = _mermaid_text(state.label)
            if state.compound:
                lines.append(f'{pad}state "{label}" as {ids[path]} {{')
                block(path, state.initial, state.children, depth + 1)
                lines.append(f"{pad}}}")
            else:
                lines.append(f'{pad}state "{label}" as {ids[path]}')
                note = _timeout_note(definition, path)
                if note:
                    lines.append(f"{pad}{ids[path]} : {_mermaid_text(note)}")
            if state.final:
                lines.append(f"{pad}{ids[path]} --> [*]")
        lines.extend(f"{pad}{edge}" for edge in inner.get(parent, []))

    top = [path for path, state in definition.states.items() if state.parent is None]
    block(None, definition.initial, top, 1)
    return "\n".join(lines) + "\n"


# ---- Graphviz DOT ---------------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _cluster(path: str) -> str:
    return _dot_string(f"cluster_{path}")


def _start(path: str | None) -> str:
    # State names start with a letter, so "_start" can never be a state's path segment.
    return _dot_string(f"{path}._start" if path else "_start")


def to_dot(definition: WorkflowDefinition) -> str:
    """A ``digraph`` with ``compound=true`` (see the module docstring for what is drawn how).

    Node ids are the state paths, quoted; an arrow into or out of a composite is drawn to or from
    its initial leaf and clipped at the cluster's border (``lhead``/``ltail``).
    """
    lines = [
        f"digraph {_dot_string(definition.name)} {{",
        f"{_INDENT}label={_dot_string(f'{definition.label} ({definition.name} v{definition.version})')};",
        f"{_INDENT}labelloc=t;",
        f"{_INDENT}compound=true;",
        f"{_INDENT}rankdir=LR;",
        f'{_INDENT}node [shape=box, style=rounded, fontname="Helvetica"];',
        f'{_INDENT}edge [fontname="Helvetica", fontsize=10];',
    ]

    def block(parent: str | None, initial: str | None, children: Iterable[str], depth: int) -> None:
        pad = _INDENT * depth
        if initial is not None:
            lines.append(f'{pad}{_start(parent)} [shape=point, width=0.15, label=""];')
            lines.append(
                f"{pad}{_start(parent)} -> {_dot_string(definition.resolve_initial(initial))}"
                + (f" [lhead={_cluster(initial)}];" if definition.states[initial].compound else ";")
            )
        for path in children:
            state = definition.states[path]
            if state.compound:
                lines.append(f"{pad}subgraph {_cluster(path)} {{")
                lines.append(f"{pad}{_INDENT}label={_dot_string(state.label)};")
                lines.append(f'{pad}{_INDENT}style=rounded; fontname="Helvetica";')
                block(path, state.initial, state.children, depth + 1)
                lines.append(f"{pad}}}")
                continue
            note = _timeout_note(definition, path)
            attrs = [f"label={_dot_string(state.label + (chr(10) + note if note else ''))}"]
            if state.final:
                attrs.append("shape=doublecircle")
            lines.append(f"{pad}{_dot_string(path)} [{', '.join(attrs)}];")

    top = [path for path, state in definition.states.items() if state.parent is None]
    block(None, definition.initial, top, 1)

    for source, dest, transition in _edges(definition):
        tail = definition.resolve_initial(source)
        head = definition.resolve_initial(dest)
        label = transition.trigger
        if transition.roles:
            label += f"\n[{', '.join(sorted(transition.roles))}]"
        attrs = [f"label={_dot_string(label)}"]
        # Clip at a cluster's border, unless the other end lies inside that same cluster.
        if definition.states[source].compound and source not in definition.ancestors(head):
            attrs.append(f"ltail={_cluster(source)}")
        if definition.states[dest].compound and dest not in definition.ancestors(tail):
            attrs.append(f"lhead={_cluster(dest)}")
        lines.append(f"{_INDENT}{_dot_string(tail)} -> {_dot_string(head)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
