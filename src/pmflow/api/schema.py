"""The schema: queries, mutations and subscriptions of every domain, merged into one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import pluggy
import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.tools import merge_types
from strawberry.utils.str_converters import to_camel_case

from pmflow.api.access import RULE_MEANING, Rule, guard_root_fields
from pmflow.api.changes.mutations import ChangeRequestMutation
from pmflow.api.changes.types import ChangeRequest
from pmflow.api.customers.mutations import CustomerMutation
from pmflow.api.customers.types import Contact, Customer, User
from pmflow.api.deliverables.mutations import DeliverableMutation
from pmflow.api.deliverables.types import Deliverable
from pmflow.api.errors import ErrorPolicy
from pmflow.api.fanout import SharedEventExecutor
from pmflow.api.identity.mutations import IdentityMutation
from pmflow.api.identity.types import IdentityQuery
from pmflow.api.iterations.mutations import IterationMutation
from pmflow.api.iterations.types import Iteration, WorkItem
from pmflow.api.limits import Limits, limit_extensions
from pmflow.api.meetings.mutations import MeetingMutation
from pmflow.api.meetings.types import Feedback, Meeting
from pmflow.api.mutations import Mutation as CoreMutation
from pmflow.api.notifications.inbox import InboxMutation, InboxQuery, InboxSubscription
from pmflow.api.notifications.mutations import NotificationMutation, NotificationQuery
from pmflow.api.projects.types import Project
from pmflow.api.queries import Query as CoreQuery
from pmflow.api.requirements.types import Requirement
from pmflow.api.risks.mutations import RiskMutation
from pmflow.api.risks.types import Risk
from pmflow.api.subscriptions import Subscription as CoreSubscription
from pmflow.api.surveys.mutations import SurveyMutation
from pmflow.api.surveys.queries import SurveyQuery
from pmflow.api.surveys.types import Survey
from pmflow.core.hookspecs import GraphQLExtension

Query = merge_types("Query", (CoreQuery, IdentityQuery, NotificationQuery, InboxQuery, SurveyQuery))
Mutation = merge_types(
    "Mutation",
    (
        CoreMutation,
        CustomerMutation,
        ChangeRequestMutation,
        IterationMutation,
        MeetingMutation,
        DeliverableMutation,
        RiskMutation,
        IdentityMutation,
        NotificationMutation,
        InboxMutation,
        SurveyMutation,
    ),
)
Subscription = merge_types("Subscription", (CoreSubscription, InboxSubscription))

TYPES = [
    Customer,
    Contact,
    User,
    Project,
    Requirement,
    ChangeRequest,
    Iteration,
    WorkItem,
    Deliverable,
    Risk,
    Meeting,
    Feedback,
    Survey,
]


class PluginSchemaError(Exception):
    """A plugin's GraphQL extension cannot be merged: the message names the plugin and the field."""


def build_schema(
    limits: Limits | None = None, plugins: pluggy.PluginManager | None = None
) -> strawberry.Schema:
    """The schema; with ``plugins``, their ``pmflow_graphql_types`` merged in (without: the default
    schema of ``schema.graphql``)."""
    guard_root_fields(("Query", Query), ("Mutation", Mutation))  # who may call what: pmflow.api.access
    query, mutation, extra_types = Query, Mutation, list(TYPES)
    if plugins is not None:
        extensions = _plugin_extensions(plugins)
        if extensions:
            query, mutation, extra_types = _merge_plugins(extensions, extra_types)
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        subscription=Subscription,
        types=extra_types,
        # Parsing and validating the same documents again costs 3-7 ms a request (docs/performance.md).
        # The limits come first: their parse hook must see ParserCache's too-many-tokens error.
        extensions=[
            *limit_extensions(limits or Limits()),
            ErrorPolicy,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        # One execution per subscription event for all viewers with the same audience.
        execution_context_class=SharedEventExecutor,
    )


def _plugin_extensions(pm: pluggy.PluginManager) -> list[tuple[str, GraphQLExtension]]:
    """Each plugin's extensions with the module they come from, in pluggy's order."""
    found = []
    for impl in reversed(pm.hook.pmflow_graphql_types.get_hookimpls()):
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        for extension in cast(Iterable[Any], impl.function() or ()):
            if not isinstance(extension, GraphQLExtension):
                raise PluginSchemaError(
                    f"pmflow_graphql_types in module '{module}' returned {extension!r}, "
                    "not a GraphQLExtension"
                )
            found.append((module, extension))
    return found


def _merge_plugins(
    extensions: list[tuple[str, GraphQLExtension]], types: list[type]
) -> tuple[type, type, list[type]]:
    """Query and Mutation with the plugins' fields, each guarded by the rule its plugin declares."""
    roots: dict[str, list[type]] = {"Query": [Query], "Mutation": [Mutation]}
    names: dict[str, dict[str, str]] = {
        root: {_graphql_name(f): "pmflow" for f in base.__strawberry_definition__.fields}  # type: ignore[attr-defined]
        for root, base in (("Query", Query), ("Mutation", Mutation))
    }
    rules: dict[str, dict[str, Rule]] = {"Query": {}, "Mutation": {}}
    for module, extension in extensions:
        where = f"plugin module '{module}'"
        if extension.root not in roots:
            raise PluginSchemaError(f"{where}: root must be 'Query' or 'Mutation', got {extension.root!r}")
        definition = getattr(extension.type, "__strawberry_definition__", None)
        if definition is None:
            raise PluginSchemaError(f"{where}: {extension.type!r} is not a @strawberry.type")
        for field in definition.fields:
            name = _graphql_name(field)
            rule = extension.rules.get(name)
            if rule is None:
                raise PluginSchemaError(
                    f"{where}: {extension.root}.{name} has no access rule (declare it in "
                    f"GraphQLExtension.rules: one of {', '.join(RULE_MEANING)})"
                )
            if rule not in RULE_MEANING:
                raise PluginSchemaError(
                    f"{where}: unknown access rule {rule!r} for {extension.root}.{name} "
                    f"(one of {', '.join(RULE_MEANING)})"
                )
            if name in names[extension.root]:
                raise PluginSchemaError(
                    f"{where}: {extension.root}.{name} already exists (from {names[extension.root][name]})"
                )
            names[extension.root][name] = where
            rules[extension.root][name] = rule
        roots[extension.root].append(extension.type)
        types.extend(extension.types)
    query = merge_types("Query", tuple(roots["Query"]))
    mutation = merge_types("Mutation", tuple(roots["Mutation"]))
    guard_root_fields(("Query", query), ("Mutation", mutation), rules=rules)
    return query, mutation, types


def _graphql_name(field: object) -> str:
    name = getattr(field, "graphql_name", None) or to_camel_case(str(getattr(field, "name", "")))
    return str(name)
