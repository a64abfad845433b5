"""API limits: how big, deep and costly one GraphQL request may be, and the switches around them.

``Limits`` holds every setting with a safe default and loads them from ``PMFLOW_*`` variables
(``Limits.from_env``; a bad value raises ``LimitsError`` naming the variable, so the server refuses
to start). ``RequestLimits`` is the schema extension that enforces the per-document limits;
``BodyLimit`` is the ASGI middleware that refuses large request bodies before any JSON is parsed.
Every rejection is a GraphQL error with ``extensions.code`` and a message naming the limit, the
value and where (docs/security.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.language import ast
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import count_fields_with_alias

from pmflow.api.http import CHARSET, JSON, negotiate

MAX_PAGE = 100  # first/last of one connection (pmflow.api.pagination enforces it again per field)
_INTROSPECTION = ("__schema", "__type")
_TOO_MANY_TOKENS = re.compile(r"Document contains more than \d+ tokens")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


class LimitsError(ValueError):
    """A limit's environment variable has a value the server cannot use."""


@dataclass(frozen=True)
class Limits:
    """Every API limit; ``0`` switches off only the rate limit. Defaults are safe for production."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_document_bytes: int = 16 * 1024
    max_nodes: int = 50_000  # the dashboard query (100 projects, their children) counts 31,100
    max_body_bytes: int = 1024 * 1024
    rate_limit: int = 600  # requests per minute per token (anonymous: per client IP)
    cors_origins: tuple[str, ...] = ()
    introspection: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, development: bool = True) -> Limits:
        """The limits set in ``PMFLOW_*`` variables (``ENVIRONMENT``); the rest keep their defaults.
        Introspection defaults to on in development and off in production."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {"introspection": development}
        for variable, (name, _) in ENVIRONMENT.items():
            raw = environ.get(variable)
            if raw is None or not raw.strip():
                continue
            if name == "cors_origins":
                values[name] = _origins(variable, raw)
            elif name == "introspection":
                values[name] = _flag(variable, raw)
            else:
                values[name] = _count(variable, raw, minimum=0 if name == "rate_limit" else 1)
        return cls(**values)


# variable -> (Limits field, what it means); `pmflow serve --help` and docs/security.md list them.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "PMFLOW_MAX_DEPTH": ("max_depth", "deepest nesting of fields"),
    "PMFLOW_MAX_ALIASES": ("max_aliases", "aliases in one document"),
    "PMFLOW_MAX_TOKENS": ("max_tokens", "lexical tokens in one document"),
    "PMFLOW_MAX_DOCUMENT_BYTES": ("max_document_bytes", "bytes of the query text"),
    "PMFLOW_MAX_NODES": ("max_nodes", "nodes one query may ask for (product of nested first/last)"),
    "PMFLOW_MAX_BODY_BYTES": ("max_body_bytes", "bytes of an HTTP request body"),
    "PMFLOW_RATE_LIMIT": ("rate_limit", "requests a minute per token or anonymous client IP; 0: off"),
    "PMFLOW_CORS_ORIGINS": ("cors_origins", "comma list of browser origins allowed (CORS); '*' for any"),
    "PMFLOW_INTROSPECTION": ("introspection", "1/0: answer introspection (default: 1 only if PMFLOW_DEV)"),
}
assert {name for name, _ in ENVIRONMENT.values()} == {f.name for f in fields(Limits)}


def environment_help() -> str:
    """The variables, their meaning and defaults, one a line (for ``pmflow serve --help``)."""
    defaults = Limits()
    lines = []
    for variable, (name, meaning) in ENVIRONMENT.items():
        default = getattr(defaults, name)
        shown = (",".join(default) or "none") if isinstance(default, tuple) else default
        lines.append(f"{variable}: {meaning}" + ("" if name == "introspection" else f" [default: {shown}]"))
    return "\n".join(lines)


def _count(variable: str, raw: str, *, minimum: int) -> int:
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise LimitsError(f"{variable}={raw!r} is not a whole number") from None
    if value < minimum:
        raise LimitsError(f"{variable}={raw!r} must be at least {minimum}")
    return value


def _flag(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise LimitsError(f"{variable}={raw!r} must be 1 or 0 (true/false, yes/no, on/off)")


def _origins(variable: str, raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise LimitsError(
                f"{variable}: {origin!r} is not an origin; write scheme://host[:port], e.g. https://app.example"
            )
    return origins


def limit_error(message: str, code: str, node: ast.Node | None = None) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": code})


# ---- validation rules: what the document alone decides (cached with the document) ----------------


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """QUERY_TOO_DEEP when a path of fields is longer than ``max_depth`` (a top-level field is 1).
    Introspection's fixed shape is left to the introspection switch."""

    class QueryDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = _fragments(self.context.document)
            deepest = _deepest(node.selection_set, fragments, (), frozenset())
            if len(deepest) > max_depth:
                self.report_error(
                    limit_error(
                        f"The query is {len(deepest)} levels deep at '{'.'.join(deepest)}'; "
                        f"the limit (PMFLOW_MAX_DEPTH) is {max_depth}.",
                        "QUERY_TOO_DEEP",
                        node,
                    )
                )

    return QueryDepth


def _deepest(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    path: tuple[str, ...],
    seen: frozenset[str],
) -> tuple[str, ...]:
    deepest = path
    for selection in selection_set.selections if selection_set else ():
        found = path
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION:
                continue
            key = (selection.alias or selection.name).value
            found = _deepest(selection.selection_set, fragments, (*path, key), seen)
        elif isinstance(selection, InlineFragmentNode):
            found = _deepest(selection.selection_set, fragments, path, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found = _deepest(fragment.selection_set, fragments, path, seen | {selection.name.value})
        if len(found) > len(deepest):
            deepest = found
    return deepest


def aliases_rule(max_aliases: int) -> type[ValidationRule]:
    """TOO_MANY_ALIASES when the operations of a document use more than ``max_aliases`` aliases."""

    class AliasCount(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = _fragments(context.document)
            for operation in context.document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                count = count_fields_with_alias(operation, fragments)
                if count > max_aliases:
                    name = f"'{operation.name.value}'" if operation.name else "The anonymous operation"
                    context.report_error(
                        limit_error(
                            f"{name} uses {count} aliases; the limit (PMFLOW_MAX_ALIASES) is {max_aliases}.",
                            "TOO_MANY_ALIASES",
                            operation,
                        )
                    )

    return AliasCount


class NoIntrospection(ValidationRule):
    """INTROSPECTION_DISABLED for ``__schema`` and ``__type`` (``__typename`` stays allowed)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in _INTROSPECTION:
            self.report_error(
                limit_error(
                    f"Introspection is disabled on this server ('{node.name.value}'); "
                    "set PMFLOW_INTROSPECTION=1 to enable it.",
                    "INTROSPECTION_DISABLED",
                    node,
                )
            )


def _fragments(document: ast.DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


# ---- the node limit: needs the variables, so it runs after validation -----------------------------


def count_nodes(
    schema: GraphQLSchema,
    document: ast.DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """GitHub's node count of the chosen operation: each connection adds its page size (``first``
    or ``last``) times the page sizes of the connections around it. Raises a GraphQLError with
    CONNECTION_NEEDS_LIMIT for a connection without ``first``/``last``."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1:
        return 0  # graphql-core reports the missing or ambiguous operation
    operation = chosen[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    defaults = {
        d.variable.name.value: d.default_value.value
        for d in operation.variable_definitions or ()
        if isinstance(d.default_value, IntValueNode)
    }
    counter = _NodeCounter(schema, _fragments(document), {**defaults, **(variables or {})})
    return counter.count(operation.selection_set, root, 1, ())


@dataclass
class _NodeCounter:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]

    def count(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        multiplier: int,
        path: tuple[str, ...],
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, multiplier, path)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                fragment_type = self._type(parent, condition.name.value if condition else None)
                total += self.count(selection.selection_set, fragment_type, multiplier, path)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:  # validation refused cycles and unknown fragments
                    fragment_type = self._type(parent, fragment.type_condition.name.value)
                    total += self.count(fragment.selection_set, fragment_type, multiplier, path)
        return total

    def _field(self, node: FieldNode, parent: Any, multiplier: int, path: tuple[str, ...]) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        definition: GraphQLField | None = parent.fields.get(name)
        if definition is None:
            return 0
        here = (*path, (node.alias or node.name).value)
        returned = get_named_type(definition.type)
        if not _is_connection(returned):
            return self.count(node.selection_set, returned, multiplier, here)
        size = self._page_size(node, here)
        nodes = multiplier * size
        return nodes + self.count(node.selection_set, returned, nodes, here)

    def _page_size(self, node: FieldNode, path: tuple[str, ...]) -> int:
        where = ".".join(path)
        sizes = []
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = self._value(argument.value)
            if value is None:
                continue
            # out of range: the field itself answers INVALID_INPUT naming the argument
            sizes.append(min(max(value, 0), MAX_PAGE))
        if not sizes:
            raise limit_error(
                f"The connection '{where}' needs 'first' or 'last' (at most {MAX_PAGE}).",
                "CONNECTION_NEEDS_LIMIT",
                node,
            )
        return max(sizes)

    def _value(self, value: ast.ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            # bool is an int; a string or float is left to graphql-core's variable coercion
            if isinstance(given, int) and not isinstance(given, bool):
                return given
            if isinstance(given, str) and given.strip().lstrip("-").isdigit():
                return int(given)
            return None
        return None  # null, or a literal graphql-core refuses

    def _type(self, parent: Any, name: str | None) -> Any:
        return parent if name is None else self.schema.get_type(name) or parent


def _is_connection(named: Any) -> bool:
    return isinstance(named, GraphQLObjectType) and "edges" in named.fields and "pageInfo" in named.fields


# ---- the schema extension -------------------------------------------------------------------------


class RequestLimits(SchemaExtension):
    """Document size and tokens before parsing, depth/aliases/introspection while validating, the
    node limit before executing; and no "Did you mean" in any error (the schema stays private
    when introspection is off)."""

    def __init__(self, limits: Limits, rules: tuple[type[ValidationRule], ...]) -> None:
        self.limits = limits
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        size = len((context.query or "").encode())
        if size > self.limits.max_document_bytes:
            raise limit_error(
                f"The query text is {size} bytes; the limit (PMFLOW_MAX_DOCUMENT_BYTES) is "
                f"{self.limits.max_document_bytes}.",
                "DOCUMENT_TOO_LARGE",
            )
        context.parse_options["max_tokens"] = self.limits.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        try:
            yield
        except GraphQLError as error:  # raised by ParserCache's parse, outside strawberry's own catch
            if _TOO_MANY_TOKENS.search(error.message):
                raise limit_error(
                    f"The query has more than {self.limits.max_tokens} tokens; the limit "
                    f"(PMFLOW_MAX_TOKENS) is {self.limits.max_tokens}.",
                    "TOO_MANY_TOKENS",
                ) from None
            raise
        result = context.result
        for refusal in [*(context.pre_execution_errors or ()), *(getattr(result, "errors", None) or ())]:
            refusal.message = _SUGGESTION.sub("", refusal.message)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        if document is not None:
            nodes = count_nodes(schema, document, context.operation_name, context.variables)
            if nodes > self.limits.max_nodes:
                raise limit_error(
                    f"The query may return {nodes} nodes; the limit (PMFLOW_MAX_NODES) is "
                    f"{self.limits.max_nodes}. Ask for smaller pages (first/last).",
                    "QUERY_TOO_COSTLY",
                )
        yield


def limit_extensions(limits: Limits) -> list[Callable[[], SchemaExtension]]:
    """The schema extensions enforcing ``limits``, as factories (a fresh instance a request).
    The rule classes are built once, so ValidationCache keeps hitting."""
    rules: tuple[type[ValidationRule], ...] = (depth_rule(limits.max_depth), aliases_rule(limits.max_aliases))
    if not limits.introspection:
        rules += (NoIntrospection,)
    return [lambda: RequestLimits(limits, rules)]


# ---- the request body ------------------------------------------------------------------------------


def error_body(message: str, code: str) -> bytes:
    import json

    return json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()


async def send_error(
    scope: Scope, send: Send, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> None:
    """A GraphQL error response (``{"errors": [...]}``) in the media type the client accepts."""
    accept = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept"), None)
    body = error_body(message, code)
    raw_headers = [
        (b"content-type", ((negotiate(accept) or JSON) + CHARSET).encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 BODY_TOO_LARGE for a request body over ``max_bytes``, before anything parses it: by
    ``Content-Length`` when sent, else by counting while buffering the body."""

    def __init__(self, app: ASGIApp, max_bytes: int, path: str = "/graphql") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, int(declared))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        await send_error(
            scope,
            send,
            413,
            f"The request body is {size} bytes or more; "
            f"the limit (PMFLOW_MAX_BODY_BYTES) is {self.max_bytes}.",
            "BODY_TOO_LARGE",
        )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed
