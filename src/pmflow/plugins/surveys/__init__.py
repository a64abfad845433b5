"""Customer surveys (issue 7): CSAT, NPS and custom questionnaires sent on workflow events.

Templates are YAML (``templates.py``; built-ins ``csat`` and ``nps`` beside it, an organisation's in
``templates_dir``), loaded and checked at startup. Triggers (``pmflow_survey_triggers``) name the event
types that send a survey; ``sending.py`` sends them and their reminders through the outbox,
``answering.py`` takes the answers, ``metrics.py`` computes response rate, CSAT and NPS. The GraphQL
side is ``pmflow.api.surveys``; the guide is docs/surveys.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import pluggy

from pmflow.core.hookspecs import PluginSettings, SurveyTrigger, hookimpl
from pmflow.core.plugins import survey_triggers
from pmflow.plugins.surveys.sending import SurveySender
from pmflow.plugins.surveys.settings import NAME, SurveySettings, declaration
from pmflow.plugins.surveys.templates import BUILT_IN, TemplateError, load_templates

SENDER_PLUGIN = "pmflow.plugins.surveys.sender"

# After each iteration review: how the increment and the review felt (CSAT). At acceptance: satisfaction
# with the delivery against what was agreed (CSAT, a transactional moment). In maintenance, every 30
# days (the workflow's `satisfaction_check` timeout): the relationship, whether they would recommend us.
BUILT_IN_TRIGGERS = (
    SurveyTrigger(
        "after_iteration_review", "iteration.complete_review", "csat", "CSAT after each iteration review"
    ),
    SurveyTrigger(
        "after_acceptance", "project.accept_delivery", "csat", "CSAT when the delivery is accepted"
    ),
    SurveyTrigger(
        "maintenance_checkin", "project.satisfaction_check", "nps", "NPS every 30 days in maintenance"
    ),
)


class SurveyTriggerError(Exception):
    """A survey trigger names a template that no file declares."""


@hookimpl
def pmflow_survey_triggers() -> tuple[SurveyTrigger, ...]:
    return BUILT_IN_TRIGGERS


@hookimpl
def pmflow_plugin_settings() -> PluginSettings:
    return declaration()


def settings_of(app: Any) -> SurveySettings:
    return SurveySettings.from_mapping(getattr(app, "plugin_settings", {}).get(NAME))


@hookimpl
def pmflow_startup(app: Any) -> None:
    """Load and check the templates (a broken one stops the start), check every trigger names one, and
    bind the sender (the triggers' fan-out and the ``surveys`` consumer) to this app's database."""
    settings = settings_of(app)
    templates = load_templates(settings.template_dirs(BUILT_IN))
    plugins: pluggy.PluginManager = app.plugins
    triggers = survey_triggers(plugins)
    missing = [f"'{t.name}' asks for '{t.survey}'" for t in triggers.values() if t.survey not in templates]
    if missing:
        raise SurveyTriggerError(
            f"survey triggers name templates that do not exist: {'; '.join(missing)} "
            f"(templates: {', '.join(sorted(templates))})"
        )
    previous = plugins.get_plugin(SENDER_PLUGIN)
    if previous is not None:  # a plugin manager may outlive an app: bind the newest
        plugins.unregister(previous)
    sender = SurveySender(app.database, templates, triggers, settings, app.engine.clock)
    plugins.register(sender, name=SENDER_PLUGIN)


@click.group("surveys", help="Customer survey templates.")
def surveys_command() -> None:
    pass


@surveys_command.command("validate")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def validate_command(directory: Path | None) -> None:
    """Check the survey templates of DIRECTORY (default ./surveys) with the built-ins; every problem."""
    folder = directory if directory is not None else Path("surveys")
    # without an argument, a missing ./surveys is no mistake (the server runs on the built-ins then)
    folders = [BUILT_IN, folder] if directory is not None or folder.is_dir() else [BUILT_IN]
    try:
        templates = load_templates(folders)
    except TemplateError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    for name, template in sorted(templates.items()):
        origin = "built-in" if Path(template.file).parent == BUILT_IN else template.file
        click.echo(f"{name:<20} {template.kind:<7} {len(template.questions)} questions  {origin}")


@hookimpl
def pmflow_cli_commands() -> list[click.Command]:
    return [surveys_command]
