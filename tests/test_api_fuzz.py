"""Schema fuzzing: queries and mutations generated from the schema with hypothesis-graphql, sent
over HTTP to the live app (demo data) as an admin and as Ben, a Bluebird customer user.

Whatever the document, the server answers without a 5xx and without a traceback; every error is a
request error (the document never ran: no ``data``) or carries a known ``extensions.code`` -- never
``INTERNAL``, which means an unexpected exception (a bug); and nothing Ben receives holds a Northwind
string (the detector of tests/test_api_cross_customer.py).

The run is derandomized, so CI sees the same documents every time. ``PMFLOW_FUZZ_EXAMPLES`` sets the
examples per test (default 40) for longer local runs, e.g. ``PMFLOW_FUZZ_EXAMPLES=2000``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import graphql
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from api_helpers import Api, global_id, ids_in_project, running_api
from pmflow.api.errors import ErrorCode
from pmflow.api.schema import build_schema
from test_api_cross_customer import LIMIT_CODES, Secrets, collect_secrets, every_type_on_both_sides, made_up

EXAMPLES = int(os.environ.get("PMFLOW_FUZZ_EXAMPLES", "40"))
KNOWN_CODES = frozenset(code.value for code in ErrorCode) | LIMIT_CODES
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "site-packages", '.py", line')

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture(scope="module")
def sdl() -> str:
    """The schema the app serves."""
    return str(build_schema())


@pytest.fixture
def api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    # a fuzz run sends more requests a minute than the rate limit allows one token
    monkeypatch.setenv("PMFLOW_RATE_LIMIT", "0")
    with running_api(database_url) as running:
        every_type_on_both_sides(running)
        yield running


@pytest.fixture
def secrets(api: Api) -> Secrets:
    return collect_secrets(api, graphql.build_schema(str(build_schema())))


# ---- values the generator uses for our scalars ---------------------------------------------------------


def literal(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal."""
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([literal(v) for v in value])
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=literal(v))
                for k, v in value.items()
            ]
        )
    return graphql.NullValueNode()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["reason", "rationale", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)


def id_values(api: Api) -> st.SearchStrategy[str]:
    """Real ids of both customers (so resolvers find things), made-up ids of every type, ids too
    large for the database, and anything at all."""
    real = [
        gid
        for key in ("portal", "fleet", "scheduling")
        for gids in ids_in_project(api, key).values()
        for gid in gids
    ]
    real += [api.user_id(u) for u in ("admin", "carla", "ben")] + [
        api.customer_id(c) for c in ("northwind", "bluebird")
    ]
    huge = [global_id(t, n) for t in ("Project", "Requirement", "User") for n in (2**31, 2**63, 10**30)]
    return st.one_of(
        st.sampled_from(real),
        st.sampled_from(real).map(made_up),
        st.sampled_from(huge),
        st.text(max_size=30),
    )


def scalars(api: Api) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {
        "ID": id_values(api).map(nodes.String),
        # mostly valid dates, so that the rest of a document gets to run; sometimes junk
        "Date": st.one_of(st.dates().map(str), st.dates().map(str), st.text(max_size=12)).map(nodes.String),
        "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=12)).map(
            nodes.String
        ),
        "JSON": JSON_VALUES.map(literal),
    }


# ---- what every answer must be ---------------------------------------------------------------------------


def check_answer(api: Api, who: str, document: str, secrets: Secrets | None = None) -> dict[str, Any]:
    """Send ``document`` as ``who``; fail on anything a client must never see."""
    response = api.client.post(
        "/graphql", json={"query": document}, headers={"Authorization": f"Bearer {api.tokens[who]}"}
    )
    context = f"as {who}: {document[:3000]}\n-> HTTP {response.status_code}: {response.text[:3000]}"
    assert response.status_code < 500, context
    for mark in TRACEBACK_MARKS:
        assert mark not in response.text, context
    result: dict[str, Any] = response.json()
    for error in result.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            # parse, validation and variable errors: the document never ran
            assert result.get("data") is None, f"an execution error without a code\n{context}"
        else:
            assert code in KNOWN_CODES, f"error code {code!r}\n{context}"
    if secrets is not None:
        secrets.assert_none_in(result, sent=document)
    return result


def fuzz(strategy: st.SearchStrategy[str], check: Callable[[str], Any]) -> None:
    @FUZZ
    @given(strategy)
    def run(document: str) -> None:
        check(document)

    run()


# ---- the tests ---------------------------------------------------------------------------------------------


def test_fuzzed_queries_as_an_admin(api: Api, sdl: str) -> None:
    strategy = hypothesis_graphql.queries(sdl, custom_scalars=scalars(api), allow_x00=False)
    fuzz(strategy, lambda document: check_answer(api, "admin", document))


def test_fuzzed_queries_as_a_customer_leak_nothing(api: Api, sdl: str, secrets: Secrets) -> None:
    strategy = hypothesis_graphql.queries(sdl, custom_scalars=scalars(api), allow_x00=False)
    fuzz(strategy, lambda document: check_answer(api, "ben", document, secrets))


def test_fuzzed_mutations_as_an_admin(api: Api, sdl: str) -> None:
    strategy = hypothesis_graphql.mutations(sdl, custom_scalars=scalars(api), allow_x00=False)
    fuzz(strategy, lambda document: check_answer(api, "admin", document))


def test_fuzzed_mutations_as_a_customer_leak_nothing(api: Api, sdl: str, secrets: Secrets) -> None:
    strategy = hypothesis_graphql.mutations(sdl, custom_scalars=scalars(api), allow_x00=False)
    fuzz(strategy, lambda document: check_answer(api, "ben", document, secrets))


def test_invalid_documents_are_refused_cleanly(api: Api, sdl: str) -> None:
    """Documents with one schema violation each (wrong type, unknown field, missing argument) are
    refused with a message, never a 5xx or an INTERNAL error."""
    strategy = hypothesis_graphql.queries(
        sdl, custom_scalars=scalars(api), mode=hypothesis_graphql.Mode.NEGATIVE
    ) | hypothesis_graphql.mutations(sdl, custom_scalars=scalars(api), mode=hypothesis_graphql.Mode.NEGATIVE)

    def refused(document: str) -> None:
        result = check_answer(api, "admin", document)
        assert result.get("errors"), json.dumps(result)[:2000]

    fuzz(strategy, refused)


# ---- what the fuzzing found, pinned ------------------------------------------------------------------------


@pytest.mark.parametrize("number", [2**63 - 1, 2**63, 2**64, 10**30])
def test_an_id_too_large_for_the_database_is_not_found_rather_than_an_internal_error(
    api: Api, number: int
) -> None:
    """Found by fuzzing: ``node(id:)`` with ``Project:9223372036854775808`` was an INTERNAL error
    (SQLite cannot bind the number). Such an id names nothing: null, or a typed error."""
    project, work_item = global_id("Project", number), global_id("WorkItem", number)
    assert api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": project}) == {"data": {"node": None}}
    assert api.gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [project]}) == {
        "data": {"nodes": [None]}
    }
    update = (
        "mutation($input: UpdateWorkItemInput!) { updateWorkItem(input: $input) { errors { code field } } }"
    )
    errors = api.data(update, {"input": {"id": work_item, "title": "x"}})["updateWorkItem"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] in ([("NOT_FOUND", "id")], [("INVALID_INPUT", "id")])
    listed = api.gql(
        "query($f: ProjectFilter) { projects(first: 5, filter: $f) { totalCount } }",
        {"f": {"customerId": global_id("Customer", number)}},
    )
    assert "INTERNAL" not in json.dumps(listed)
