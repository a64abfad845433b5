"""Hook specifications: the whole contract between pmflow and its plugins.

Every hook is called with keyword arguments only; an implementation may accept any subset of
the arguments named here. Each hook is documented, with an example, in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pmflow.core.outbox import OutboxConsumer, OutboxDelivery
    from pmflow.core.types import Action, Actor, Condition, HistoryEvent, Subject, TransitionContext

PROJECT_NAME = "pmflow"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def pmflow_conditions() -> Iterable[Condition]:
    """Return the named conditions (guards) this plugin provides.

    Results of all plugins are merged; two plugins providing the same name is a startup error.
    Workflow files are validated against the merged names.
    """
    raise NotImplementedError


@hookspec
def pmflow_actions() -> Iterable[Action]:
    """Return the named actions this plugin provides (merged like ``pmflow_conditions``)."""
    raise NotImplementedError


@hookspec
def pmflow_subject_roles(subject: Subject, actor: Actor, connection: Connection) -> Iterable[str] | None:
    """Return roles ``actor`` holds on ``subject`` beyond their global roles (or ``None``).

    All results are united. This is how a project membership ("manager of this project") or a
    customer contact ("customer of this project") reaches the ``roles:`` check of a transition.
    """


@hookspec
def pmflow_before_transition(context: TransitionContext) -> str | None:
    """Veto a transition: return a reason to block it, ``None`` to let it pass.

    Called after the workflow's conditions, also for ``available_transitions`` (with
    ``context.dry_run`` true), so it must not have side effects. Every veto is reported.
    Raising aborts the transition with a ``PLUGIN_ERROR``.
    """


@hookspec
def pmflow_after_transition(context: TransitionContext, event: HistoryEvent) -> None:
    """Called inside the transaction, after the new state and history event are written.

    Write related rows through ``context.connection`` or queue after-commit work with
    ``context.emit``. Raising rolls the whole transition back.
    """


@hookspec
def pmflow_event_recorded(event: HistoryEvent, subject: Subject, connection: Connection) -> None:
    """Called for every history event (creation included) right after it is written, inside the
    transaction. For cheap, transactional side effects such as ``pg_notify``: what you send is
    delivered only if the transaction commits. Raising rolls the transaction back.
    """


@hookspec
def pmflow_outbox_consumers() -> Iterable[OutboxConsumer]:
    """Return the named consumers of outbox messages this plugin provides (merged; a name twice is
    a startup error of the worker).

    The worker delivers every committed outbox row to each consumer whose ``topics`` include its
    topic, at least once, outside any transaction; ``deliver`` raising records the error against
    that one delivery and retries it with backoff, until it is dead-lettered.
    """
    raise NotImplementedError


@hookspec
def pmflow_after_commit(delivery: OutboxDelivery) -> None:
    """Called by the outbox worker for every committed outbox message (every topic: check
    ``delivery.topic``), after the transaction that wrote it has committed.

    Each implementation is its own consumer: raising records the error against its delivery and
    retries only it, with backoff; the transition stands. Deliveries are at least once: use
    ``delivery.delivery_id`` (or ``event_id``) to ignore a repeat.
    """
