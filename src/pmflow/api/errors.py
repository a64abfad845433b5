"""Errors: expected failures are data (``errors: [Error!]!`` in payloads); the rest is masked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from pmflow.core.errors import PmflowError

log = logging.getLogger("pmflow.api")

T = TypeVar("T")


@strawberry.enum(description="Why a request was refused. Stable: frontends switch on it.")
class ErrorCode(Enum):
    NOT_FOUND = "NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    GUARD_FAILED = "GUARD_FAILED"
    CONFLICT = "CONFLICT"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    PLUGIN_ERROR = "PLUGIN_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    # answering a survey (answerSurvey): the link's token is unknown or replaced, past its date, used
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    ALREADY_ANSWERED = "ALREADY_ANSWERED"


@strawberry.type(description="An expected failure: what went wrong, where, in words for people.")
class Error:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(description="The input field at fault, dotted (`payload.reason`).")
    reasons: list[str] = strawberry.field(
        default_factory=list, description="Every reason a guard blocked (GUARD_FAILED)."
    )

    @classmethod
    def of(cls, error: PmflowError, renames: Mapping[str, str] | None = None) -> Error:
        field = error.field
        if field is not None and renames:
            head, dot, rest = field.partition(".")
            field = renames.get(head, head) + dot + rest
        return cls(
            code=ErrorCode(str(error.code)),
            message=error.message,
            field=camel(field),
            reasons=list(getattr(error, "reasons", [])),
        )


def camel(field: str | None) -> str | None:
    """``payload.due_date`` -> ``payload.dueDate``: a service's field as the GraphQL input names it."""
    if field is None:
        return None
    parts = []
    for part in field.split("."):
        head, *rest = part.split("_")
        parts.append(head + "".join(w.capitalize() for w in rest))
    return ".".join(parts)


class Unauthenticated(PmflowError):
    """No valid token: every field but ``__typename`` needs one."""

    code = "UNAUTHENTICATED"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("sign in: send 'Authorization: Bearer <token>'")


# Where a service's field name differs from the GraphQL input's (the first path segment).
INPUT_NAMES = {"fields": "custom_fields", "manager_user_id": "manager_id"}


async def attempt(
    action: Callable[[], Awaitable[T]], renames: Mapping[str, str] = INPUT_NAMES
) -> tuple[T | None, list[Error]]:
    """Run a mutation's work; expected failures become typed errors in the payload, their field
    named as in the GraphQL input."""
    try:
        return await action(), []
    except PmflowError as error:
        return None, [Error.of(error, renames)]


class ErrorPolicy(SchemaExtension):
    """Expected failures keep their message and get ``extensions.code``; anything else becomes
    "Unexpected error (ref …)" with the reference and the traceback in the log. No stack traces
    reach clients."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self._process(error) for error in errors]  # type: ignore[union-attr]

    @staticmethod
    def _process(error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:  # syntax, validation, variables: already a message for the client
            return error
        if isinstance(original, PmflowError):
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=original,
                extensions=_extensions(original),
            )
        if isinstance(original, GraphQLError) and original.original_error is None:
            return error  # raised on purpose by a resolver, e.g. a limit
        reference = uuid.uuid4().hex[:12]
        log.error("unexpected error %s at %s", reference, error.path, exc_info=original)
        return GraphQLError(
            f"Unexpected error (ref {reference}); it has been logged.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "reference": reference},
        )


def _extensions(error: PmflowError) -> dict[str, Any]:
    """``extensions`` of an expected failure: its code, the input field, every guard's reason."""
    extensions: dict[str, Any] = {"code": str(error.code)}
    if error.field:
        extensions["field"] = camel(error.field)
    if getattr(error, "reasons", None):
        extensions["reasons"] = list(error.reasons)  # type: ignore[attr-defined]
    return extensions


def graphql_error(error: PmflowError) -> GraphQLError:
    """An expected failure raised where ErrorPolicy does not reach (subscriptions), with its code."""
    return GraphQLError(error.message, original_error=error, extensions=_extensions(error))
