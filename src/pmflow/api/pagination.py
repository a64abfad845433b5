"""Relay connections: ``edges``, ``pageInfo``, ``totalCount``, ``first/after/last/before`` (max 100)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry

from pmflow.core.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="All items matching, across every page.")

    @strawberry.field(description="The nodes of this page, without the edges around them.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def cursor_of(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def offset_of(cursor: str, field: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidInput(f"'{cursor}' is not a cursor from this list", field=field)


@dataclass(frozen=True)
class Window:
    """Which slice ``[start, end)`` of ``total`` items a page covers."""

    start: int
    end: int
    total: int
    has_previous: bool
    has_next: bool


def window(
    total: int,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    default: int = DEFAULT_PAGE,
) -> Window:
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise InvalidInput(f"'{name}' must be between 0 and {MAX_PAGE}, got {value}", field=name)
    start = offset_of(after, "after") + 1 if after is not None else 0
    end = offset_of(before, "before") if before is not None else total
    start, end = max(0, min(start, total)), max(0, min(end, total))
    end = max(start, end)
    if first is None and last is None:
        first = default
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    return Window(start, end, total, has_previous=start > 0, has_next=end < total)


def connection(
    items: Sequence[R], page: Window, convert: Callable[[R], T], *, offset: int = 0
) -> Connection[T]:
    """Build a connection from ``items`` holding the rows ``[offset, offset + len(items))``."""
    edges = [
        Edge(cursor=cursor_of(page.start + i), node=convert(item))
        for i, item in enumerate(items[page.start - offset : page.end - offset])
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )
