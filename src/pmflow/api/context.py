"""What every resolver sees: the application, the signed-in viewer, per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from pmflow.api.errors import Unauthenticated
from pmflow.api.loaders import Loaders
from pmflow.app import App
from pmflow.core.types import Actor
from pmflow.domain.people import actor_for
from pmflow.domain.services import Domain
from pmflow.domain.vocabulary import ADMIN_ROLE, CUSTOMER_ROLE


@dataclass
class Context:
    app: App
    domain: Domain
    loaders: Loaders
    user: Any | None = None  # the `users` row of the signed-in person
    request: Request | WebSocket | None = None
    response: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init payload

    @property
    def actor(self) -> Actor:
        """The signed-in person as the engine sees them; refuses anonymous requests."""
        if self.user is None:
            raise Unauthenticated()
        return actor_for(self.user)

    @property
    def audience(self) -> tuple[str, int | None]:
        """Everything the answer to a read may depend on besides its arguments: the viewer's role
        and customer. Viewers with the same audience share one execution of a subscription event
        (``pmflow.api.fanout``), so no resolver may decide on anything finer."""
        if self.user is None:
            return ("anonymous", None)
        return (str(self.user.role), self.customer_id)

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role == ADMIN_ROLE

    @property
    def customer_id(self) -> int | None:
        """The customer a customer user is bound to (None for the team)."""
        if self.user is not None and self.user.role == CUSTOMER_ROLE:
            return int(self.user.customer_id)
        return None


Info = StrawberryInfo[Context, None]
