"""The `project` field every thing inside a project has."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from pmflow.api.context import Info
from pmflow.domain import tables as t

if TYPE_CHECKING:
    from pmflow.api.projects.types import Project

ProjectRef = Annotated["Project", strawberry.lazy("pmflow.api.projects.types")]


@strawberry.type
class InProject:
    _project_pk: strawberry.Private[int]

    @strawberry.field(description="The project this belongs to.")
    async def project(self, info: Info) -> ProjectRef:
        from pmflow.api.projects.types import Project

        row = await info.context.loaders.by_id(t.projects).load(self._project_pk)
        return Project.from_row(row, info)
