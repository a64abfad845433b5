"""Valid workflow files load into the definitions the engine runs: nested states, inherited
triggers, ``*``, versions side by side, fields, payloads and parameterised conditions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pmflow.core.definitions import Ref, WorkflowDefinition
from pmflow.core.errors import InvalidInput
from pmflow.core.fields import check_fields
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry, check_files
from pmflow.core.schema import StateModel, TimeoutModel, TransitionModel, WorkflowModel

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"

Write = Callable[..., Path]

SUPPORT = textwrap.dedent(
    """\
    workflow: support-ticket
    version: 1
    subject: ticket
    description: A customer's request for help.
    initial: intake
    roles: [agent, customer, lead]
    fields:
      summary: {type: string, minLength: 1, required: true, label: What went wrong}
      priority: {type: string, enum: [low, normal, high]}
      follow_up_on: {type: string, format: date}
    states:
      - name: intake
      - name: work
        label: Being worked on
        initial: triage
        on_enter: [{emit: ticket.work_started}]
        states:
          - name: triage
          - name: fixing
            initial: diagnose
            states:
              - name: diagnose
              - name: patch
            timeout: {after: P2D, trigger: escalate}
          - name: waiting_for_customer
      - name: resolved
        final: true
      - name: withdrawn
        final: true
    transitions:
      - trigger: accept
        source: intake
        dest: work
        roles: [agent]
        conditions:
          - fields_set: [summary, priority]
      - trigger: start_fix
        source: work.triage
        dest: work.fixing
      - trigger: found_cause
        source: work.fixing.diagnose
        dest: work.fixing.patch
      - trigger: ask_customer
        source: work
        dest: work.waiting_for_customer
        payload:
          type: object
          required: [question]
          properties:
            question: {type: string, minLength: 1}
        actions: [{copy_payload: {question: summary}}]
      - trigger: answer
        label: Customer answered
        source: work.waiting_for_customer
        dest: work.triage
        roles: customer
      - trigger: escalate
        source: work.fixing
        internal: true
        actions: [{emit: ticket.escalated}]
      - trigger: resolve
        source: [work.fixing.patch, work.triage]
        dest: resolved
        unless: [comment_given]
      - trigger: withdraw
        source: "*"
        dest: withdrawn
        conditions: [comment_given]
    """
)


@pytest.fixture
def support(write_workflow: Write, catalog: Catalog) -> WorkflowDefinition:
    registry = WorkflowRegistry.load([write_workflow(SUPPORT)], catalog)
    definition = registry.get("support-ticket")
    assert definition is not None
    return definition


def test_nested_states_have_full_paths_parents_and_children(support: WorkflowDefinition) -> None:
    assert list(support.states) == [
        "intake",
        "work",
        "work.triage",
        "work.fixing",
        "work.fixing.diagnose",
        "work.fixing.patch",
        "work.waiting_for_customer",
        "resolved",
        "withdrawn",
    ]
    fixing = support.states["work.fixing"]
    assert (fixing.name, fixing.parent, fixing.compound) == ("fixing", "work", True)
    assert fixing.children == ("work.fixing.diagnose", "work.fixing.patch")
    assert support.leaves == [
        "intake",
        "work.triage",
        "work.fixing.diagnose",
        "work.fixing.patch",
        "work.waiting_for_customer",
        "resolved",
        "withdrawn",
    ]
    assert support.ancestors("work.fixing.patch") == ["work.fixing.patch", "work.fixing", "work"]


def test_entering_a_compound_state_descends_to_its_initial_leaf(support: WorkflowDefinition) -> None:
    assert support.states["work"].initial == "work.triage"  # declared with `initial:`
    assert support.states["work.fixing"].initial == "work.fixing.diagnose"  # declared
    assert support.resolve_initial("work") == "work.triage"
    assert support.resolve_initial("work.fixing") == "work.fixing.diagnose"
    assert support.resolve_initial("intake") == "intake"
    assert support.initial == "intake" and support.initial_leaf == "intake"


def test_initial_child_defaults_to_the_first(write_workflow: Write, catalog: Catalog) -> None:
    text = textwrap.dedent(
        """\
        workflow: review
        version: 1
        subject: document
        initial: reviewing
        states:
          - name: reviewing
            states:
              - name: reading
              - name: commenting
          - name: done
            final: true
        transitions:
          - {trigger: comment, source: reviewing.reading, dest: reviewing.commenting}
          - {trigger: finish, source: reviewing, dest: done}
        """
    )
    (definition,) = WorkflowRegistry.load([write_workflow(text)], catalog)
    assert definition.states["reviewing"].initial == "reviewing.reading"
    assert definition.initial == "reviewing"
    assert definition.initial_leaf == "reviewing.reading"


def test_triggers_declared_on_a_parent_apply_to_its_children(support: WorkflowDefinition) -> None:
    for leaf in ("work.triage", "work.fixing.diagnose", "work.fixing.patch", "work.waiting_for_customer"):
        assert "ask_customer" in support.transitions_from(leaf)
    assert "ask_customer" not in support.transitions_from("intake")
    # declared on work.fixing: both of its children, nothing else
    assert {leaf for leaf in support.leaves if "escalate" in support.transitions_from(leaf)} == {
        "work.fixing.diagnose",
        "work.fixing.patch",
    }
    assert support.transition_for("work.fixing.patch", "escalate") is support.transition_for(
        "work.fixing.diagnose", "escalate"
    )


def test_what_can_be_fired_from_a_leaf(support: WorkflowDefinition) -> None:
    assert set(support.transitions_from("work.fixing.patch")) == {
        "ask_customer",
        "escalate",
        "resolve",
        "withdraw",
    }
    assert set(support.transitions_from("intake")) == {"accept", "withdraw"}
    assert support.transitions_from("resolved") == {}
    assert support.transition_for("intake", "resolve") is None


def test_star_covers_every_non_final_leaf(support: WorkflowDefinition) -> None:
    withdraw = support.transition_for("intake", "withdraw")
    assert withdraw is not None
    assert withdraw.sources == ("*",)
    assert withdraw.leaf_sources == {p for p in support.leaves if not support.is_final(p)}
    assert "withdrawn" not in withdraw.leaf_sources and "resolved" not in withdraw.leaf_sources


def test_transitions_keep_what_the_file_says(support: WorkflowDefinition) -> None:
    by_trigger = {t.trigger: t for t in support.transitions}
    assert list(by_trigger) == [
        "accept",
        "start_fix",
        "found_cause",
        "ask_customer",
        "answer",
        "escalate",
        "resolve",
        "withdraw",
    ]
    resolve = by_trigger["resolve"]
    assert resolve.sources == ("work.fixing.patch", "work.triage")
    assert resolve.dest == "resolved"
    assert resolve.unless == (Ref("comment_given"),)
    assert resolve.roles == frozenset()
    assert by_trigger["escalate"].dest is None  # internal: the state does not change
    assert by_trigger["answer"].roles == {"customer"}  # a single role may be written without a list
    assert by_trigger["answer"].line == SUPPORT.splitlines().index("  - trigger: answer") + 1


def test_parameterised_conditions_and_actions_keep_their_argument(support: WorkflowDefinition) -> None:
    accept = support.transition_for("intake", "accept")
    assert accept is not None
    assert accept.conditions == (Ref("fields_set", ["summary", "priority"]),)
    assert accept.roles == {"agent"}
    ask = support.transition_for("work.triage", "ask_customer")
    assert ask is not None and ask.actions == (Ref("copy_payload", {"question": "summary"}),)
    assert str(accept.conditions[0]) == "fields_set: ['summary', 'priority']"
    withdraw = support.transition_for("intake", "withdraw")
    assert withdraw is not None and withdraw.conditions == (Ref("comment_given", None),)
    assert str(withdraw.conditions[0]) == "comment_given"
    assert support.states["work"].on_enter == (Ref("emit", "ticket.work_started"),)


def test_payload_schema_is_kept(support: WorkflowDefinition) -> None:
    ask = support.transition_for("work.triage", "ask_customer")
    assert ask is not None
    assert ask.payload_schema == {
        "type": "object",
        "required": ["question"],
        "properties": {"question": {"type": "string", "minLength": 1}},
    }
    accept = support.transition_for("intake", "accept")
    assert accept is not None and accept.payload_schema is None


def test_fields_with_required_and_label(support: WorkflowDefinition) -> None:
    summary = support.fields["summary"]
    assert (summary.required, summary.label) == (True, "What went wrong")
    # pmflow's own keys are taken out: what is left is a plain JSON Schema
    assert summary.schema == {"type": "string", "minLength": 1}
    priority = support.fields["priority"]
    assert (priority.required, priority.label) == (False, "Priority")
    assert priority.schema == {"type": "string", "enum": ["low", "normal", "high"]}
    assert support.fields["follow_up_on"].label == "Follow up on"


def test_labels_default_from_names(support: WorkflowDefinition) -> None:
    assert support.label == "Support ticket"
    assert support.description == "A customer's request for help."
    assert support.states["work.waiting_for_customer"].label == "Waiting for customer"
    assert support.states["work"].label == "Being worked on"  # given in the file
    by_trigger = {t.trigger: t for t in support.transitions}
    assert by_trigger["ask_customer"].label == "Ask customer"
    assert by_trigger["answer"].label == "Customer answered"


def test_timeouts_and_roles(support: WorkflowDefinition) -> None:
    timeout = support.states["work.fixing"].timeout
    assert timeout is not None
    assert (timeout.after, timeout.after_text, timeout.trigger) == (timedelta(days=2), "P2D", "escalate")
    assert support.states["work.triage"].timeout is None
    assert support.roles == frozenset({"agent", "customer", "lead"})


def test_roles_are_open_when_not_declared(write_workflow: Write, catalog: Catalog) -> None:
    text = SUPPORT.replace("roles: [agent, customer, lead]\n", "")
    (definition,) = WorkflowRegistry.load([write_workflow(text)], catalog)
    assert definition.roles is None


def v(number: int, *, subject: str = "ticket", name: str = "support-ticket") -> str:
    return (
        SUPPORT.replace("version: 1", f"version: {number}")
        .replace("subject: ticket", f"subject: {subject}")
        .replace("workflow: support-ticket", f"workflow: {name}")
    )


def test_several_versions_side_by_side(write_workflow: Write, catalog: Catalog) -> None:
    write_workflow(v(1), "support-v1.yaml")
    newer = v(2).replace("  - name: resolved\n", "  - name: resolved\n    label: Done\n")
    write_workflow(newer, "support-v2.yaml")
    folder = write_workflow(v(3, name="other"), "other.yml").parent
    registry = WorkflowRegistry.load([folder], catalog)
    assert len(registry) == 3
    assert registry.names() == ["other", "support-ticket"]
    latest = registry.get("support-ticket")
    assert latest is not None and latest.version == 2
    assert latest.states["resolved"].label == "Done"
    old = registry.get("support-ticket", 1)
    assert old is not None and old.version == 1 and old.states["resolved"].label == "Resolved"
    assert registry.get("support-ticket", 3) is None
    assert registry.get("nothing") is None
    assert [d.key for d in registry] == [("other", 3), ("support-ticket", 1), ("support-ticket", 2)]
    assert old.source_file.endswith("support-v1.yaml")


def test_for_subject_gives_the_latest_version_of_each_workflow(
    write_workflow: Write, catalog: Catalog
) -> None:
    write_workflow(v(1), "a.yaml")
    write_workflow(v(2), "b.yaml")
    write_workflow(v(1, name="vip-ticket"), "c.yaml")
    folder = write_workflow(v(1, name="invoice", subject="invoice"), "d.yaml").parent
    registry = WorkflowRegistry.load([folder], catalog)
    assert [(d.name, d.version) for d in registry.for_subject("ticket")] == [
        ("support-ticket", 2),
        ("vip-ticket", 1),
    ]
    assert [d.name for d in registry.for_subject("invoice")] == ["invoice"]
    assert registry.for_subject("project") == []


def test_files_and_directories_mix(write_workflow: Write, catalog: Catalog, tmp_path: Path) -> None:
    elsewhere = tmp_path / "extra.yaml"
    elsewhere.write_text(v(1, name="extra"), encoding="utf-8")
    folder = write_workflow(v(1), "support.yml").parent
    (folder / "notes.txt").write_text("not a workflow", encoding="utf-8")
    registry = WorkflowRegistry.load([folder, elsewhere], catalog)
    assert registry.names() == ["extra", "support-ticket"]


def test_shipped_workflows_load_without_problems(catalog: Catalog) -> None:
    definitions, problems = check_files([WORKFLOWS], catalog)
    assert problems == []
    assert "customer-project" in {d.name for d in definitions}
    assert len(definitions) == len(list(WORKFLOWS.glob("*.yaml")))


def test_shipped_customer_project(registry: WorkflowRegistry) -> None:
    project = registry.get("customer-project")
    assert project is not None
    assert project.subject == "project" and project.initial_leaf == "initiation"
    assert project.resolve_initial("requirements") == "requirements.research"
    confirmation = project.states["requirements.confirmation"].timeout
    assert confirmation is not None and confirmation.after == timedelta(days=3)
    assert "remind_customer" in project.transitions_from("requirements.confirmation")
    cancel = project.transition_for("execution", "cancel")
    assert cancel is not None and cancel.sources == ("*",)
    assert project.transitions_from("closed") == {}
    assert project in registry.for_subject("project")


def test_the_reference_documents_every_key_and_built_in() -> None:
    """docs/workflows.md is what organisations read: a new key or built-in needs a line there."""
    docs = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    for model in (WorkflowModel, StateModel, TransitionModel):
        for key in model.model_fields:
            assert f"| `{key}` |" in docs, f"{model.__name__}.{key} is not in a table of docs/workflows.md"
    for key in TimeoutModel.model_fields:
        assert f"{key}:" in docs
    builtins = Catalog.from_plugins(make_plugin_manager())
    for name in [*builtins.conditions, *builtins.actions]:
        assert f"| `{name}` |" in docs, f"built-in '{name}' is not documented in docs/workflows.md"


def _docs_block(after_heading: str, language: str) -> str:
    docs = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    section = docs.split(after_heading, 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_complete_example_in_the_reference_is_valid(write_workflow: Write, catalog: Catalog) -> None:
    text = _docs_block("## A complete example", "yaml")
    (definition,) = WorkflowRegistry.load([write_workflow(text)], catalog)
    assert definition.name == "support-ticket"
    assert definition.resolve_initial("work") == "work.triage"


def test_settings_are_kept_for_the_code_behind_a_lifecycle(registry: WorkflowRegistry) -> None:
    iteration = registry.get("iteration")
    assert iteration is not None
    assert iteration.settings == {"iteration_days": {"min": 5, "max": 14}}
    assert registry.get("risk") is not None and registry.get("risk").settings == {}  # type: ignore[union-attr]


def test_a_transition_declared_on_a_parent_never_leaves_its_final_child(
    write_workflow: Write, catalog: Catalog
) -> None:
    text = textwrap.dedent(
        """
        workflow: nested-final
        version: 1
        subject: thing
        initial: work
        states:
          - name: work
            states:
              - name: doing
              - name: finished
                final: true
          - name: dropped
            final: true
        transitions:
          - trigger: finish
            source: work.doing
            dest: work.finished
          - trigger: drop
            source: work
            dest: dropped
        """
    )
    definition = WorkflowRegistry.load([write_workflow(text)], catalog).get("nested-final")
    assert definition is not None
    assert "drop" in definition.transitions_from("work.doing")
    assert definition.transitions_from("work.finished") == {}


def test_yaml_merge_keys_share_parts_of_transitions(write_workflow: Write, catalog: Catalog) -> None:
    text = textwrap.dedent(
        """\
        workflow: merged
        version: 1
        subject: thing
        initial: draft
        settings:
          review: &review {dest: review, roles: [author], actions: [{emit: review_requested}]}
        states:
          - name: draft
          - name: rework
          - name: review
          - name: done
            final: true
        transitions:
          - {<<: *review, trigger: submit, source: draft}
          - {<<: *review, trigger: resubmit, source: rework}
          - {trigger: reject, source: review, dest: rework}
          - {trigger: accept, source: review, dest: done}
        """
    )
    definition = WorkflowRegistry.load([write_workflow(text)], catalog).get("merged")
    assert definition is not None
    resubmit = definition.transition_for("rework", "resubmit")
    assert resubmit is not None
    assert (resubmit.dest, resubmit.roles, resubmit.actions) == (
        "review",
        {"author"},
        (Ref("emit", "review_requested"),),
    )


def test_field_formats_are_enforced_on_every_write(support: WorkflowDefinition) -> None:
    check_fields(support, {"follow_up_on": "2024-02-29"}, complete=False)
    with pytest.raises(InvalidInput) as raised:
        check_fields(support, {"follow_up_on": "next tuesday"}, complete=False)
    assert str(raised.value) == "field 'follow_up_on': 'next tuesday' is not a 'date'"
