"""Hook specifications: the whole contract between pmflow and its plugins.

Every hook is called with keyword arguments only; an implementation may accept any subset of
the arguments named here. Each hook is documented, with an example, in ``docs/plugins.md``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

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


# ---- the values the hooks below return ------------------------------------------------------------
# Plain data here (the core imports neither click nor strawberry): the upper layers check and use them.


@dataclass(frozen=True)
class GraphQLExtension:
    """Fields a plugin adds to the root ``Query`` or ``Mutation`` type, each with its access rule.

    ``type`` is a ``@strawberry.type`` class whose fields are merged into ``root``; ``rules`` maps each
    of its GraphQL field names (camelCase) to a rule of ``pmflow.api.access.RULE_MEANING`` (``public``,
    ``signed_in``, ``team``, ``manager``, ``admin``, ``project_party``). A field without a rule, an
    unknown rule or a name the schema already has stops the schema build, naming the plugin.
    """

    type: builtins.type
    rules: Mapping[str, str]
    root: Literal["Query", "Mutation"] = "Query"
    # Further strawberry types the schema must know, such as the implementers of an interface.
    types: tuple[builtins.type, ...] = ()


@dataclass(frozen=True)
class PluginSettings:
    """The settings a plugin takes: a JSON Schema of an object (its ``properties`` are the keys)."""

    name: str  # [plugins.<name>] in the PMFLOW_CONFIG file, PMFLOW_PLUGIN_<NAME>_<KEY> in the environment
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RiskSignal:
    """Something that suggests a project is at risk, for the risk dashboard (issue 7)."""

    code: str  # stable, e.g. "overdue_deliverable"
    message: str  # for people: "2 deliverables are past their due date"
    severity: Literal["info", "warning", "critical"] = "warning"
    subject_id: int | None = None  # the subject it is about, when not the project itself
    # For the health score (pmflow.plugins.health): ``value`` is what was measured (3 open high risks,
    # 0.42 of items blocked); ``penalty`` how bad that is, 0 (fine) to 1 (worst). Without a penalty the
    # severity stands for it: info 0, warning 0.5, critical 1.
    value: float | None = None
    penalty: float | None = None


@dataclass(frozen=True)
class SurveyTrigger:
    """When to ask the customer for feedback: on an event type ``<kind>.<trigger>`` (``*`` for all)."""

    name: str
    event: str  # e.g. "project.close", "deliverable.accept"
    survey: str = "csat"  # which questionnaire: "csat", "nps", ...
    description: str = ""


@hookspec
def pmflow_graphql_types() -> Iterable[GraphQLExtension]:
    """Return fields to add to the GraphQL ``Query``/``Mutation`` types, each with its access rule.

    Merged into the schema the API serves (``build_schema(plugins=...)``); ``schema.graphql`` is the
    schema without external plugins.
    """
    raise NotImplementedError


@hookspec
def pmflow_cli_commands() -> Iterable[Any]:
    """Return ``click.Command`` objects to add to ``pmflow`` (a built-in command's name wins).

    Loaded only when a command line needs them; a plugin failing here is reported and skipped.
    """
    raise NotImplementedError


@hookspec
def pmflow_startup(app: Any) -> None:
    """Called once for every application built (``pmflow.app.build``: CLI commands, ``pmflow serve``),
    after its plugins' settings are validated and its database migrated. ``app`` is a ``pmflow.app.App``.

    Raising stops the start with an error naming the plugin.
    """


@hookspec
def pmflow_plugin_settings() -> PluginSettings | None:
    """Declare this plugin's settings; their values are validated at startup and found in
    ``app.plugin_settings[name]``."""


@hookspec
def pmflow_risk_signals(project: Subject, connection: Connection) -> Iterable[RiskSignal] | None:
    """Return the risk signals this plugin sees for ``project`` (read only, through ``connection``)."""


@hookspec
def pmflow_survey_triggers() -> Iterable[SurveyTrigger]:
    """Return the events on which this plugin wants a customer survey sent (merged; a name twice is an
    error)."""
    raise NotImplementedError
