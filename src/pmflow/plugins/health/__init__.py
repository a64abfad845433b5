"""Project health (issue 7; docs/health.md): a 0-100 score from the risk signals of every plugin, its
history and early warning, and guards on it for workflow files.

- ``pmflow_risk_signals``: the six built-in signals (``signals``), each always returned.
- ``pmflow_startup``: binds a ``monitor.HealthMonitor`` to the app; its outbox consumer ``health``
  takes the ``event`` row the engine writes for every history event (and the ``health.check`` rows
  of ``queue_check``), recomputes the project's health after commit, records the history and raises
  the early warning. Nothing is added to the event's transaction.
- ``pmflow_conditions``: ``health_at_least`` and ``no_open_critical_risks`` (``guards``).
- ``pmflow_plugin_settings``: ``health`` (weights, warning_threshold, warn_customer).
- ``pmflow_cli_commands``: ``pmflow health check`` recomputes and records for cron (time-based
  signals change without events).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pluggy
from sqlalchemy import Connection, insert

from pmflow.core.hookspecs import PluginSettings, RiskSignal, hookimpl
from pmflow.core.outbox import pending_row
from pmflow.core.tables import outbox
from pmflow.core.types import Condition, Subject
from pmflow.plugins.health import signals
from pmflow.plugins.health.guards import CONDITIONS
from pmflow.plugins.health.monitor import CHECK_TOPIC, HealthMonitor, bind, monitor_for
from pmflow.plugins.health.score import DEFAULT_THRESHOLD, HealthConfig, computing_at

__all__ = ["CHECK_TOPIC", "MONITOR_PLUGIN", "SETTINGS", "SETTINGS_NAME", "queue_check"]

MONITOR_PLUGIN = "pmflow.plugins.health.monitor"
SETTINGS_NAME = "health"
SETTINGS: dict[str, Any] = {
    "properties": {
        "weights": {
            "type": "object",
            "description": "Points each signal code can take off at most (its weight), e.g. "
            '{"blocked_work": 30}; codes not named keep their defaults (plugins\' codes: 10).',
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            "default": {},
        },
        "warning_threshold": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "default": DEFAULT_THRESHOLD,
            "description": "A score falling below this raises the early warning.",
        },
        "warn_customer": {
            "type": "boolean",
            "default": False,
            "description": "Whether the project's customer representatives hear the early warning too.",
        },
    },
    "additionalProperties": False,
}


def queue_check(
    connection: Connection, project_id: int, now: datetime, reason: str, *, event_id: str | None = None
) -> None:
    """Ask, inside the caller's transaction, for the project's health to be recomputed after commit
    (something the score reads changed: a history event, a survey answer, a work item)."""
    payload = {"project_id": project_id, "reason": reason}
    row = pending_row(event_id or str(uuid.uuid4()), CHECK_TOPIC, project_id, payload, now)
    connection.execute(insert(outbox).values(row))


def _now(connection: Connection) -> datetime:
    """The instant to compute at: the one ``compute`` set, else the bound app's clock, else now."""
    now = computing_at.get()
    if now is not None:
        return now
    monitor = monitor_for(connection)
    return monitor.clock() if monitor is not None else datetime.now(UTC)


@hookimpl
def pmflow_risk_signals(project: Subject, connection: Connection) -> Iterable[RiskSignal]:
    return signals.built_in_signals(connection, project.id, _now(connection))


@hookimpl
def pmflow_conditions() -> list[Condition]:
    return list(CONDITIONS)


@hookimpl
def pmflow_plugin_settings() -> PluginSettings:
    return PluginSettings(SETTINGS_NAME, SETTINGS)


@hookimpl
def pmflow_startup(app: Any) -> None:
    plugins: pluggy.PluginManager = app.plugins
    config = HealthConfig.from_settings(app.plugin_settings.get(SETTINGS_NAME))
    monitor = HealthMonitor(app.database, plugins, config, app.engine.clock, app.registry)
    # a plugin manager may outlive an app (the API rebuilds the app on each start): bind the newest
    previous = plugins.get_plugin(MONITOR_PLUGIN)
    if previous is not None:
        plugins.unregister(previous)
    plugins.register(monitor, name=MONITOR_PLUGIN)
    bind(monitor)


@hookimpl
def pmflow_cli_commands() -> list[Any]:
    from pmflow.plugins.health.command import health

    return [health]
