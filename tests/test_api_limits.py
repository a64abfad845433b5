"""API limits (``pmflow.api.limits``, ``pmflow.api.ratelimit``): each limit refuses a request just
over it with its ``extensions.code`` and accepts one just under it; rate limit, body size, CORS,
introspection switch, no field suggestions, anonymous access, bad settings refused at start."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from api_helpers import WORKFLOWS, Api, codes, data_of, prepare
from pmflow.api.app import Settings, create_app
from pmflow.api.limits import Limits, LimitsError
from pmflow.api.ratelimit import RateLimit, RateLimiter
from pmflow.cli import cli

GR_JSON = "application/graphql-response+json"
SMALL = Limits(
    max_depth=4,
    max_aliases=2,
    max_tokens=60,
    max_document_bytes=200,
    max_nodes=50,
    max_body_bytes=1_000,
    rate_limit=0,
    introspection=False,
)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    """The demo data behind an app with small limits."""
    demo, tokens = prepare(database_url)
    app = create_app(Settings(database_url=database_url, workflows=WORKFLOWS, limits=SMALL))
    with TestClient(app) as client:
        yield Api(client=client, app=app, demo=demo, tokens=tokens, database_url=database_url)


def post(client: TestClient, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return client.post("/graphql", json=body, headers={"accept": GR_JSON, **headers})


def refused(api: Api, query: str, code: str, variables: dict[str, Any] | None = None) -> str:
    """The message of the one error a request error answers (400, no data)."""
    result = api.gql(query, variables, status=None)
    assert codes(result) == [code], result
    assert "data" not in result or result["data"] is None
    message: str = result["errors"][0]["message"]
    return message


# ---- document limits ----------------------------------------------------------------------------


def test_depth(api: Api) -> None:
    assert data_of(api.gql("{ projects(first: 1) { edges { node { id } } } }"))  # 4 levels
    message = refused(api, "{ projects(first: 1) { edges { node { customer { id } } } } }", "QUERY_TOO_DEEP")
    assert "5 levels deep at 'projects.edges.node.customer.id'" in message and "PMFLOW_MAX_DEPTH" in message
    assert " 4." in message


def test_depth_counts_fields_in_fragments(api: Api) -> None:
    query = (
        "{ projects(first: 1) { ...P } } "
        "fragment P on ProjectConnection { edges { node { customer { id } } } }"
    )
    refused(api, query, "QUERY_TOO_DEEP")


def test_aliases(api: Api) -> None:
    assert data_of(api.gql("{ a: viewer { id } b: viewer { id } }"))
    message = refused(
        api, "query Many { a: viewer { id } b: viewer { id } c: viewer { id } }", "TOO_MANY_ALIASES"
    )
    assert "'Many' uses 3 aliases" in message and "PMFLOW_MAX_ALIASES) is 2" in message


def test_tokens(api: Api) -> None:
    # { viewer { id id ... } }: 5 tokens of punctuation and `viewer`, then one a field
    assert data_of(api.gql("{ viewer { " + "id " * 55 + "} }"))  # 60 tokens
    message = refused(api, "{ viewer { " + "id " * 56 + "} }", "TOO_MANY_TOKENS")
    assert "more than 60 tokens" in message and "PMFLOW_MAX_TOKENS" in message


def test_document_size(api: Api) -> None:
    query = "{ viewer { id } }"
    padded = query + " " * (200 - len(query))
    assert data_of(api.gql(padded))
    message = refused(api, padded + " ", "DOCUMENT_TOO_LARGE")
    assert "201 bytes" in message and "PMFLOW_MAX_DOCUMENT_BYTES) is 200" in message


def test_document_limits_answer_400_under_graphql_response_json(api: Api) -> None:
    response = post(api.client, "{ a: __typename b: __typename c: __typename }")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GR_JSON)
    assert response.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"


# ---- connections and the node limit -------------------------------------------------------------


def test_a_connection_without_first_or_last_is_refused_naming_where(api: Api) -> None:
    message = refused(api, "{ projects { totalCount } }", "CONNECTION_NEEDS_LIMIT")
    assert "'projects'" in message and "'first' or 'last'" in message
    query = "query($id: ID!) { node(id: $id) { ... on Governed { history { totalCount } } } }"
    message = refused(api, query, "CONNECTION_NEEDS_LIMIT", {"id": api.project_id("portal")})
    assert "'node.history'" in message
    assert data_of(api.gql("{ projects(last: 2) { totalCount } }"))["projects"]["totalCount"] == 3


def test_nodes_multiply_through_nested_connections(api: Api) -> None:
    nested = "query($h: Int) { projects(first: 5) { nodes { history(first: $h) { totalCount } } } }"
    assert data_of(api.gql(nested, {"h": 9}))  # 5 projects + 5 * 9 events = 50 nodes: the limit
    message = refused(api, nested, "QUERY_TOO_COSTLY", {"h": 10})  # the limit holds for variables
    assert "55 nodes" in message and "PMFLOW_MAX_NODES) is 50" in message


def test_nodes_add_up_across_fields_and_variable_defaults(api: Api) -> None:
    two = (
        "query($n: Int = 26) { a: projects(first: $n) { totalCount } b: projects(first: 24) { totalCount } }"
    )
    assert data_of(api.gql(two))  # 26 + 24 = 50
    refused(api, two, "QUERY_TOO_COSTLY", {"n": 27})


def test_a_page_out_of_range_is_still_invalid_input_on_the_argument(api: Api) -> None:
    # (over 100 too, with the default node limit: tests/test_api_queries.py)
    result = api.gql("{ projects(first: -1) { totalCount } }", status=None)
    assert codes(result) == ["INVALID_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "first"


# ---- introspection, suggestions, anonymous ------------------------------------------------------


def test_introspection_off_is_a_clear_error_but_typename_works(api: Api) -> None:
    message = refused(api, "{ __schema { queryType { name } } }", "INTROSPECTION_DISABLED")
    assert "PMFLOW_INTROSPECTION" in message
    refused(api, '{ __type(name: "Project") { name } }', "INTROSPECTION_DISABLED")
    assert api.data("{ __typename }", as_=None) == {"__typename": "Query"}


def test_no_field_suggestions_anywhere(api: Api) -> None:
    for query, variables in (
        ("{ projectz(first: 1) { totalCount } }", None),
        ("{ viewer { nam } }", None),
        ("{ projects(frist: 1) { totalCount } }", None),
        (
            "query($o: ProjectOrder) { projects(first: 1, orderBy: $o) { totalCount } }",
            {"o": {"feld": "NAME"}},
        ),
    ):
        result = api.gql(query, variables, status=None)
        assert result["errors"], query
        assert not any("Did you mean" in e["message"] for e in result["errors"]), result


def test_introspection_on_answers_even_anonymously(database_url: str) -> None:
    app = create_app(
        Settings(database_url=database_url, workflows=WORKFLOWS, limits=Limits(introspection=True))
    )
    with TestClient(app) as client:
        response = post(client, "{ __schema { queryType { name } } }")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { id } }",
        "{ projects(first: 1) { totalCount } }",
        "{ workflows { name } }",
        '{ node(id: "UHJvamVjdDox") { id } }',
    ],
)
def test_anonymous_requests_reach_no_data(api: Api, query: str) -> None:
    result = api.gql(query, as_=None, status=None)
    assert "UNAUTHENTICATED" in codes(result), result
    assert not any((result.get("data") or {}).values()), result


# ---- HTTP: body size, rate limit, CORS ----------------------------------------------------------


def test_body_size(api: Api) -> None:
    def body(size: int) -> bytes:
        query = json.dumps({"query": "{ __typename }"}).encode()
        return query[:-1] + b" " * (size - len(query)) + b"}"

    ok = api.client.post("/graphql", content=body(1_000), headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text
    big = api.client.post(
        "/graphql", content=body(1_001), headers={"content-type": "application/json", "accept": GR_JSON}
    )
    assert big.status_code == 413
    assert big.headers["content-type"].startswith(GR_JSON)
    error = big.json()["errors"][0]
    assert (
        error["extensions"]["code"] == "BODY_TOO_LARGE"
        and "PMFLOW_MAX_BODY_BYTES) is 1000" in error["message"]
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_answers_429_with_retry_after_then_recovers(database_url: str) -> None:
    _, tokens = prepare(database_url)
    clock = Clock()
    app = create_app(Settings(database_url=database_url, workflows=WORKFLOWS, limits=Limits(rate_limit=0)))
    limited = RateLimit(app, RateLimiter(2, clock=clock))  # 2 a minute: one more every 30 s
    mia, ben = {"Authorization": f"Bearer {tokens['mia']}"}, {"Authorization": f"Bearer {tokens['ben']}"}
    with TestClient(limited) as client:  # the lifespan passes through the middleware
        for _ in range(2):
            assert post(client, "{ viewer { name } }", **mia).status_code == 200
        refused_ = post(client, "{ viewer { name } }", **mia)
        assert refused_.status_code == 429
        assert refused_.headers["retry-after"] == "30"
        assert refused_.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert "PMFLOW_RATE_LIMIT" in refused_.json()["errors"][0]["message"]
        assert post(client, "{ viewer { name } }", **ben).status_code == 200  # a bucket per token
        clock.now += 29
        assert post(client, "{ viewer { name } }", **mia).headers["retry-after"] == "1"
        clock.now += 1
        assert data_of(post(client, "{ viewer { name } }", **mia).json())["viewer"]["name"]


def test_rate_limit_is_wired_per_client_ip_for_anonymous_requests(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, workflows=WORKFLOWS, limits=Limits(rate_limit=2)))
    with TestClient(app) as client:
        statuses = [post(client, "{ __typename }").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert client.get("/healthz").status_code == 200  # probes are not limited


def test_rate_limit_counts_websocket_subscriptions(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, workflows=WORKFLOWS, limits=Limits(rate_limit=1)))
    subscribe = 'subscription { events(projectId: "UHJvamVjdDox") { trigger } }'
    with (
        TestClient(app) as client,
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscribe}})
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": subscribe}})
        answers = {}
        while "2" not in answers:
            message = ws.receive_json()
            answers.setdefault(message.get("id"), message)
    assert answers["2"]["type"] == "error"
    assert answers["2"]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "RATE_LIMITED" not in json.dumps(answers.get("1", {}))  # the first one was within the limit


def test_cors_with_origins_configured(database_url: str) -> None:
    limits = Limits(cors_origins=("https://app.example",))
    with TestClient(
        create_app(Settings(database_url=database_url, workflows=WORKFLOWS, limits=limits))
    ) as client:
        preflight = client.options(
            "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        simple = post(client, "{ __typename }", origin="https://app.example")
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        other = post(client, "{ __typename }", origin="https://evil.example")
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_without_origins(api: Api) -> None:
    response = post(api.client, "{ __typename }", origin="https://app.example")
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)


# ---- settings -----------------------------------------------------------------------------------


def test_limits_from_the_environment() -> None:
    limits = Limits.from_env(
        {
            "PMFLOW_MAX_DEPTH": "20",
            "PMFLOW_RATE_LIMIT": "0",
            "PMFLOW_CORS_ORIGINS": "https://a.example, http://localhost:5173/",
            "PMFLOW_INTROSPECTION": "off",
        },
        development=True,
    )
    assert limits.max_depth == 20 and limits.rate_limit == 0 and limits.max_aliases == Limits().max_aliases
    assert limits.cors_origins == ("https://a.example", "http://localhost:5173")
    assert limits.introspection is False
    assert Limits.from_env({}, development=False).introspection is False
    assert Limits.from_env({}, development=True).introspection is True


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PMFLOW_MAX_DEPTH", "deep", "is not a whole number"),
        ("PMFLOW_MAX_NODES", "0", "must be at least 1"),
        ("PMFLOW_RATE_LIMIT", "-1", "must be at least 0"),
        ("PMFLOW_INTROSPECTION", "maybe", "must be 1 or 0"),
        ("PMFLOW_CORS_ORIGINS", "app.example", "is not an origin"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(LimitsError) as error:
        Limits.from_env({variable: value})
    assert variable in str(error.value) and says in str(error.value)


def test_serve_refuses_to_start_with_a_bad_limit_and_lists_the_variables() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["serve"], env={"PMFLOW_MAX_DEPTH": "deep"})
    assert result.exit_code != 0
    assert "PMFLOW_MAX_DEPTH='deep' is not a whole number" in result.output
    help_text = runner.invoke(cli, ["serve", "--help"]).output
    for variable in ("PMFLOW_MAX_DEPTH", "PMFLOW_MAX_NODES", "PMFLOW_RATE_LIMIT", "PMFLOW_CORS_ORIGINS"):
        assert variable in help_text
