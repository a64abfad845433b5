"""An example pmflow plugin: one module with ``@hookimpl`` functions, found through its entry point.

- condition ``budget_approved``: holds when the subject's custom field ``budget_approved`` is true;
- action ``tag_subject``: sets the subject's custom field ``tag`` to the text written in the workflow;
- GraphQL field ``Query.exampleGreeting(name)`` for any signed-in user (access rule ``signed_in``);
- setting ``greeting``: ``[plugins.example]`` in the ``PMFLOW_CONFIG`` file, or
  ``PMFLOW_PLUGIN_EXAMPLE_GREETING``.
"""

from __future__ import annotations

from typing import Any

import strawberry

from pmflow import Action, Condition, TransitionContext, hookimpl
from pmflow.core.hookspecs import GraphQLExtension, PluginSettings

NAME = "example"
DEFAULT_GREETING = "Hello"


def _budget_approved(context: TransitionContext, _argument: object) -> str | None:
    # A reason, not False: pmflow shows it to whoever pressed the button.
    return None if context.field("budget_approved") is True else "the budget has not been approved yet"


def _tag_subject(context: TransitionContext, argument: Any) -> None:
    context.set_field("tag", argument)


@hookimpl
def pmflow_conditions() -> list[Condition]:
    return [Condition("budget_approved", _budget_approved, "the subject's budget_approved field is true")]


@hookimpl
def pmflow_actions() -> list[Action]:
    return [
        Action(
            "tag_subject",
            _tag_subject,
            "set the custom field `tag` to the given text",
            argument={"type": "string", "minLength": 1},
        )
    ]


@strawberry.type
class ExampleQuery:
    @strawberry.field(description="A greeting from the example plugin (its `greeting` setting).")
    def example_greeting(self, info: strawberry.Info, name: str) -> str:
        settings = info.context.app.plugin_settings.get(NAME, {})
        return f"{settings.get('greeting', DEFAULT_GREETING)}, {name}!"


@hookimpl
def pmflow_graphql_types() -> list[GraphQLExtension]:
    return [GraphQLExtension(ExampleQuery, rules={"exampleGreeting": "signed_in"})]


@hookimpl
def pmflow_plugin_settings() -> PluginSettings:
    return PluginSettings(
        NAME,
        {
            "properties": {"greeting": {"type": "string", "minLength": 1, "default": DEFAULT_GREETING}},
            "additionalProperties": False,
        },
    )
