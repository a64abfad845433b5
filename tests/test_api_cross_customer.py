"""Cross-customer probes: Ben (a Bluebird customer user) tries every way into Northwind's data.

Northwind owns ``portal`` and ``fleet``, Bluebird owns ``scheduling`` (src/pmflow/domain/demo.py).
Every answer Ben gets must be the answer for something that does not exist, and no answer may carry
a Northwind string. The leak detector (``Secrets``) collects every string value of Northwind's
objects as an admin reads them, drops what Bluebird's objects and the workflows share with them
(staff names, state names, the demo's boilerplate notes), and then looks for the rest in everything
Ben receives. ``tests/test_api_fuzz.py`` reuses it.

Queries are generated from the live schema (``selection``), so a field added later is probed too.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import graphql
import pytest

from api_helpers import GOVERNED_TYPES, NODE_TYPES, Api, app_state, global_id, ids_in_project, running_api
from pmflow.api.schema import build_schema
from test_surveys import open_survey

# Rejections by the request limits (depth, aliases, cost, rate) leak nothing: they are decided before
# any data is read.
LIMIT_CODES = frozenset(
    {
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_TOKENS",
        "DOCUMENT_TOO_LARGE",
        "QUERY_TOO_COSTLY",
        "CONNECTION_NEEDS_LIMIT",
        "BODY_TOO_LARGE",
        "RATE_LIMITED",
        "INTROSPECTION_DISABLED",
    }
)
NORTHWIND_PROJECTS = ("portal", "fleet")
MADE_UP_OFFSET = 999_000  # made-up ids: a real id's primary key plus this; nothing has them


@pytest.fixture(scope="module")
def schema() -> graphql.GraphQLSchema:
    """The schema the app serves, as graphql-core sees it."""
    return graphql.build_schema(str(build_schema()))


def every_type_on_both_sides(api: Api) -> None:
    """The demo has no deliverable, and Bluebird no risk or change request: add them, so that every
    node type has an object on each side."""
    mia, ben = api.actor("mia"), api.actor("ben")
    portal, scheduling = api.demo.projects["portal"], api.demo.projects["scheduling"]
    api.domain.deliverables.create(
        mia,
        portal,
        {
            "title": "Claims module release notes",
            "kind": "document",
            "acceptance_criteria": ["Reviewed by Nils"],
        },
    )
    api.domain.deliverables.create(mia, scheduling, {"title": "Booking widget", "kind": "code"})
    api.domain.risks.create(mia, scheduling, {"title": "SMS provider outage", "probability": 2, "impact": 3})
    api.domain.change_requests.create(
        ben, scheduling, {"title": "Evening slots", "description": "Open 18-20", "reason": "Demand"}
    )


@pytest.fixture
def api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    # hundreds of probes a minute from one token: the rate limit is not what is tested here
    monkeypatch.setenv("PMFLOW_RATE_LIMIT", "0")
    with running_api(database_url) as running:
        every_type_on_both_sides(running)
        yield running


# ---- queries generated from the schema -----------------------------------------------------------------


def selection(
    schema: graphql.GraphQLSchema, type_: graphql.GraphQLNamedType, depth: int, page: int = 100
) -> str:
    """Every field of ``type_`` that needs no argument, objects down to ``depth`` levels, connections
    with ``first: page`` (at most 100), of an interface the fields it declares (its implementations
    may differ in nullability, which GraphQL refuses to merge)."""
    if not isinstance(type_, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
        return ""
    parts = ["__typename"]
    for name, field_ in type_.fields.items():
        if any(graphql.is_required_argument(arg) for arg in field_.args.values()):
            continue
        inner = graphql.get_named_type(field_.type)
        arguments = f"(first: {page})" if "first" in field_.args else ""
        if graphql.is_leaf_type(inner):
            parts.append(name + arguments)
        elif depth > 0:
            parts.append(f"{name}{arguments} {{ {selection(schema, inner, depth - 1, page)} }}")
    return " ".join(parts)


def fields_of(schema: graphql.GraphQLSchema, type_name: str, depth: int, page: int = 100) -> str:
    type_ = schema.get_type(type_name)
    assert type_ is not None, type_name
    return selection(schema, type_, depth, page)


def node_query(schema: graphql.GraphQLSchema, type_name: str, depth: int = 2, page: int = 100) -> str:
    fields = fields_of(schema, type_name, depth, page)
    return f"query($id: ID!) {{ node(id: $id) {{ id ... on {type_name} {{ {fields} }} }} }}"


# ---- the leak detector --------------------------------------------------------------------------------


def strings_in(value: Any, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every string in a JSON value (keys in ``skip`` and their subtrees left out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from strings_in(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item, skip)


GLOBAL_ID = re.compile(r"[A-Z][A-Za-z]*:[0-9]+")


def is_global_id(text: str) -> bool:
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError:
        return False
    # history events and memberships have global ids too, though they are not nodes
    return GLOBAL_ID.fullmatch(decoded) is not None


def is_date(text: str) -> bool:
    """Dates and timestamps collide between customers by chance (same day), so they prove nothing."""
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


# Generic text: the reasons a guard blocks and the viewer's buttons are the same for every customer.
GENERIC_KEYS = frozenset({"availableTransitions", "workflow", "__typename"})


# States, categories, kinds, roles, statuses: the same words for every customer.
VOCABULARY_WORD = re.compile(r"[a-z_.]+")


@dataclass
class Secrets:
    """Northwind's strings that nothing Ben may see contains."""

    texts: frozenset[str]
    ids: frozenset[str]
    # every global id of Northwind's objects, by type (customer, contacts, carla included)
    by_type: dict[str, list[str]] = field(default_factory=dict)

    def leaks(self, response: Any, sent: str = "") -> list[str]:
        """The Northwind strings found in ``response`` (what the client sent itself is not a leak)."""
        found = []
        values = list(strings_in(response))
        for secret in self.texts:
            if secret not in sent and any(secret in value for value in values):
                found.append(secret)
        for secret in self.ids:
            if secret in sent:
                continue
            whole = re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(secret)}(?![A-Za-z0-9_-])")
            if any(whole.search(value) for value in values):
                found.append(secret)
        return found

    def assert_none_in(self, response: Any, sent: str = "") -> None:
        leaked = self.leaks(response, sent)
        assert not leaked, f"Northwind data {leaked} in {json.dumps(response)[:2000]}"


def admin_dump(api: Api, schema: graphql.GraphQLSchema, ids: dict[str, list[str]]) -> dict[str, Any]:
    """Every node of ``ids`` read in full by an admin, keyed by id."""
    return {
        gid: api.data(node_query(schema, t), {"id": gid})["node"]
        for t, gids in ids.items()
        if t in NODE_TYPES
        for gid in gids
    }


def without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def live_health_untimed(value: Any) -> Any:
    """``value`` without the time of each live ``health`` report (wherever a project is nested)."""
    if isinstance(value, dict):
        return {
            k: without(v, frozenset({"computedAt"})) if k == "health" else live_health_untimed(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [live_health_untimed(v) for v in value]
    return value


def northwind_state(api: Api, schema: graphql.GraphQLSchema, ids: dict[str, list[str]]) -> Any:
    """What must not change when Ben tries to write: every Northwind object as an admin reads it
    (the progress report and the live health score say when they were computed, so those times are
    left out; a recorded health score stays in, in ``healthHistory``) and Carla's tokens."""
    state = live_health_untimed(without(admin_dump(api, schema, ids), frozenset({"progressReport"})))
    return state, tokens_of(api, schema, "carla")


def changed_paths(after: Any, before: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as dotted paths (a readable failure instead of two huge dumps)."""
    if isinstance(after, dict) and isinstance(before, dict):
        return [
            found
            for key in sorted(set(after) | set(before))
            for found in changed_paths(after.get(key), before.get(key), f"{path}.{key}")
        ]
    if isinstance(after, (list, tuple)) and isinstance(before, (list, tuple)) and len(after) == len(before):
        return [
            found
            for n, (a, b) in enumerate(zip(after, before, strict=True))
            for found in changed_paths(a, b, f"{path}[{n}]")
        ]
    return [] if after == before else [f"{path}: {before!r} -> {after!r}"[:300]]


def assert_unchanged(after: Any, before: Any) -> None:
    assert after == before, "Northwind's data changed: " + "; ".join(changed_paths(after, before)[:10])


def tokens_of(api: Api, schema: graphql.GraphQLSchema, who: str) -> list[Any]:
    """Someone's API tokens as they see them (none while the schema has no ``User.tokens``)."""
    user = schema.get_type("User")
    if not isinstance(user, graphql.GraphQLObjectType) or "tokens" not in user.fields:
        return []
    token = schema.get_type("ApiToken")
    fields = selection(schema, token, 0) if token is not None else "id"
    tokens: list[Any] = api.data(f"{{ viewer {{ tokens {{ {fields} }} }} }}", as_=who)["viewer"]["tokens"]
    return [without(t, frozenset({"lastUsedAt"})) for t in tokens]


def northwind_ids(api: Api) -> dict[str, list[str]]:
    """Global ids of everything of Northwind's: both projects, the customer, contacts, Carla."""
    found: dict[str, list[str]] = {t: [] for t in NODE_TYPES}
    for key in NORTHWIND_PROJECTS:
        for type_name, gids in ids_in_project(api, key).items():
            found[type_name] += [g for g in gids if g not in found[type_name]]
    # project members are the team's accounts, shared with Bluebird's project: only Carla is Northwind's
    found["User"] = [api.user_id("carla")]
    return found


def northwind_ids_of_every_kind(api: Api, schema: graphql.GraphQLSchema) -> dict[str, list[str]]:
    """``northwind_ids`` and the ids of what is not a node but can be named in a mutation (tokens)."""
    found = northwind_ids(api)
    found["ApiToken"] = [t["id"] for t in tokens_of(api, schema, "carla")]
    if schema.query_type is not None and "notifications" in schema.query_type.fields:
        mine = api.data("{ notifications(first: 100) { nodes { id } } }", as_="carla")["notifications"]
        found["Notification"] = [n["id"] for n in mine["nodes"]]
    if schema.mutation_type is not None and "answerSurvey" in schema.mutation_type.fields:
        found["Survey"] = [global_id("Survey", open_survey(api)[0])]  # a Northwind contact is invited
    return found


def collect_secrets(api: Api, schema: graphql.GraphQLSchema) -> Secrets:
    northwind = northwind_ids_of_every_kind(api, schema)
    bluebird = ids_in_project(api, "scheduling")
    shared: set[str] = set()
    for value in admin_dump(api, schema, bluebird).values():
        shared.update(strings_in(value))
    vocabulary = api.data(f"{{ workflows {{ {fields_of(schema, 'Workflow', 3)} }} }}")
    shared.update(strings_in(vocabulary))
    candidates: set[str] = set()
    for value in admin_dump(api, schema, northwind).values():
        candidates.update(strings_in(value, GENERIC_KEYS))
    kept = {
        s
        for s in candidates - shared
        if len(s) > 6
        and not is_date(s)
        and not VOCABULARY_WORD.fullmatch(s)
        and not any(s in v for v in shared if not is_global_id(v))
    }
    ids = frozenset(s for s in kept if is_global_id(s))
    return Secrets(texts=frozenset(kept - ids), ids=ids, by_type=northwind)


def made_up(gid: str) -> str:
    """An id of the same type as ``gid`` that no object has."""
    type_name, _, pk = base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode().partition(":")
    return global_id(type_name, MADE_UP_OFFSET + int(pk))


@dataclass
class Ben:
    """Ben's side of the conversation: every response is checked for Northwind's strings."""

    api: Api
    secrets: Secrets
    seen: int = 0

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.api.gql(query, variables, as_="ben", status=None)
        self.secrets.assert_none_in(response, sent=query + json.dumps(variables or {}))
        self.seen += 1
        return response

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.gql(query, variables)
        assert not response.get("errors"), response["errors"]
        data: dict[str, Any] = response["data"]
        return data


@pytest.fixture
def secrets(api: Api, schema: graphql.GraphQLSchema) -> Secrets:
    return collect_secrets(api, schema)


@pytest.fixture
def ben(api: Api, secrets: Secrets) -> Ben:
    return Ben(api, secrets)


# ---- the detector itself --------------------------------------------------------------------------------


def test_the_detector_knows_northwinds_names_and_finds_them(api: Api, secrets: Secrets) -> None:
    """Given Northwind's data as an admin reads it, the detector holds its names and ids and not
    the vocabulary everyone shares, and it would catch them in an answer."""
    for text in ("Northwind Logistics", "Customer portal", "Fleet tracking app", "carla@northwind.example"):
        assert text in secrets.texts
    for shared in ("Mia Manager", "sam@pmflow.example", "Increment demonstrated.", "requirements"):
        assert shared not in secrets.texts
    assert api.project_id("portal") in secrets.ids
    assert api.project_id("scheduling") not in secrets.ids
    assert secrets.leaks({"data": {"x": [{"y": "Project Customer portal!"}]}}) == ["Customer portal"]
    assert secrets.leaks({"errors": [{"message": f"'{api.project_id('portal')}' is gone"}]})
    # what the client sent comes back as it was sent: an echo is not a leak
    assert not secrets.leaks(
        {"errors": [{"message": api.project_id("portal")}]}, sent=api.project_id("portal")
    )


# ---- reading ------------------------------------------------------------------------------------------


PROJECTS = """
query($filter: ProjectFilter) {
  projects(first: 100, filter: $filter) { totalCount nodes { id name } pageInfo { hasNextPage } }
}
"""


def test_projects_list_and_every_filter_show_only_bluebirds(ben: Ben, api: Api) -> None:
    everything = ben.data(PROJECTS)["projects"]
    assert [p["name"] for p in everything["nodes"]] == ["Patient scheduling"]
    assert everything["totalCount"] == 1

    northwind = api.customer_id("northwind")
    by_customer = ben.gql(PROJECTS, {"filter": {"customerId": northwind}})
    unknown = ben.gql(PROJECTS, {"filter": {"customerId": made_up(northwind)}})
    assert by_customer == unknown
    assert by_customer["data"]["projects"]["totalCount"] == 0

    states = {
        p["state"] for p in api.data("{ projects(first: 100) { nodes { state } } }")["projects"]["nodes"]
    }
    filters: list[dict[str, Any]] = [{"state": [s]} for s in states | {s.split(".")[0] for s in states}]
    filters += [{"search": s} for s in ("Customer portal", "Fleet", "portal", "tracking", "o", "")]
    filters += [{"customerId": northwind, "search": "portal"}, {"startDateFrom": "2000-01-01"}]
    for given in filters:
        got = ben.data(PROJECTS, {"filter": given})["projects"]
        assert {p["name"] for p in got["nodes"]} <= {"Patient scheduling"}, given
        assert got["totalCount"] == len(got["nodes"]), given


def test_state_filter_takes_its_words_literally(api: Api) -> None:
    """A state name is not a LIKE pattern: ``%`` and ``_`` match no state (found while probing:
    ``state: ["%"]`` listed every project in a nested state, ``requirement_`` matched
    ``requirements.*``)."""
    for pattern in ("%", "_", "requirement_", "%s"):
        got = api.data(PROJECTS, {"filter": {"state": [pattern]}}, as_="carla")["projects"]
        assert got["totalCount"] == 0 and got["nodes"] == [], pattern


def test_customers_and_viewer_are_bluebirds_only(ben: Ben, schema: graphql.GraphQLSchema) -> None:
    customers = ben.data(f"{{ customers {{ {fields_of(schema, 'Customer', 2)} }} }}")
    assert [c["name"] for c in customers["customers"]] == ["Bluebird Health"]
    assert customers["customers"][0]["projects"]["totalCount"] == 1
    viewer = ben.data(f"{{ viewer {{ {fields_of(schema, 'User', 3)} }} }}")["viewer"]
    assert viewer["email"] == "ben@bluebird.example"
    assert viewer["customer"]["name"] == "Bluebird Health"


def test_workflows_are_open_to_customers(ben: Ben, schema: graphql.GraphQLSchema) -> None:
    workflows = ben.data(f"{{ workflows {{ {fields_of(schema, 'Workflow', 3)} }} }}")
    assert {w["name"] for w in workflows["workflows"]} >= {
        "customer-project",
        "requirement",
        "change-request",
    }


def test_node_answers_for_northwinds_objects_exactly_as_for_made_up_ids(
    ben: Ben, secrets: Secrets, schema: graphql.GraphQLSchema
) -> None:
    probed = 0
    for type_name in NODE_TYPES:
        gids = secrets.by_type[type_name]
        query = node_query(schema, type_name)
        for gid in gids:
            real, unknown = ben.gql(query, {"id": gid}), ben.gql(query, {"id": made_up(gid)})
            assert real == unknown, (type_name, gid)
            assert real == {"data": {"node": None}}, (type_name, gid)
            probed += 1
    assert all(secrets.by_type[t] for t in NODE_TYPES)
    assert probed >= 20


def test_nodes_answers_null_for_each_northwind_object(ben: Ben, secrets: Secrets) -> None:
    gids = [g for t in NODE_TYPES for g in secrets.by_type[t]]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }"
    for start in range(0, len(gids), 100):  # at most 100 ids a request
        page = gids[start : start + 100]
        real = ben.gql(query, {"ids": page})
        assert real == ben.gql(query, {"ids": [made_up(g) for g in page]})
        assert real == {"data": {"nodes": [None] * len(page)}}


REACH_PAGE = 10  # Bluebird has fewer of each; nested pages multiply (PMFLOW_MAX_NODES)


def test_nothing_reachable_from_what_ben_sees_is_northwinds(
    ben: Ben, api: Api, schema: graphql.GraphQLSchema
) -> None:
    """Walk every relation from each root Ben can use (his project, his customer, himself, the
    team's accounts in his project): nested connections and references never lead to Northwind."""
    page = REACH_PAGE
    roots = {
        "viewer": f"{{ viewer {{ {fields_of(schema, 'User', 4, page)} }} }}",
        "customers": f"{{ customers {{ {fields_of(schema, 'Customer', 4, page)} }} }}",
        "projects": f"{{ projects(first: {page}) {{ {fields_of(schema, 'ProjectConnection', 4, page)} }} }}",
    }
    for name, query in roots.items():
        response = ben.gql(query)
        assert not response.get("errors"), (name, response["errors"])
    # every object of Bluebird's project, each read in full
    bluebird = ids_in_project(api, "scheduling")
    for type_name, gids in bluebird.items():
        for gid in gids:
            response = ben.gql(node_query(schema, type_name, depth=3, page=REACH_PAGE), {"id": gid})
            assert not response.get("errors"), (gid, response["errors"])
            assert response["data"]["node"] is not None, (type_name, gid)


# ---- writing ------------------------------------------------------------------------------------------

# The node type each ID input names, by the input field's name (the `id` of a payload's own type).
ID_FIELDS = {
    "projectId": "Project",
    "customerId": "Customer",
    "userId": "User",
    "managerId": "User",
    "assigneeId": "User",
    "ownerId": "User",
    "attendeeUserIds": "User",
    "contactId": "Contact",
    "requestedByContactId": "Contact",
    "attendeeContactIds": "Contact",
    "iterationId": "Iteration",
    "requirementId": "Requirement",
    "affectedRequirementIds": "Requirement",
    "deliverableId": "Deliverable",
    "ids": "Notification",  # markNotificationsRead: one's own notifications
    "surveyId": "Survey",  # answerSurvey signed in: a survey one's contact was invited to
}


# Admin-only objects that belong to no customer (webhooks, the delivery log): nothing of Northwind's to
# find through them, and Ben is refused by the access rule before any id is read.
NO_CUSTOMERS = frozenset({"Webhook", "Delivery"})


def bluebird_ids(api: Api, schema: graphql.GraphQLSchema) -> dict[str, str]:
    """One id of Ben's own side for every type, to fill the ids a probe does not aim at."""
    own = {t: gids[0] for t, gids in ids_in_project(api, "scheduling").items() if gids}
    own.update(User=api.user_id("ben"), Customer=api.customer_id("bluebird"))
    for token in tokens_of(api, schema, "ben")[:1]:
        own["ApiToken"] = token["id"]
    return own


def plain_value(type_: graphql.GraphQLInputType, own: dict[str, str], type_name: str) -> Any:
    """A value of ``type_`` that is valid enough to get past parsing."""
    nullable = graphql.get_nullable_type(type_)
    if isinstance(nullable, graphql.GraphQLList):
        return [plain_value(nullable.of_type, own, type_name)]
    named = graphql.get_named_type(type_)
    if isinstance(named, graphql.GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, graphql.GraphQLInputObjectType):
        return required_fields(named, own)
    return {
        "ID": own.get(type_name, ""),
        "String": "probe value",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "Date": "2026-12-01",
        "DateTime": "2026-12-01T10:00:00+00:00",
        "JSON": {},
    }.get(named.name, "probe value")


def required_fields(input_type: graphql.GraphQLInputObjectType, own: dict[str, str]) -> dict[str, Any]:
    return {
        name: plain_value(f.type, own, ID_FIELDS.get(name, ""))
        for name, f in input_type.fields.items()
        if graphql.is_required_input_field(f)
    }


@dataclass(frozen=True)
class Probe:
    mutation: str
    id_field: str
    type_name: str
    document: str
    base: dict[str, Any]

    def input_with(self, gid: str) -> dict[str, Any]:
        given = dict(self.base)
        given[self.id_field] = [gid] if isinstance(given.get(self.id_field), list) else gid
        return given


def id_probes(schema: graphql.GraphQLSchema, own: dict[str, str]) -> Iterable[Probe]:
    """For every mutation and every ID field of its input: a valid-looking input with that field
    ready to take another customer's id."""
    mutation = schema.mutation_type
    assert mutation is not None
    for name, field_ in mutation.fields.items():
        (arg,) = field_.args.values()
        input_type = graphql.get_named_type(arg.type)
        assert isinstance(input_type, graphql.GraphQLInputObjectType)
        payload = graphql.get_named_type(field_.type)
        assert isinstance(payload, graphql.GraphQLObjectType)
        # the payload's object (``workItem: WorkItem``, ``apiToken: ApiToken``) names what ``id`` is
        own_type = next(
            graphql.get_named_type(f.type).name for n, f in payload.fields.items() if n != "errors"
        )
        document = (
            f"mutation($input: {input_type.name}!) {{ {name}(input: $input) "
            f"{{ {selection(schema, payload, 1)} }} }}"
        )
        for input_name, input_field in input_type.fields.items():
            if graphql.get_named_type(input_field.type).name != "ID":
                continue
            if input_name == "id":
                targets = GOVERNED_TYPES if name == "fireTransition" else (own_type,)
            else:
                assert input_name in ID_FIELDS, f"{name}.{input_name}: which node type? add it to ID_FIELDS"
                targets = (ID_FIELDS[input_name],)
            for target in targets:
                if target in NO_CUSTOMERS:
                    continue
                owned = (*NODE_TYPES, "ApiToken", "Notification", "Survey")
                assert target in owned, f"{name}.{input_name}: whose is a {target}?"
                base = required_fields(input_type, own)
                if name == "fireTransition":
                    base["trigger"] = "confirm"
                yield Probe(name, input_name, target, document, base)


def redact(response: dict[str, Any], gid: str) -> str:
    """The response with the id the client sent (and its number) replaced: an echo of the input is
    not a difference."""
    pk = base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode().partition(":")[2]
    return re.sub(rf"\b{pk}\b", "<pk>", json.dumps(response, sort_keys=True).replace(gid, "<id>"))


def test_every_mutation_taking_an_id_answers_for_northwinds_as_for_unknown_ids(
    ben: Ben, api: Api, secrets: Secrets, schema: graphql.GraphQLSchema
) -> None:
    """Each ID field of each mutation, given each of Northwind's ids of its type, answers byte for
    byte as for a made-up id, and Northwind's data is unchanged afterwards."""
    before = northwind_state(api, schema, secrets.by_type)
    probes = list(id_probes(schema, bluebird_ids(api, schema)))
    assert {p.mutation for p in probes} >= {"fireTransition", "createChangeRequest", "recordFeedback"}
    for probe in probes:
        for gid in secrets.by_type[probe.type_name]:
            unknown_id = made_up(gid)
            unknown = ben.gql(probe.document, {"input": probe.input_with(unknown_id)})
            real = ben.gql(probe.document, {"input": probe.input_with(gid)})
            assert redact(real, gid) == redact(unknown, unknown_id), (probe.mutation, probe.id_field, gid)
            errors = real["data"][probe.mutation]["errors"] if real.get("data") else real["errors"]
            assert errors, (probe.mutation, probe.id_field, "accepted another customer's id")
    assert_unchanged(northwind_state(api, schema, secrets.by_type), before)


def test_fire_transition_on_northwinds_subjects_is_not_found(
    ben: Ben, api: Api, secrets: Secrets, schema: graphql.GraphQLSchema
) -> None:
    """Every trigger out of the current state of every Northwind subject, fired by Ben: NOT_FOUND,
    as for a subject that does not exist; nothing moves."""
    fire = (
        "mutation($input: FireTransitionInput!) { fireTransition(input: $input) "
        "{ subject { id state } event { id } errors { code message field reasons } } }"
    )
    triggers_of = (
        "query($id: ID!) { node(id: $id) { ... on Governed { version availableTransitions { trigger } } } }"
    )
    before = northwind_state(api, schema, secrets.by_type)
    fired = 0
    for type_name in GOVERNED_TYPES:
        for gid in secrets.by_type[type_name]:
            subject = api.data(triggers_of, {"id": gid})["node"]
            for trigger in [t["trigger"] for t in subject["availableTransitions"]]:
                given = {"trigger": trigger, "expectedVersion": subject["version"], "comment": "by Ben"}
                given["payload"] = {"reason": "probe", "rationale": "probe"}
                real = ben.gql(fire, {"input": {**given, "id": gid}})
                unknown = ben.gql(fire, {"input": {**given, "id": made_up(gid)}})
                assert redact(real, gid) == redact(unknown, made_up(gid)), (gid, trigger)
                assert [e["code"] for e in real["data"]["fireTransition"]["errors"]] == ["NOT_FOUND"]
                fired += 1
    assert fired >= 10
    assert_unchanged(northwind_state(api, schema, secrets.by_type), before)


# ---- subscriptions ------------------------------------------------------------------------------------


def subscription_answer(api: Api, project_id: str) -> dict[str, Any]:
    """What Ben hears after subscribing to ``project_id``'s events over WebSocket."""
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens['ben']}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        query = "subscription($p: ID!) { events(projectId: $p) { id trigger comment actorName subjectId } }"
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"p": project_id}}}
        )
        answer: dict[str, Any] = ws.receive_json()
        return answer


def test_subscribing_to_a_northwind_project_is_refused_as_for_an_unknown_one(
    api: Api, secrets: Secrets
) -> None:
    for key in NORTHWIND_PROJECTS:
        gid = api.project_id(key)
        real, unknown = subscription_answer(api, gid), subscription_answer(api, made_up(gid))
        assert real == unknown
        # refused at once (graphql-transport-ws `next` with errors, or `error`), never an event
        assert real["type"] in ("next", "error"), real
        errors = real["payload"]["errors"] if real["type"] == "next" else real["payload"]
        if real["type"] == "next":
            assert real["payload"]["data"] is None
        assert [(e.get("extensions") or {}).get("code") for e in errors] == ["NOT_FOUND"]
        secrets.assert_none_in(real, sent=gid)


def test_a_subscriber_to_bluebirds_project_hears_nothing_of_northwinds(api: Api, secrets: Secrets) -> None:
    """Ben listens to his own project while Northwind's moves: the first event he hears is his."""
    fire = "mutation($input: FireTransitionInput!) { fireTransition(input: $input) { errors { code } } }"
    query = (
        "subscription($p: ID!) { events(projectId: $p) "
        "{ id eventId subjectId trigger fromState toState actorName comment payload } }"
    )
    risk = ids_in_project(api, "scheduling")["Risk"][0]
    broker = app_state(api.app)["broker"]
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens['ben']}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        variables = {"p": api.project_id("scheduling")}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        for _ in range(500):
            if broker.subscriber_count(api.demo.projects["scheduling"]):
                break
            time.sleep(0.01)
        northwind = {"id": api.project_id("portal"), "trigger": "put_on_hold", "comment": "Budget review"}
        northwind["payload"] = {"reason": "Northwind budget freeze"}
        assert api.data(fire, {"input": northwind}, as_="mia")["fireTransition"]["errors"] == []
        own = {"id": risk, "trigger": "assess", "comment": "Looked at it"}
        assert api.data(fire, {"input": own}, as_="mia")["fireTransition"]["errors"] == []
        heard = ws.receive_json()
    assert heard["type"] == "next", heard
    event = heard["payload"]["data"]["events"]
    assert (event["subjectId"], event["trigger"]) == (risk, "assess")
    secrets.assert_none_in(heard)
