"""Guards on health for workflow files: ``{health_at_least: 60}`` and ``no_open_critical_risks``.

Both work on any subject that belongs to a project and compute live through the transition's
connection. The plugins' signals and the weights come from the app bound to that database
(``monitor.bind`` at startup); a bare engine without one (a unit test) uses the built-in signals with
the default weights.
"""

from __future__ import annotations

from typing import Any

from pmflow.core.types import Condition, TransitionContext
from pmflow.domain.guards import project_id_of
from pmflow.domain.vocabulary import CRITICAL_RISK_SCORE, CUSTOMER_ROLE
from pmflow.plugins.health.monitor import monitor_for
from pmflow.plugins.health.score import HealthConfig, compute
from pmflow.plugins.health.signals import open_risks

SCORE_ARGUMENT = {"type": "integer", "minimum": 0, "maximum": 100}


def _project(context: TransitionContext) -> int | None:
    return project_id_of(context.connection, context.subject)


def health_at_least(context: TransitionContext, minimum: Any) -> str | None:
    project_id = _project(context)
    if project_id is None:
        return f"a {context.subject.kind} belongs to no project, so it has no project health to check"
    monitor = monitor_for(context.connection)
    if monitor is not None:
        report = monitor.compute(context.connection, project_id, context.now)
    else:
        report = compute(context.connection, project_id, context.now, config=HealthConfig())
    if report.score >= int(minimum):
        return None
    if CUSTOMER_ROLE in context.roles:
        # the score and what took points off are the team's (Project.health is internal): the customer
        # learns only why the step waits
        return f"the project's health is below {int(minimum)}: the team has risks to deal with first"
    return f"project health is {report.score}, below {int(minimum)} ({report.explain()})"


def no_open_critical_risks(context: TransitionContext, _argument: Any) -> str | None:
    project_id = _project(context)
    if project_id is None:
        return None  # no project, no project risks
    critical = open_risks(context.connection, project_id, CRITICAL_RISK_SCORE)
    if not critical:
        return None
    shown = ", ".join(f"'{r.title}' (score {r.score})" for r in critical[:3])
    more = f" and {len(critical) - 3} more" if len(critical) > 3 else ""
    word = "risk is" if len(critical) == 1 else "risks are"
    return f"{len(critical)} critical {word} still open: {shown}{more}; mitigate or close first"


CONDITIONS = [
    Condition(
        "health_at_least",
        health_at_least,
        "the project's health score is at least the given number (0-100)",
        argument=SCORE_ARGUMENT,
        negated="blocked while the project's health is at or above the given score",
    ),
    Condition(
        "no_open_critical_risks",
        no_open_critical_risks,
        f"no open risk of the project scores {CRITICAL_RISK_SCORE} or more",
        negated="blocked while the project has no open critical risk",
    ),
]
