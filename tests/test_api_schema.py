"""The committed schema.graphql is the code's schema, and it holds the contract names of DESIGN.md."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
)

from pmflow.api.schema import build_schema as build_code_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema.graphql"
EXPORT = ROOT / "scripts" / "export_schema.py"
FIX = "run `python scripts/export_schema.py` and commit schema.graphql"


@pytest.fixture(scope="module")
def sdl() -> str:
    return str(build_code_schema())


@pytest.fixture(scope="module")
def parsed(sdl: str) -> GraphQLSchema:
    return build_schema(sdl)


def test_committed_schema_matches_the_code(sdl: str) -> None:
    assert SCHEMA_FILE.exists(), f"schema.graphql is missing: {FIX}"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    if committed.rstrip("\n") != sdl.rstrip("\n"):
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                (sdl.rstrip("\n") + "\n").splitlines(keepends=True),
                "schema.graphql (committed)",
                "build_schema() (code)",
                n=1,
            )
        )
        pytest.fail(f"schema.graphql drifted from the code: {FIX}\n{diff[:4000]}", pytrace=False)


@pytest.mark.parametrize(
    "name",
    [
        "interface Node",
        "node(id:",
        "nodes(ids:",
        "viewer",
        "projects(",
        "workflows",
        "interface Governed",
        "availableTransitions",
        "history(",
        "fireTransition(",
        "type Subscription",
        "events(projectId:",
        "totalCount",
        "pageInfo",
    ],
)
def test_contract_names_are_in_the_sdl(sdl: str, name: str) -> None:
    assert name in sdl, f"{name!r} (a contract name in DESIGN.md) is missing from the schema"


def _args(type_: GraphQLObjectType | GraphQLInterfaceType, field: str) -> set[str]:
    assert field in type_.fields, f"{type_.name}.{field} is missing"
    return set(type_.fields[field].args)


def _type(schema: GraphQLSchema, name: str) -> GraphQLObjectType | GraphQLInterfaceType:
    found = schema.get_type(name)
    assert isinstance(found, GraphQLObjectType | GraphQLInterfaceType), f"no object type {name}"
    return found


def test_query_contract(parsed: GraphQLSchema) -> None:
    query = parsed.query_type
    assert query is not None
    assert _args(query, "node") == {"id"}
    assert _args(query, "nodes") == {"ids"}
    assert "viewer" in query.fields
    assert {"filter", "orderBy", "first", "after", "last", "before"} <= _args(query, "projects")
    assert "workflows" in query.fields
    assert get_named_type(query.fields["node"].type).name == "Node"


def test_connections_have_edges_page_info_and_total_count(parsed: GraphQLSchema) -> None:
    query = parsed.query_type
    assert query is not None
    projects = _type(parsed, get_named_type(query.fields["projects"].type).name)
    assert {"edges", "pageInfo", "totalCount"} <= set(projects.fields)
    edge = _type(parsed, get_named_type(projects.fields["edges"].type).name)
    assert {"cursor", "node"} <= set(edge.fields)
    page_info = _type(parsed, "PageInfo")
    assert {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"} <= set(page_info.fields)


def test_governed_contract(parsed: GraphQLSchema) -> None:
    governed = parsed.get_type("Governed")
    assert isinstance(governed, GraphQLInterfaceType)
    assert {"state", "version", "workflow", "availableTransitions", "history"} <= set(governed.fields)
    assert {"first", "after"} <= _args(governed, "history")
    history = _type(parsed, get_named_type(governed.fields["history"].type).name)
    assert {"edges", "pageInfo", "totalCount"} <= set(history.fields)
    option = _type(parsed, get_named_type(governed.fields["availableTransitions"].type).name)
    assert {"trigger", "label", "allowed", "blockedBy"} <= set(option.fields)
    assert str(option.fields["allowed"].type) == "Boolean!"
    assert str(option.fields["blockedBy"].type) == "[String!]!"


@pytest.mark.parametrize(
    "name", ["Project", "Requirement", "ChangeRequest", "Iteration", "Deliverable", "Risk"]
)
def test_every_governed_type_implements_governed_and_node(parsed: GraphQLSchema, name: str) -> None:
    type_ = _type(parsed, name)
    assert {i.name for i in type_.interfaces} >= {"Governed", "Node"}


@pytest.mark.parametrize("name", ["WorkItem", "Meeting", "Feedback", "Customer", "Contact", "User"])
def test_every_other_entity_is_a_node(parsed: GraphQLSchema, name: str) -> None:
    assert "Node" in {i.name for i in _type(parsed, name).interfaces}


def test_fire_transition_contract(parsed: GraphQLSchema) -> None:
    mutation = parsed.mutation_type
    assert mutation is not None
    assert _args(mutation, "fireTransition") == {"input"}
    input_type = get_named_type(mutation.fields["fireTransition"].args["input"].type)
    assert {"id", "trigger", "expectedVersion", "comment", "payload"} <= set(input_type.fields)  # type: ignore[attr-defined]
    payload = _type(parsed, get_named_type(mutation.fields["fireTransition"].type).name)
    assert {"subject", "event", "errors"} <= set(payload.fields)
    errors = payload.fields["errors"].type
    assert isinstance(errors, GraphQLNonNull) and isinstance(errors.of_type, GraphQLList)
    assert str(errors) == "[Error!]!"
    error = _type(parsed, "Error")
    assert {"code", "message", "field"} <= set(error.fields)


def test_subscription_contract(parsed: GraphQLSchema) -> None:
    subscription = parsed.subscription_type
    assert subscription is not None
    assert _args(subscription, "events") == {"projectId"}


def test_export_script_writes_the_code_schema(tmp_path: Path, sdl: str) -> None:
    target = tmp_path / "schema.graphql"
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--output", str(target)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text(encoding="utf-8") == sdl.rstrip("\n") + "\n"
    check = subprocess.run(
        [sys.executable, str(EXPORT), "--check", "--output", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    target.write_text("type Query { stale: Int }\n", encoding="utf-8")
    check = subprocess.run(
        [sys.executable, str(EXPORT), "--check", "--output", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1
    assert "python scripts/export_schema.py" in check.stderr
