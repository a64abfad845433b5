"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/) on strawberry's ASGI view.

strawberry 0.341 answers every response as ``application/json`` and every GraphQL request error
with 200. ``GraphQLOverHTTP`` closes the gaps the npm ``graphql-http`` audit suite checks
(``tests/http_audit``), overriding only a few hooks of ``strawberry.asgi.GraphQL``:

- ``Accept`` is negotiated: ``application/graphql-response+json`` when the client prefers it,
  ``application/json`` for ``*/*``, ``application/*`` or no ``Accept`` (the legacy default), 406
  when neither is acceptable.  GraphiQL still answers browsers' GETs without a query.
- Request errors (the document does not parse or validate, variables do not coerce, the operation
  cannot be chosen) carry no ``data`` entry, as the GraphQL spec asks; under
  ``application/graphql-response+json`` they answer 400, under ``application/json`` 200.  Field
  errors (execution started) always answer 200.
- A mutation sent with GET answers 405 with ``Allow: POST``; a subscription sent over HTTP is a
  request error (subscriptions are served over WebSocket); a POST body that is not
  ``application/json`` answers 415; a JSON body that is not an object, or an ``operationName``
  that is not a string, answers 400.
- Refusals (4xx before execution) are GraphQL responses too: ``{"errors": [{"message": ...}]}`` in
  the negotiated media type, never a plain-text body.

WebSocket requests go to strawberry untouched. Batching is not enabled on the schema; a request
error in a batch would mark the whole response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.typevars import Context, RootValue
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
CHARSET = "; charset=utf-8"
_UTF8 = ("utf-8", "utf8")
_REQUEST_ERROR = "graphql_request_error"  # request.state flag, set by process_result


class HTTPError(HTTPException):
    """An ``HTTPException`` with response headers (``Allow`` on 405, ...)."""

    def __init__(self, status_code: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, reason)
        self.headers = dict(headers or {})


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None when we serve none acceptable.

    Quality values count; on a tie the more specific range wins, then the one listed first, then
    ``application/json`` (so ``*/*`` gets ``application/json``).  A range with a charset other
    than utf-8 does not match.
    """
    if accept is None or not accept.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        acceptable = True
        for param in params:
            name, _, value = param.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"').lower()
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    acceptable = False
            elif name == "charset" and value not in _UTF8:
                acceptable = False
        if acceptable:
            ranges.append((media_range.lower(), quality))

    best: tuple[tuple[float, int, int, int], str] | None = None
    for candidate in (GRAPHQL_RESPONSE_JSON, JSON):
        kind = candidate.split("/", 1)[0]
        match: tuple[int, float, int] | None = None  # (specificity, quality, position)
        for position, (media_range, quality) in enumerate(ranges):
            specificity = {candidate: 2, f"{kind}/*": 1, "*/*": 0}.get(media_range)
            if specificity is not None and (match is None or specificity > match[0]):
                match = (specificity, quality, position)
        if match is None or match[1] <= 0:
            continue
        specificity, quality, position = match
        key = (quality, specificity, -position, int(candidate == JSON))
        if best is None or key > best[0]:
            best = (key, candidate)
    return None if best is None else best[1]


def is_request_error(result: ExecutionResult) -> bool:
    """Whether execution never started: no data and no error located at a field."""
    if isinstance(result, PreExecutionError):
        return True
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors or ())


class GraphQLOverHTTP(GraphQL[Context, RootValue]):
    """strawberry's ASGI GraphQL view, answering as the GraphQL-over-HTTP spec asks."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        media_type: str | None = JSON
        if not self.should_render_graphql_ide(self.request_adapter_class(request)):
            media_type = negotiate(request.headers.get("accept"))
        try:
            if media_type is None:
                raise HTTPError(
                    406,
                    f"cannot answer in the accepted media types; accept {GRAPHQL_RESPONSE_JSON} or {JSON}",
                    {"Accept": f"{GRAPHQL_RESPONSE_JSON}{CHARSET}, {JSON}{CHARSET}"},
                )
            response = await self.run(request)
        except HTTPException as error:
            return self.error_response(error, media_type or JSON)
        if response.media_type == JSON:  # a GraphQL response (not GraphiQL, not a stream)
            assert media_type is not None
            response.headers["content-type"] = media_type + CHARSET
            request_error = getattr(request.state, _REQUEST_ERROR, False)
            if request_error and media_type == GRAPHQL_RESPONSE_JSON and response.status_code == 200:
                response.status_code = 400
        return response

    def error_response(self, error: HTTPException, media_type: str) -> Response:
        headers = dict(getattr(error, "headers", {}))
        if error.status_code == 405:
            headers.setdefault("Allow", "GET, POST")
        return Response(
            self.encode_json({"errors": [{"message": error.reason}]}),
            status_code=error.status_code,
            headers=headers,
            media_type=media_type + CHARSET,
        )

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):  # a list is a batch, which strawberry checks
            raise HTTPError(400, "The request's JSON must be an object.")
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            content_type, params = parse_content_type(request.content_type or "")
            content_type = content_type.lower()
            multipart = self.multipart_uploads_enabled and content_type == "multipart/form-data"
            charset = params.get("charset", "utf-8").lower()
            if not multipart and (content_type != JSON or charset not in _UTF8):
                raise HTTPError(
                    415, f"Unsupported Media Type: send the request as {JSON} (utf-8).", {"Accept-Post": JSON}
                )
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                raise HTTPError(
                    400, "The GraphQL operation's `operationName` must be a string or null, if provided."
                )
        return data

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: RootValue | None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # strawberry's own, except for what a refused operation answers; subscriptions are served
        # over WebSocket only (executed as a query they would only fail inside the resolver).
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed -= {OperationType.QUERY}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except MissingQueryError as error:
            raise HTTPError(400, "No GraphQL query found in the request") from error
        except CannotGetOperationTypeError as error:  # a request error, answered as GraphQL errors
            return PreExecutionError(data=None, errors=[GraphQLError(error.as_http_error_reason())])
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                message = "Subscriptions are served over WebSocket (graphql-transport-ws) at this URL."
                return PreExecutionError(data=None, errors=[GraphQLError(message)])
            raise HTTPError(
                405,
                f"{error.as_http_error_reason(request_adapter.method)}; send them with POST",
                {"Allow": "POST"},
            ) from error

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if is_request_error(result):
            response.pop("data", None)
            setattr(request.state, _REQUEST_ERROR, True)
        return response
