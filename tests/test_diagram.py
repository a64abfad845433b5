"""Workflow diagrams: Mermaid and Graphviz DOT, checked line by line (and by `dot` when installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.diagram import arrow_sources, mermaid_ids, render, to_dot, to_mermaid
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry, check_files

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
Write = Callable[..., Path]

ID = r"[A-Za-z_][A-Za-z0-9_]*"
NODE = rf"(?:\[\*\]|{ID})"
# Mermaid reads '#word;' as an entity before parsing; what is left of a label must not contain
# the characters that end it.
LABEL = r"[^:;\n\"]+"


@dataclass
class Mermaid:
    """What a stateDiagram-v2 declares, parsed strictly: any line of another form fails the test."""

    states: dict[str, tuple[str, str | None, bool]] = field(default_factory=dict)  # label, parent, composite
    edges: list[tuple[str, str, str | None, str | None]] = field(
        default_factory=list
    )  # src, dst, label, scope
    notes: dict[str, str] = field(default_factory=dict)

    def edges_from(self, source: str, label_start: str) -> list[tuple[str, str, str | None, str | None]]:
        return [e for e in self.edges if e[0] == source and (e[2] or "").startswith(label_start)]


def parse_mermaid(text: str) -> Mermaid:
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert text.endswith("\n")
    out = Mermaid()
    stack: list[str | None] = [None]
    for raw in lines[1:]:
        line = re.sub(r"#\w+;", "", raw.strip())
        if not line or line.startswith("%%"):
            continue
        if m := re.fullmatch(rf'state "({LABEL})" as ({ID}) \{{', line):
            assert m[2] not in out.states, f"declared twice: {m[2]}"
            out.states[m[2]] = (m[1], stack[-1], True)
            stack.append(m[2])
        elif line == "}":
            stack.pop()
            assert stack, "unbalanced '}'"
        elif m := re.fullmatch(rf'state "({LABEL})" as ({ID})', line):
            assert m[2] not in out.states, f"declared twice: {m[2]}"
            out.states[m[2]] = (m[1], stack[-1], False)
        elif m := re.fullmatch(rf"({NODE}) --> ({NODE})(?: : ({LABEL}))?", line):
            out.edges.append((m[1], m[2], m[3], stack[-1]))
        elif m := re.fullmatch(rf"({ID}) : ({LABEL})", line):
            out.notes[m[1]] = m[2]
        else:
            pytest.fail(f"not a line of a Mermaid state diagram as pmflow writes them: {raw!r}")
    assert stack == [None], "unclosed composite state"
    for source, dest, _, _ in out.edges:
        for end in (source, dest):
            assert end == "[*]" or end in out.states, f"arrow to an undeclared state: {end}"
    return out


@pytest.fixture
def customer_project(registry: WorkflowRegistry) -> WorkflowDefinition:
    definition = registry.get("customer-project")
    assert definition is not None
    return definition


def load(write_workflow: Write, catalog: Catalog, text: str) -> WorkflowDefinition:
    definitions, problems = check_files([write_workflow(text)], catalog)
    assert not problems, problems
    return definitions[0]


# ---- Mermaid: the shipped customer-project lifecycle ----------------------------------------------


def test_mermaid_customer_project_states(customer_project: WorkflowDefinition) -> None:
    d = customer_project
    diagram = parse_mermaid(to_mermaid(d))
    ids = mermaid_ids(d)
    assert set(diagram.states) == set(ids.values())
    for path, state in d.states.items():
        label, parent, composite = diagram.states[ids[path]]
        assert label == state.label
        assert parent == (ids[state.parent] if state.parent else None)
        assert composite == state.compound
    # The composites, each with its own start arrow to its initial nested state.
    for outer, initial in (
        ("requirements", "requirements_research"),
        ("delivery", "delivery_internal_qa"),
    ):
        assert diagram.states[outer][2]
        assert ("[*]", initial, None, outer) in diagram.edges
    assert ("[*]", "initiation", None, None) in diagram.edges
    assert {e[0] for e in diagram.edges if e[1] == "[*]"} == {"closed", "cancelled"}
    assert diagram.notes["requirements_confirmation"] == "after 3 days -> remind_customer"
    assert set(diagram.notes) == {ids[p] for p, s in d.states.items() if s.timeout is not None}


def test_mermaid_customer_project_transitions(customer_project: WorkflowDefinition) -> None:
    d = customer_project
    diagram = parse_mermaid(to_mermaid(d))
    ids = mermaid_ids(d)
    labels = {e[2] for e in diagram.edges if e[2]}
    for transition in d.transitions:
        expected = f"{transition.trigger} [{', '.join(sorted(transition.roles))}]"
        assert expected in labels, expected
        if transition.dest is not None:
            for source in transition.sources:
                if source != "*":
                    assert (ids[source], ids[transition.dest]) in {(e[0], e[1]) for e in diagram.edges}
    # `*` is drawn once from each top-level state that is not final.
    cancels = {e[0] for e in diagram.edges if e[1] == "cancelled"}
    top_open = {ids[p] for p, s in d.states.items() if s.parent is None and not s.final}
    assert cancels == top_open
    assert {"requirements", "delivery"} <= cancels
    # Internal transitions loop on their state; arrows inside one composite are drawn inside it.
    assert (
        "requirements_confirmation",
        "requirements_confirmation",
        "remind_customer [manager]",
        "requirements",
    ) in diagram.edges
    assert any(
        e[:2] == ("requirements_research", "requirements_confirmation") and e[3] == "requirements"
        for e in diagram.edges
    )
    assert any(e[:2] == ("requirements_confirmation", "execution") and e[3] is None for e in diagram.edges)


def test_mermaid_every_shipped_workflow_parses(registry: WorkflowRegistry) -> None:
    for definition in registry:
        diagram = parse_mermaid(to_mermaid(definition))
        assert len(diagram.states) == len(definition.states), definition.name
        triggers = {(e[2] or "").split(" [")[0] for e in diagram.edges}
        assert {t.trigger for t in definition.transitions} <= triggers, definition.name


# ---- Mermaid: names and labels that would break a naive diagram ------------------------------------

ODD = """\
workflow: odd-flow
version: 1
subject: thing
initial: note
states:
  - name: note
    label: 'Note; with #hash "quotes" a::b'
  - name: end
    initial: state
    states:
      - name: state
        timeout: {after: PT4H, trigger: ping}
      - name: a-b
      - name: a_b
      - name: done
        final: true
  - name: end_
  - name: gone
    final: true
transitions:
  - trigger: go
    source: note
    dest: end
  - trigger: ping
    source: end
    internal: true
  - trigger: next
    source: end.state
    dest: end.a-b
  - trigger: next_again
    source: end.a-b
    dest: end.a_b
  - trigger: finish
    source: end.a_b
    dest: end.done
  - trigger: leave
    source: end.a_b
    dest: end_
  - trigger: drop
    source: "*"
    dest: gone
"""


def test_mermaid_ids_are_valid_unique_and_not_keywords(write_workflow: Write, catalog: Catalog) -> None:
    d = load(write_workflow, catalog, ODD)
    ids = mermaid_ids(d)
    assert len(set(ids.values())) == len(ids)
    for value in ids.values():
        assert re.fullmatch(ID, value)
        assert value.lower() not in {"note", "end", "state"}
    assert ids["end.a-b"] != ids["end.a_b"]
    assert ids["end"] != ids["end_"]
    diagram = parse_mermaid(to_mermaid(d))
    assert set(diagram.states) == set(ids.values())


def test_mermaid_escapes_label_characters(write_workflow: Write, catalog: Catalog) -> None:
    text = to_mermaid(load(write_workflow, catalog, ODD))
    assert 'state "Note#59; with #35;hash #quot;quotes#quot; a#58;#58;b" as note_' in text


def test_star_skips_a_composite_that_holds_a_final_state(write_workflow: Write, catalog: Catalog) -> None:
    d = load(write_workflow, catalog, ODD)
    drop = next(t for t in d.transitions if t.trigger == "drop")
    # `end` holds the final `end.done`, so `*` leaves its other nested states one by one.
    assert arrow_sources(d, drop) == ["note", "end.state", "end.a-b", "end.a_b", "end_"]
    diagram = parse_mermaid(to_mermaid(d))
    ids = mermaid_ids(d)
    assert {e[0] for e in diagram.edges if e[1] == ids["gone"]} == {
        ids[p] for p in ("note", "end.state", "end.a-b", "end.a_b", "end_")
    }


def test_internal_transition_of_a_composite_loops_on_each_leaf(
    write_workflow: Write, catalog: Catalog
) -> None:
    d = load(write_workflow, catalog, ODD)
    ping = next(t for t in d.transitions if t.trigger == "ping")
    assert arrow_sources(d, ping) == sorted(ping.leaf_sources, key=list(d.states).index)
    diagram = parse_mermaid(to_mermaid(d))
    loops = {e[0] for e in diagram.edges if e[2] == "ping" and e[0] == e[1]}
    assert loops == {mermaid_ids(d)[leaf] for leaf in ping.leaf_sources}


def test_render_dispatches_and_rejects_unknown_formats(customer_project: WorkflowDefinition) -> None:
    assert render(customer_project, "mermaid") == to_mermaid(customer_project)
    assert render(customer_project, "dot") == to_dot(customer_project)
    with pytest.raises(ValueError, match="unknown diagram format 'svg'"):
        render(customer_project, "svg")


# ---- DOT --------------------------------------------------------------------------------------------

QUOTED = r'"(?:[^"\\]|\\.)*"'


@dataclass
class Dot:
    nodes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # attrs, cluster
    clusters: dict[str, str | None] = field(default_factory=dict)  # name -> parent cluster
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # tail, head, attrs


def parse_dot(text: str) -> Dot:
    """The statements pmflow writes, parsed strictly (braces balanced outside strings)."""
    lines = text.splitlines()
    assert re.fullmatch(rf"digraph {QUOTED} \{{", lines[0])
    assert lines[-1] == "}"
    out = Dot()
    stack: list[str | None] = [None]
    unquote: Callable[[str], str] = lambda s: s[1:-1].replace('\\"', '"').replace("\\\\", "\\")  # noqa: E731
    for raw in lines[1:-1]:
        line = raw.strip()
        if m := re.fullmatch(rf"subgraph ({QUOTED}) \{{", line):
            name = unquote(m[1])
            assert name.startswith("cluster_")
            out.clusters[name] = stack[-1]
            stack.append(name)
        elif line == "}":
            stack.pop()
        elif m := re.fullmatch(rf"({QUOTED}) -> ({QUOTED})(?: \[(.*)\])?;", line):
            out.edges.append((unquote(m[1]), unquote(m[2]), m[3] or ""))
        elif m := re.fullmatch(rf"({QUOTED}) \[(.*)\];", line):
            out.nodes[unquote(m[1])] = (m[2], stack[-1])
        elif re.fullmatch(
            rf"(?:\w+={QUOTED}|\w+=[\w.]+|(?:node|edge) \[.*\])(?:; \w+=(?:{QUOTED}|[\w.]+))*;", line
        ):
            pass
        else:
            pytest.fail(f"not a DOT statement as pmflow writes them: {raw!r}")
    assert stack == [None]
    for tail, head, _ in out.edges:
        assert tail in out.nodes and head in out.nodes, (tail, head)
    return out


def test_dot_customer_project(customer_project: WorkflowDefinition) -> None:
    d = customer_project
    text = to_dot(d)
    assert "\n    compound=true;\n" in text
    graph = parse_dot(text)
    assert set(graph.clusters) == {"cluster_requirements", "cluster_delivery"}
    for leaf in d.leaves:
        attrs, cluster = graph.nodes[leaf]
        parent = d.states[leaf].parent
        assert cluster == (f"cluster_{parent}" if parent else None)
        assert ("shape=doublecircle" in attrs) == d.states[leaf].final
    assert {p for p, s in d.states.items() if s.final} == {"closed", "cancelled"}
    assert "shape=point" in graph.nodes["_start"][0]
    assert "shape=point" in graph.nodes["requirements._start"][0]
    assert ("_start", "initiation", "") in graph.edges
    triggers = {m[1] for _, _, attrs in graph.edges if (m := re.match(r'label="(\w+)', attrs))}
    assert {t.trigger for t in d.transitions} <= triggers
    # Into and out of a composite: drawn to its initial leaf, clipped at the cluster.
    assert any(
        e[:2] == ("initiation", "requirements.research") and 'lhead="cluster_requirements"' in e[2]
        for e in graph.edges
    )
    cancels = [e for e in graph.edges if e[1] == "cancelled"]
    assert {e[0] for e in cancels} == {
        d.resolve_initial(p) for p, s in d.states.items() if s.parent is None and not s.final
    }
    assert any('ltail="cluster_delivery"' in e[2] for e in cancels)
    assert any(
        e[:2] == ("requirements.confirmation", "requirements.confirmation") and "remind_customer" in e[2]
        for e in graph.edges
    )


def test_dot_escapes_quotes(write_workflow: Write, catalog: Catalog) -> None:
    d = load(write_workflow, catalog, ODD)
    text = to_dot(d)
    assert 'label="Note; with #hash \\"quotes\\" a::b"' in text
    graph = parse_dot(text)
    assert set(d.leaves) <= set(graph.nodes)
    # An arrow from inside a cluster to the cluster's own border would make dot warn.
    for tail, head, attrs in graph.edges:
        if tail.startswith("end.") and head.startswith("end."):
            assert "lhead" not in attrs and "ltail" not in attrs


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_dot_output_is_accepted_by_graphviz(
    registry: WorkflowRegistry, write_workflow: Write, catalog: Catalog
) -> None:
    for definition in [*registry, load(write_workflow, catalog, ODD)]:
        done = subprocess.run(
            ["dot", "-Tsvg"], input=to_dot(definition), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr  # no warnings either (lhead/ltail misuse warns)
        assert "<svg" in done.stdout
