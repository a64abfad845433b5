"""Every kind of mistake in a workflow file is reported with its file, line, column, a message
saying what is wrong and, where one exists, a suggestion; and every mistake is reported at once."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from pmflow.core.hookspecs import hookimpl
from pmflow.core.loader import Locator
from pmflow.core.plugins import DEFAULT_PLUGINS, Catalog, CatalogError, make_plugin_manager
from pmflow.core.problems import Problem, WorkflowValidationError
from pmflow.core.registry import WorkflowRegistry, check_files
from pmflow.core.types import Action, ArgumentScope, Condition

Write = Callable[..., Path]


def at(text: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of ``needle`` in ``text``; a '^' in the needle marks the column."""
    plain = needle.replace("^", "")
    assert text.count(plain) == 1, f"{plain!r} must occur exactly once in the test file"
    offset = text.index(plain) + max(needle.find("^"), 0)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def where(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.column


@pytest.fixture
def check(write_workflow: Write, catalog: Catalog) -> Callable[..., list[Problem]]:
    """Write ``text`` and return every problem found in it; a broken file yields no definition."""

    def run(text: str, name: str = "flow.yaml") -> list[Problem]:
        path = write_workflow(text, name)
        definitions, problems = check_files([path], catalog)
        assert definitions == []
        assert problems, "expected the file to be rejected"
        assert {p.file for p in problems} == {str(path)}
        return problems

    return run


@pytest.fixture
def one(check: Callable[..., list[Problem]]) -> Callable[..., Problem]:
    """The single problem of a file with one mistake (no follow-on noise)."""

    def run(text: str) -> Problem:
        problems = check(text)
        assert len(problems) == 1, "\n".join(map(str, problems))
        return problems[0]

    return run


def flow(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


HEAD = """\
workflow: w
version: 1
subject: thing
initial: a
"""


# ---- YAML itself ------------------------------------------------------------------------------


def test_invalid_yaml_points_at_the_offending_character(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
            label: Start: here
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "Start^: here")
    assert problem.message.startswith("invalid YAML: mapping values are not allowed here")
    assert problem.suggestion == "put a text that contains ': ' in quotes"


def test_unclosed_quote_names_where_the_text_started(one: Callable[..., Problem]) -> None:
    text = "workflow: w\nversion: 1\nsubject: 'thing\ninitial: a\n"
    problem = one(text)
    assert problem.message.startswith("invalid YAML:")
    assert "while scanning a quoted scalar that starts on line 3" in problem.message


def test_tab_indentation_gets_a_hint(one: Callable[..., Problem]) -> None:
    text = HEAD + "states:\n  - name: a\n\tfinal: true\n"
    problem = one(text)
    assert where(problem) == (7, 1)
    assert "cannot start any token" in problem.message
    assert problem.suggestion == "indent with spaces, not tabs"


def test_duplicate_key_is_reported_at_the_second_occurrence(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - trigger: go
            source: a
            dest: b
            dest: a
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "dest: a")
    assert (
        problem.message == f"duplicate key 'dest' in the mapping that starts on line {at(text, 'trigger')[0]}"
    )
    assert problem.suggestion and "only once" in problem.suggestion


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- workflow: w\n- version: 1\n", "found a list"),
        ("just some text\n", "found 'just some text'"),
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
    ],
)
def test_file_must_be_a_mapping(one: Callable[..., Problem], text: str, found: str) -> None:
    problem = one(text)
    assert where(problem) == (1, 1)
    assert problem.message.startswith("a workflow file must be a mapping with the keys workflow, version")
    assert problem.message.endswith(found)


# ---- structure: keys and types ----------------------------------------------------------------


def test_unknown_key_suggests_the_key_meant(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - trigger: go
            source: a
            dset: b
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "dset")
    assert problem.message == "unknown key 'dset' in transitions[0]"
    assert problem.suggestion == "did you mean 'dest'?"


def test_unknown_keys_at_every_level(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: 1
        subject: thing
        intial: a
        states:
          - name: a
            lable: Start
            timeout: {afer: P3D, trigger: go}
        """
    )
    by_message = {p.message: p for p in check(text)}
    top = by_message["unknown key 'intial' in the workflow"]
    assert where(top) == at(text, "intial")
    assert top.suggestion == "did you mean 'initial'?"
    state = by_message["unknown key 'lable' in states[0]"]
    assert where(state) == at(text, "lable")
    assert state.suggestion == "did you mean 'label'?"
    timeout = by_message["unknown key 'afer' in states[0].timeout"]
    assert where(timeout) == at(text, "afer")
    assert timeout.suggestion == "did you mean 'after'?"
    # the key that was meant is then missing, and said so
    assert "missing required key 'initial' in the workflow" in by_message
    assert "missing required key 'after' in states[0].timeout" in by_message


def test_unknown_key_without_a_close_match_has_no_suggestion(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - trigger: go
            source: a
            dest: b
            colour: red
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "colour")
    assert problem.message == "unknown key 'colour' in transitions[0]"
    assert problem.suggestion is None


def test_missing_required_keys(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: 1
        initial: a
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - source: a
            dest: b
        """
    )
    problems = check(text)
    assert [(where(p), p.message) for p in problems] == [
        ((1, 1), "missing required key 'subject' in the workflow"),
        (at(text, "source: a"), "missing required key 'trigger' in transitions[0]"),
    ]


def test_missing_states_and_empty_states(check: Callable[..., list[Problem]]) -> None:
    (missing,) = check(HEAD)
    assert missing.message == "missing required key 'states' in the workflow"
    text = HEAD + "states: []\n"
    (empty,) = check(text)
    assert where(empty) == at(text, "[]")
    assert empty.message == "states: must not be empty"


def test_wrong_types_say_what_was_expected_and_what_was_found(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: "1"
        subject: thing
        initial: a
        states:
          - name: a
            final: yes
          - b
          - name: 3
        transitions:
          - trigger: go
            source: a
            dest: b
            actions: emit
            internal: 1
        """
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (at(text, '"1"'), "version: expected a whole number, got '1'", None),
        (
            at(text, "yes"),
            "states[0].final: expected true or false, got 'yes'",
            "YAML 1.2 reads yes/no/on/off as text: write true or false",
        ),
        (at(text, "- ^b"), "states[1]: expected a mapping (key: value), got 'b'", "write '- name: b'"),
        (at(text, "name: ^3"), "states[2].name: expected text, got 3", None),
        (at(text, "actions: ^emit"), "transitions[0].actions: expected a list, got 'emit'", "write [emit]"),
        (at(text, "internal: ^1"), "transitions[0].internal: expected true or false, got 1", None),
    ]


def test_version_must_be_at_least_one(one: Callable[..., Problem]) -> None:
    text = HEAD.replace("version: 1", "version: 0") + "states: [{name: a, final: true}]\n"
    problem = one(text)
    assert where(problem) == at(text, "0")
    assert problem.message == "version: should be greater than or equal to 1"


def test_bare_timeout_and_bare_field_get_a_template(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        fields:
          goal: string
          notes: [text]
        states:
          - name: a
            timeout: P3D
        """
    )
    problems = check(text)
    assert [(where(p), p.suggestion) for p in problems] == [
        (at(text, "goal: ^string"), "write 'goal: {type: string}'"),
        (at(text, "notes: ^[text]"), None),
        (at(text, "timeout: ^P3D"), "write 'timeout: {after: P3D, trigger: <trigger>}'"),
    ]
    assert problems[1].message == "fields.notes: expected a mapping (key: value), got a list"
    assert problems[2].message == "states[0].timeout: expected a mapping (key: value), got 'P3D'"


def test_condition_mapping_with_two_keys(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - trigger: go
            source: a
            dest: b
            conditions: [{comment_given: null, fields_set: [goal]}]
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "[^{comment_given")
    assert "expected a name, or a mapping with exactly one key: {name: argument}" in problem.message


# ---- states -------------------------------------------------------------------------------------

NESTED = """\
workflow: w
version: 1
subject: thing
initial: {initial}
states:
  - name: initiation
  - name: requirements
    initial: {child}
    states:
      - name: research
      - name: confirmation
  - name: closed
    final: true
transitions:
  - trigger: start
    source: initiation
    dest: requirements
  - trigger: ask
    source: {source}
    dest: requirements.confirmation
  - trigger: confirm
    source: requirements.confirmation
    dest: {dest}
"""


def nested(
    initial: str = "initiation",
    child: str = "research",
    source: str = "requirements.research",
    dest: str = "closed",
) -> str:
    return NESTED.format(initial=initial, child=child, source=source, dest=dest)


def test_the_nested_template_is_valid(write_workflow: Write, catalog: Catalog) -> None:
    definitions, problems = check_files([write_workflow(nested())], catalog)
    assert problems == [] and len(definitions) == 1


def test_short_name_of_a_nested_state_suggests_its_full_path(one: Callable[..., Problem]) -> None:
    text = nested(dest="confirmation")
    problem = one(text)
    assert where(problem) == at(text, "dest: ^confirmation")
    assert problem.message == "unknown destination state 'confirmation'"
    assert problem.suggestion == "did you mean 'requirements.confirmation'?"


def test_unknown_source_state(one: Callable[..., Problem]) -> None:
    text = nested(source="requirements.reserch")
    problem = one(text)
    assert where(problem) == at(text, "source: ^requirements.reserch")
    assert problem.message == "unknown source state 'requirements.reserch'"
    assert problem.suggestion == "did you mean 'requirements.research'?"


def test_unknown_source_in_a_list_points_at_the_item(one: Callable[..., Problem]) -> None:
    text = nested(source="[requirements.research, initation]")
    problem = one(text)
    assert where(problem) == at(text, "initation")
    assert problem.message == "unknown source state 'initation'"
    assert problem.suggestion == "did you mean 'initiation'?"


def test_unknown_initial_state(one: Callable[..., Problem]) -> None:
    text = nested(initial="start")
    problem = one(text)
    assert where(problem) == at(text, "initial: ^start")
    assert problem.message == "unknown initial state 'start'"
    assert problem.suggestion is None


def test_unknown_initial_state_with_suggestion(one: Callable[..., Problem]) -> None:
    text = nested(initial="initiaton")
    problem = one(text)
    assert problem.message == "unknown initial state 'initiaton'"
    assert problem.suggestion == "did you mean 'initiation'?"


def test_unknown_initial_child_of_a_compound_state(one: Callable[..., Problem]) -> None:
    text = nested(child="reserch")
    problem = one(text)
    assert where(problem) == at(text, "initial: ^reserch")
    assert problem.message == "unknown initial state 'reserch' of 'requirements'"
    assert problem.suggestion == "did you mean 'research'?"


def test_unknown_initial_child_lists_the_children(one: Callable[..., Problem]) -> None:
    problem = one(nested(child="kickoff"))
    assert problem.message == "unknown initial state 'kickoff' of 'requirements'"
    assert problem.suggestion == "choose one of: research, confirmation"


def test_initial_on_a_state_without_children(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
            initial: x
          - name: b
            final: true
        transitions:
          - {trigger: go, source: a, dest: b}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "initial: ^x")
    assert problem.message == "'initial' only applies to a state with nested states; 'a' has none"


def test_compound_state_cannot_be_final(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: done
            final: true
            states:
              - name: x
        transitions:
          - {trigger: go, source: a, dest: done}
        """
    )
    problems = check(text)
    assert (
        problems[0].message == "state 'done' has nested states and cannot be final; mark a nested state final"
    )
    assert where(problems[0]) == at(text, "final: ^true")


def test_unreachable_state(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: forgotten
          - name: b
            final: true
        transitions:
          - {trigger: go, source: a, dest: b}
          - {trigger: finish, source: forgotten, dest: b}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "name: ^forgotten")
    assert problem.message == "state 'forgotten' is unreachable from the initial state 'a'"
    assert problem.suggestion == "add a transition with dest: forgotten"


def test_unreachable_compound_state_is_reported_once(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: review
            states:
              - name: draft
              - name: final_check
          - name: b
            final: true
        transitions:
          - {trigger: go, source: a, dest: b}
          - {trigger: check, source: review.draft, dest: review.final_check}
          - {trigger: finish, source: review, dest: b}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "name: ^review")
    assert problem.message == "state 'review' is unreachable from the initial state 'a'"


def test_nested_state_reached_only_through_a_non_initial_sibling(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: review
            states:
              - name: draft
              - name: orphan
          - name: b
            final: true
        transitions:
          - {trigger: go, source: a, dest: review}
          - {trigger: finish, source: review, dest: b}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "name: ^orphan")
    assert problem.message == "state 'review.orphan' is unreachable from the initial state 'a'"


def test_state_with_no_path_to_a_final_state(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: stuck
          - name: ping
          - name: pong
          - name: done
            final: true
        transitions:
          - {trigger: go, source: a, dest: done}
          - {trigger: jam, source: a, dest: stuck}
          - {trigger: play, source: a, dest: ping}
          - {trigger: hit, source: ping, dest: pong}
          - {trigger: hit, source: pong, dest: ping}
        """
    )
    problems = check(text)
    assert [(where(p), p.message) for p in problems] == [
        (at(text, "name: ^stuck"), "state 'stuck' has no path to a final state"),
        (at(text, "name: ^ping"), "state 'ping' has no path to a final state"),
        (at(text, "name: ^pong"), "state 'pong' has no path to a final state"),
    ]
    assert problems[0].suggestion == "add a transition out of it that leads towards a final state"


def test_no_final_state_at_all(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
        transitions:
          - {trigger: go, source: a, dest: b}
          - {trigger: back, source: b, dest: a}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "states")
    assert problem.message == "no final state: mark at least one state 'final: true'"


def test_no_final_state_is_reported_beside_other_mistakes(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
        transitions:
          - {trigger: go, source: a, dest: c}
        """
    )
    messages = [p.message for p in check(text)]
    assert messages == [
        "no final state: mark at least one state 'final: true'",
        "unknown destination state 'c'",
    ]


def test_invalid_state_name_with_the_separator(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b.c
            final: true
          - name: d
            final: true
        transitions:
          - {trigger: go, source: a, dest: d}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "b.c")
    assert problem.message == "invalid state name 'b.c': '.' separates nested states"


def test_invalid_state_name_characters(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: on hold
            final: true
          - name: d
            final: true
        transitions:
          - {trigger: go, source: a, dest: d}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "on hold")
    assert "invalid state name 'on hold'" in problem.message
    assert "letters, digits, '_' or '-'" in problem.message


def test_duplicate_state_names_among_siblings(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: review
            states:
              - name: draft
              - name: done
              - name: draft
                description: again
          - name: done
            final: true
        transitions:
          - {trigger: go, source: a, dest: review}
          - {trigger: next, source: review.draft, dest: review.done}
          - {trigger: finish, source: review.done, dest: done}
        """
    )
    # 'done' under review and at the top are different states; only the second 'draft' is wrong
    problem = one(text)
    first_draft = at(text, "- name: draft\n      - name: done")[0]
    assert where(problem)[0] == first_draft + 2
    assert problem.message == f"duplicate state 'draft' (already declared on line {first_draft})"


# ---- transitions --------------------------------------------------------------------------------

TWO = HEAD + flow(
    """
    states:
      - name: a
      - name: b
        final: true
    transitions:
      - trigger: go
        source: a
        dest: b
    """
)


def plus(transitions: str) -> str:
    """TWO with more transitions."""
    return TWO + textwrap.indent(flow(transitions), "  ")


def test_duplicate_trigger_from_the_same_source(one: Callable[..., Problem]) -> None:
    text = TWO + "  - trigger: go\n    source: a\n    dest: b\n    roles: [manager]\n"
    problem = one(text)
    assert where(problem) == at(text, "- trigger: ^go\n    source: a\n    dest: b\n    roles")
    first_line = at(text, "- trigger: go\n    source: a\n    dest: b\n  -")[0]
    assert problem.message == f"duplicate trigger 'go' from a (already declared on line {first_line})"
    assert problem.suggestion == "merge the two transitions or rename one trigger"


def test_ambiguous_trigger_through_a_parent_state(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: p
            states:
              - name: x
              - name: y
          - name: done
            final: true
        transitions:
          - {trigger: go, source: a, dest: p}
          - {trigger: next, source: p.x, dest: p.y}
          - {trigger: finish, source: p, dest: done}
          - {trigger: finish, source: p.y, dest: done}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "{trigger: ^finish, source: p.y")
    first, second = at(text, "source: p,")[0], at(text, "source: p.y,")[0]
    assert problem.message == (
        "ambiguous trigger 'finish': from state 'p.y' it matches the transitions "
        f"on lines {first} and {second}"
    )
    assert problem.suggestion == "narrow the sources or rename one trigger"


def test_ambiguous_trigger_through_star(one: Callable[..., Problem]) -> None:
    text = TWO + "  - {trigger: stop, source: '*', dest: b}\n  - {trigger: stop, source: a, dest: b}\n"
    problem = one(text)
    assert where(problem) == at(text, "{trigger: ^stop, source: a")
    assert problem.message.startswith("ambiguous trigger 'stop': from state 'a' it matches the transitions")


def test_same_trigger_from_disjoint_sources_is_fine(write_workflow: Write, catalog: Catalog) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
          - name: done
            final: true
        transitions:
          - {trigger: next, source: a, dest: b}
          - {trigger: next, source: b, dest: done}
        """
    )
    definitions, problems = check_files([write_workflow(text)], catalog)
    assert problems == [] and len(definitions) == 1


def test_transition_cannot_leave_a_final_state(one: Callable[..., Problem]) -> None:
    text = TWO + "  - {trigger: reopen, source: [a, b], dest: a}\n"
    problem = one(text)
    assert where(problem) == at(text, "[a, ^b]")
    assert problem.message == (
        "'b' is a final state and cannot be left; remove 'final: true' or this transition"
    )


def test_star_does_not_include_final_states(write_workflow: Write, catalog: Catalog) -> None:
    text = TWO + "  - {trigger: cancel, source: '*', dest: b}\n"
    definitions, problems = check_files([write_workflow(text)], catalog)
    assert problems == []
    assert definitions[0].transitions_from("b") == {}


def test_missing_dest_without_internal(one: Callable[..., Problem]) -> None:
    text = TWO + "  - trigger: nudge\n    source: a\n"
    problem = one(text)
    assert where(problem) == at(text, "- ^trigger: nudge")
    assert problem.message == "transition 'nudge' has no 'dest'"
    assert problem.suggestion == "set 'internal: true' for a transition that stays in its state"


def test_internal_transition_with_a_dest(one: Callable[..., Problem]) -> None:
    text = TWO + "  - trigger: nudge\n    source: a\n    internal: true\n    dest: b\n"
    problem = one(text)
    assert where(problem) == at(text, "internal: true\n    dest: ^b")
    assert problem.message == "an internal transition stays in its state: remove 'dest'"


def test_reserved_trigger_create(one: Callable[..., Problem]) -> None:
    text = TWO + "  - {trigger: create, source: a, dest: b}\n"
    problem = one(text)
    assert where(problem) == at(text, "trigger: ^create")
    assert problem.message == "'create' is reserved: history records a subject's creation under it"


def test_invalid_trigger_name(one: Callable[..., Problem]) -> None:
    text = TWO + "  - {trigger: Go-Now, source: a, dest: b}\n"
    problem = one(text)
    assert where(problem) == at(text, "Go-Now")
    assert problem.message == "invalid trigger name 'Go-Now': use lower-case letters, digits and '_'"


# ---- conditions, actions, roles -----------------------------------------------------------------


def test_unknown_condition_and_action_names(check: Callable[..., list[Problem]], catalog: Catalog) -> None:
    text = plus(
        """
        - trigger: approve
          source: a
          dest: b
          conditions: [coment_given]
          unless: [field_set]
          actions: [emitt, notify_team]
        """
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (at(text, "coment_given"), "unknown condition 'coment_given'", "did you mean 'comment_given'?"),
        (at(text, "field_set"), "unknown condition 'field_set'", "did you mean 'fields_set'?"),
        (at(text, "emitt"), "unknown action 'emitt'", "did you mean 'emit'?"),
        (
            at(text, "notify_team"),
            "unknown action 'notify_team'",
            "available: " + ", ".join(sorted(catalog.actions)),
        ),
    ]


def test_unknown_action_on_enter_and_on_exit(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
            on_exit: [{emitt: left}]
          - name: b
            final: true
            on_enter: [set_field]
        transitions:
          - {trigger: go, source: a, dest: b}
        """
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (at(text, "[^{emitt"), "unknown action 'emitt'", "did you mean 'emit'?"),
        (at(text, "set_field"), "unknown action 'set_field'", "did you mean 'set_fields'?"),
    ]


def test_no_plugin_provides_any_condition(write_workflow: Write) -> None:
    path = write_workflow(TWO.replace("dest: b", "dest: b\n    conditions: [ready]"))
    _, problems = check_files([path], Catalog.empty())
    assert [(p.message, p.suggestion) for p in problems] == [
        ("unknown condition 'ready'", "no plugin provides a condition")
    ]


def test_condition_that_takes_no_argument_given_one(one: Callable[..., Problem]) -> None:
    text = TWO.replace("dest: b", "dest: b\n    conditions: [{comment_given: true}]")
    problem = one(text)
    assert where(problem) == at(text, "[^{comment_given")
    assert problem.message == "condition 'comment_given' takes no argument; write just 'comment_given'"


@pytest.mark.parametrize(
    ("key", "ref", "message"),
    [
        (
            "conditions",
            "fields_set",
            "condition 'fields_set' needs an argument (a list of strings): write '{fields_set: <value>}'",
        ),
        ("unless", "fields_set", "condition 'fields_set' needs an argument (a list of strings)"),
        ("actions", "emit", "action 'emit' needs an argument (a string): write '{emit: <value>}'"),
        ("actions", "set_fields", "action 'set_fields' needs an argument (a mapping)"),
        (
            "actions",
            "copy_payload",
            "action 'copy_payload' needs an argument (a list of strings or a mapping)",
        ),
    ],
)
def test_argument_missing(one: Callable[..., Problem], key: str, ref: str, message: str) -> None:
    text = TWO.replace("dest: b", f"dest: b\n    {key}: [{ref}]")
    problem = one(text)
    assert where(problem) == at(text, f"[^{ref}]")
    assert problem.message.startswith(message)
    assert problem.suggestion and problem.suggestion.startswith(f"{ref}: ")


@pytest.mark.parametrize(
    ("ref", "detail", "expected"),
    [
        ("{fields_set: goal}", "'goal' is not of type 'array'", "a list of strings"),
        ("{fields_set: [1]}", "1 is not of type 'string'", "a list of strings"),
        ("{fields_set: []}", "[] should be non-empty", "a list of strings"),
        ("{emit: 3}", "3 is not of type 'string'", "a string"),
        ("{emit: ''}", "'' should be non-empty", "a string"),
        ("{emit: [a, b]}", "['a', 'b'] is not of type 'string'", "a string"),
    ],
)
def test_bad_argument(one: Callable[..., Problem], ref: str, detail: str, expected: str) -> None:
    key = "conditions" if "fields_set" in ref else "actions"
    text = TWO.replace("dest: b", f"dest: b\n    {key}: [{ref}]")
    problem = one(text)
    name = ref[1:].split(":")[0]
    assert where(problem) == at(text, f"{{{name}: ^{ref.split(': ', 1)[1]}")
    assert (
        problem.message
        == f"bad argument for {key[:-1] if key == 'actions' else 'condition'} '{name}': {detail}"
    )
    assert problem.suggestion == f"expected {expected}"


def test_unknown_role_when_roles_are_declared(check: Callable[..., list[Problem]]) -> None:
    text = TWO.replace("initial: a\n", "initial: a\nroles: [manager, customer]\n").replace(
        "dest: b", "dest: b\n    roles: [customer, manger, auditor]"
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (
            at(text, "manger"),
            "unknown role 'manger': the file declares customer, manager",
            "did you mean 'manager'?",
        ),
        (at(text, "auditor"), "unknown role 'auditor': the file declares customer, manager", None),
    ]


def test_any_role_is_accepted_when_roles_are_not_declared(write_workflow: Write, catalog: Catalog) -> None:
    path = write_workflow(TWO.replace("dest: b", "dest: b\n    roles: [whoever]"))
    definitions, problems = check_files([path], catalog)
    assert problems == []
    assert definitions[0].transitions[0].roles == {"whoever"}


# ---- timeouts -----------------------------------------------------------------------------------


def with_timeout(after: str, trigger: str = "remind") -> str:
    return HEAD + flow(
        f"""
        states:
          - name: a
            timeout: {{after: {after}, trigger: {trigger}}}
          - name: b
            final: true
        transitions:
          - {{trigger: go, source: a, dest: b}}
          - {{trigger: remind, source: a, internal: true}}
        """
    )


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (
            "3 days",
            "bad timeout duration: '3 days' is not an ISO-8601 duration such as 'P3D', 'PT4H' or 'P1DT12H'",
        ),
        (
            "P1M",
            "bad timeout duration: 'P1M' uses years or months, which have no fixed length; "
            "use weeks or days, e.g. 'P30D'",
        ),
        ("P1Y", "bad timeout duration: 'P1Y' uses years or months"),
        ("P0D", "bad timeout duration: 'P0D' is zero; a timeout must be longer than that"),
        ("PT0S", "bad timeout duration: 'PT0S' is zero"),
        ("P", "bad timeout duration: 'P' is not an ISO-8601 duration"),
    ],
)
def test_bad_timeout_duration(one: Callable[..., Problem], after: str, message: str) -> None:
    text = with_timeout(after)
    problem = one(text)
    assert where(problem) == at(text, f"after: ^{after}")
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    ("after", "seconds"),
    [("PT1M", 60), ("P1W", 7 * 86400), ("P1DT12H", 36 * 3600), ("PT90S", 90), ("PT0.5S", 0.5)],
)
def test_good_timeout_durations(write_workflow: Write, catalog: Catalog, after: str, seconds: float) -> None:
    definitions, problems = check_files([write_workflow(with_timeout(after))], catalog)
    assert problems == []
    timeout = definitions[0].states["a"].timeout
    assert timeout is not None and timeout.after.total_seconds() == seconds and timeout.after_text == after


def test_timeout_trigger_must_leave_the_state(one: Callable[..., Problem]) -> None:
    text = with_timeout("P3D", trigger="remnd")
    problem = one(text)
    assert where(problem) == at(text, "trigger: ^remnd")
    assert problem.message == "timeout trigger 'remnd' does not leave state 'a'"
    assert problem.suggestion == "did you mean 'remind'?"


def test_timeout_trigger_declared_elsewhere_only(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
            timeout: {after: P3D, trigger: escalate}
          - name: b
          - name: done
            final: true
        transitions:
          - {trigger: go, source: a, dest: b}
          - {trigger: escalate, source: b, dest: done}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "trigger: ^escalate}")
    assert problem.message == "timeout trigger 'escalate' does not leave state 'a'"
    assert problem.suggestion and "add a transition with this trigger from the state" in problem.suggestion


def test_timeout_on_a_compound_state_needs_the_trigger_from_every_child(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: p
            timeout: {after: P3D, trigger: escalate}
            states:
              - name: x
              - name: y
          - name: done
            final: true
        transitions:
          - {trigger: go, source: a, dest: p}
          - {trigger: next, source: p.x, dest: p.y}
          - {trigger: finish, source: p, dest: done}
          - {trigger: escalate, source: p.x, dest: done}
        """
    )
    problem = one(text)
    assert problem.message == "timeout trigger 'escalate' does not leave state 'p.y'"


def test_final_state_cannot_have_a_timeout(one: Callable[..., Problem]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - name: b
            final: true
            timeout: {after: P3D, trigger: go}
        transitions:
          - {trigger: go, source: a, dest: b}
        """
    )
    problem = one(text)
    assert where(problem) == at(text, "timeout")
    assert problem.message == "final state 'b' cannot have a timeout: nothing leaves a final state"


# ---- fields and payloads ------------------------------------------------------------------------


def with_fields(fields: str) -> str:
    return TWO.replace("states:", f"fields:\n{textwrap.indent(flow(fields), '  ')}states:")


def test_misspelt_json_schema_keyword_in_a_field(one: Callable[..., Problem]) -> None:
    text = with_fields("goal: {tpye: string, label: Goal}\n")
    problem = one(text)
    assert where(problem) == at(text, "tpye")
    assert problem.message == "unknown keyword 'tpye' in schema of field 'goal'"
    assert problem.suggestion == "did you mean 'type'?"


def test_invalid_type_in_a_field(one: Callable[..., Problem]) -> None:
    text = with_fields("size: {type: integr}\n")
    problem = one(text)
    assert where(problem) == at(text, "integr")
    assert problem.message == "bad schema of field 'size': unknown type 'integr' (at 'type')"
    assert problem.suggestion == "did you mean 'integer'?"


def test_invalid_type_without_a_close_match_lists_the_types(one: Callable[..., Problem]) -> None:
    problem = one(with_fields("size: {type: text}\n"))
    assert problem.suggestion == "use one of: array, boolean, integer, null, number, object, string"


def test_other_bad_field_schemas(check: Callable[..., list[Problem]]) -> None:
    text = with_fields(
        """
        size: {type: integer, minimum: low}
        note: {type: string, label: 3}
        "due date": {type: string}
        """
    )
    problems = check(text)
    assert [(where(p), p.message) for p in problems] == [
        (
            at(text, "minimum: ^low"),
            "bad schema of field 'size': 'low' is not of type 'number' (at 'minimum')",
        ),
        (at(text, "label: ^3"), "label of field 'note' must be a string"),
        (at(text, '"due date"'), "invalid field name 'due date'"),
    ]


def test_bad_payload_schema(check: Callable[..., list[Problem]]) -> None:
    text = plus(
        """
        - trigger: hold
          source: a
          dest: b
          payload:
            type: object
            properties:
              reason: {type: strng}
            requird: [reason]
        - trigger: drop
          source: a
          dest: b
          payload: {type: string}
        """
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (
            at(text, "strng"),
            "bad payload schema: unknown type 'strng' (at 'properties/reason/type')",
            "did you mean 'string'?",
        ),
        (at(text, "requird"), "unknown keyword 'requird' in payload schema", "did you mean 'required'?"),
        (at(text, "type: ^string}"), "a payload schema must have type 'object'", None),
    ]


# ---- several files ------------------------------------------------------------------------------


def test_two_files_define_the_same_workflow_version(write_workflow: Write, catalog: Catalog) -> None:
    first = write_workflow(TWO, "a.yaml")
    second = write_workflow(TWO, "b.yaml")
    definitions, problems = check_files([first.parent], catalog)
    assert [d.source_file for d in definitions] == [str(first)]
    (problem,) = problems
    assert (problem.file, where(problem)) == (str(second), at(TWO, "version: ^1"))
    assert problem.message == f"workflow 'w' version 1 is already defined in {first}:2"
    assert problem.suggestion == "give this file the next version number"


def test_versions_of_one_workflow_must_govern_the_same_subject(
    write_workflow: Write, catalog: Catalog
) -> None:
    write_workflow(TWO, "v1.yaml")
    v2 = TWO.replace("version: 1", "version: 2").replace("subject: thing", "subject: other")
    second = write_workflow(v2, "v2.yaml")
    definitions, problems = check_files([second.parent], catalog)
    assert [d.version for d in definitions] == [1]
    (problem,) = problems
    assert (problem.file, where(problem)) == (str(second), at(v2, "subject: ^other"))
    assert problem.message == (
        "workflow 'w' governs 'thing' in version 1; every version must govern the same subject"
    )


def test_every_mistake_in_a_file_is_reported_at_once(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: 1
        subject: thing
        initial: a
        states:
          - name: a
            timeout: {after: 3 days, trigger: go}
          - name: b
            final: true
        transitions:
          - trigger: go
            source: a
            dest: bb
          - trigger: finish
            source: a
            dest: b
            conditions: [coment_given]
            actions: [{emit: 3}]
          - trigger: finish
            label: Finish again
            source: a
            dest: b
        """
    )
    problems = check(text)
    first_finish = at(text, "- trigger: finish\n    source")[0]
    assert [(where(p), p.message) for p in problems] == [
        (
            at(text, "3 days"),
            "bad timeout duration: '3 days' is not an ISO-8601 duration such as 'P3D', 'PT4H' or 'P1DT12H'",
        ),
        (at(text, "bb"), "unknown destination state 'bb'"),
        (at(text, "coment_given"), "unknown condition 'coment_given'"),
        (at(text, "{emit: ^3}"), "bad argument for action 'emit': 3 is not of type 'string'"),
        (
            at(text, "- trigger: ^finish\n    label"),
            f"duplicate trigger 'finish' from a (already declared on line {first_finish})",
        ),
    ]
    # the timeout's trigger 'go' leaves 'a' even though that transition has a mistake of its own


def test_every_structural_mistake_is_reported_at_once(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: one
        subjet: thing
        initial: a
        states:
          - name: a
            final: maybe
        transitions:
          - trigger: go
            sorce: a
        """
    )
    problems = check(text)
    assert [(where(p), p.message) for p in problems] == [
        ((1, 1), "missing required key 'subject' in the workflow"),
        (at(text, "one"), "version: expected a whole number, got 'one'"),
        (at(text, "subjet"), "unknown key 'subjet' in the workflow"),
        (at(text, "maybe"), "states[0].final: expected true or false, got 'maybe'"),
        (at(text, "- ^trigger: go"), "missing required key 'source' in transitions[0]"),
        (at(text, "sorce"), "unknown key 'sorce' in transitions[0]"),
    ]


def test_structural_and_meaning_mistakes_are_reported_together(check: Callable[..., list[Problem]]) -> None:
    text = flow(
        """
        workflow: w
        version: 1
        subject: thing
        initial: a
        states:
          - name: a
            timeout: {after: 3 days, trigger: go}
            on_enter: [{emit: 1}]
          - name: b
            final: yes
            lable: B
        transitions:
          - trigger: go
            source: a
            dset: b
          - trigger: finish
            source: a
            dest: bb
            conditions: [coment_given]
          - trigger: third
            source: a
            dest: b
            internal: "true"
          - trigger: finish
            source: a
            dest: b
        """
    )
    problems = check(text)
    first_finish = at(text, "- trigger: finish\n    source: a\n    dest: bb")[0]
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (
            at(text, "3 days"),
            "bad timeout duration: '3 days' is not an ISO-8601 duration such as 'P3D', 'PT4H' or 'P1DT12H'",
            None,
        ),
        (
            at(text, "{emit: ^1}"),
            "bad argument for action 'emit': 1 is not of type 'string'",
            "expected a string",
        ),
        (
            at(text, "yes"),
            "states[1].final: expected true or false, got 'yes'",
            "YAML 1.2 reads yes/no/on/off as text: write true or false",
        ),
        (at(text, "lable"), "unknown key 'lable' in states[1]", "did you mean 'label'?"),
        (at(text, "dset"), "unknown key 'dset' in transitions[0]", "did you mean 'dest'?"),
        (at(text, "bb"), "unknown destination state 'bb'", "did you mean 'b'?"),
        (at(text, "coment_given"), "unknown condition 'coment_given'", "did you mean 'comment_given'?"),
        (
            at(text, '"true"'),
            "transitions[2].internal: expected true or false, got 'true'",
            "write true or false without quotes",
        ),
        (
            at(text, "- trigger: ^finish\n    source: a\n    dest: b\n"),
            f"duplicate trigger 'finish' from a (already declared on line {first_finish})",
            "merge the two transitions or rename one trigger",
        ),
    ]
    # what was cut out ('final: yes', the 'go' transition) causes no invented follow-on problems:
    # no "no final state", no "timeout trigger 'go' does not leave state 'a'", no unreachable 'b'


def test_a_state_without_a_name_stops_the_meaning_checks(check: Callable[..., list[Problem]]) -> None:
    text = HEAD + flow(
        """
        states:
          - name: a
          - nme: b
        transitions:
          - {trigger: go, source: a, dest: b, conditions: [coment_given]}
        """
    )
    # without the state's name every reference to it would be reported as unknown: only the
    # structural mistakes are shown until it is fixed
    assert [(where(p), p.message) for p in check(text)] == [
        (at(text, "- ^nme"), "missing required key 'name' in states[1]"),
        (at(text, "- ^nme"), "unknown key 'nme' in states[1]"),
    ]


def test_problems_of_every_file_in_a_directory_at_once(write_workflow: Write, catalog: Catalog) -> None:
    write_workflow(TWO, "good.yaml")
    bad_syntax = write_workflow("workflow: [w\n", "broken.yaml")
    bad_meaning = write_workflow(
        TWO.replace("workflow: w", "workflow: x").replace("dest: b", "dest: bb"), "x.yml"
    )
    not_a_workflow = write_workflow("notes", "README.txt")
    with pytest.raises(WorkflowValidationError) as raised:
        WorkflowRegistry.load([bad_syntax.parent], catalog)
    problems = raised.value.problems
    assert [(p.file, p.line) for p in problems] == [(str(bad_syntax), 2), (str(bad_meaning), 12)]
    assert str(not_a_workflow) not in str(raised.value)
    text = str(raised.value)
    assert text.startswith("2 problems in workflow files:\n")
    assert f"{bad_meaning}:12:11: unknown destination state 'bb' (did you mean 'b'?)" in text.splitlines()


def test_problem_text_is_file_line_column_message_and_suggestion() -> None:
    assert str(Problem("w.yaml", 3, 7, "unknown key 'dset'", "did you mean 'dest'?")) == (
        "w.yaml:3:7: unknown key 'dset' (did you mean 'dest'?)"
    )
    assert str(Problem("w.yaml", 1, 1, "no final state")) == "w.yaml:1:1: no final state"


def test_missing_file_and_empty_directory(tmp_path: Path, catalog: Catalog) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _, problems = check_files([empty], catalog)
    assert [(p.file, p.message) for p in problems] == [
        (str(empty), "no workflow files found (*.yaml, *.yml)")
    ]
    missing = tmp_path / "missing.yaml"
    _, problems = check_files([missing], catalog)
    assert [(p.file, p.message) for p in problems] == [(str(missing), "no such file or directory")]


def test_the_example_output_in_the_reference_is_what_validation_prints(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "workflows.md").read_text(encoding="utf-8")
    section = docs.split("## Validation", 1)[1]
    broken = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("$ pmflow workflow validate\n", 1)[1].split("```", 1)[0].splitlines()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "support.yaml").write_text(broken, encoding="utf-8")
    _, problems = check_files([Path("workflows")], catalog)
    assert [str(p) for p in problems] == shown[:-1]
    assert shown[-1] == f"{len(problems)} problems in 1 file"


# ---- YAML merge keys ----------------------------------------------------------------------------


def test_a_mistake_merged_in_from_an_anchor_is_reported_where_it_is_written(
    check: Callable[..., list[Problem]],
) -> None:
    text = HEAD + flow(
        """
        settings:
          shared: &go {source: a, dest: bb, dset: b}
          more: &more
            <<: *go
            label: Go
          fields: &fields
            goal: {tpye: string}
        fields:
          <<: *fields
        states:
          - name: a
          - name: b
            final: true
        transitions:
          - <<: *more
            trigger: go
        """
    )
    problems = check(text)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (at(text, "^dset: b"), "unknown key 'dset' in transitions[0]", "did you mean 'dest'?"),
        (at(text, "tpye"), "unknown keyword 'tpye' in schema of field 'goal'", "did you mean 'type'?"),
        # after the structural mistake is fixed, the meaning of the merged keys is checked too
    ]
    fixed = text.replace(", dset: b", "")
    problems = check(fixed)
    assert [(where(p), p.message) for p in problems] == [
        (at(fixed, "bb"), "unknown destination state 'bb'"),
        (at(fixed, "tpye"), "unknown keyword 'tpye' in schema of field 'goal'"),
    ]


def test_a_merged_key_without_a_position_falls_back_to_its_mapping() -> None:
    tree = YAML(typ="rt").load("base: &b {x: 1}\nitems:\n  - <<: *b\n    y: 2\n")
    locator = Locator("f.yaml", tree)
    assert locator.position(("items", 0, "x")) == (1, 14)  # where the anchor writes it
    assert locator.position(("items", 0, "x"), key=True) == (1, 11)
    assert locator.position(("items", 0, "y")) == (4, 8)
    tree["items"][0]["z"] = 3  # a key with no position at all: the mapping's own
    assert locator.position(("items", 0, "z")) == (3, 5)


def test_an_internal_error_is_a_problem_of_that_file_only(
    write_workflow: Write, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pmflow.core.registry as registry

    good = write_workflow(TWO, "good.yaml")
    bad = write_workflow(TWO.replace("workflow: w", "workflow: boom"), "bad.yaml")
    real = registry.build_definition

    def flaky(locator: Any, model: Any, catalog: Catalog, **kwargs: Any) -> Any:
        if model.workflow == "boom":
            raise KeyError("dest")
        return real(locator, model, catalog, **kwargs)

    monkeypatch.setattr(registry, "build_definition", flaky)
    definitions, problems = check_files([good.parent], catalog)
    assert [d.source_file for d in definitions] == [str(good)]
    assert [(p.file, where(p), p.message) for p in problems] == [
        (str(bad), (1, 1), "internal error while checking this file: KeyError: 'dest'")
    ]
    assert problems[0].suggestion and "bug" in problems[0].suggestion


# ---- arguments that name states and fields ------------------------------------------------------

NAMING = HEAD.replace("initial: a", "initial: open") + flow(
    """
    fields:
      reason: {type: string, minLength: 1}
      flag: {type: boolean}
      due: {type: string, format: date}
      owner: {type: string, required: true}
    states:
      - name: open
      - name: work
        states:
          - name: fixing
      - name: hold
      - name: done
        final: true
    transitions:
      - {trigger: start, source: open, dest: work}
      - {trigger: park, source: work, dest: hold}
      - {trigger: finish, source: [work, hold], dest: done}
      - trigger: resume
        source: hold
        dest: work
        payload: {type: object, properties: {why: {type: string}}}
        REF
    """
)


@pytest.mark.parametrize(
    ("ref", "needle", "message", "suggestion"),
    [
        (
            "conditions: [{came_from: opne}]",
            "opne",
            "bad argument for condition 'came_from': unknown state 'opne'",
            "did you mean 'open'?",
        ),
        (
            "conditions: [{came_from: fixing}]",
            "fixing}",
            "bad argument for condition 'came_from': unknown state 'fixing'",
            "did you mean 'work.fixing'?",
        ),
        (
            "unless: [{fields_set: [reason, reson]}]",
            "reson",
            "bad argument for condition 'fields_set': unknown field 'reson'",
            "did you mean 'reason'?",
        ),
        (
            "actions: [{copy_payload: {why: reasn}}]",
            "reasn",
            "bad argument for action 'copy_payload': unknown field 'reasn'",
            "did you mean 'reason'?",
        ),
        (
            "actions: [{copy_payload: [why]}]",
            "[^why]",
            "bad argument for action 'copy_payload': unknown field 'why'",
            "the workflow declares: due, flag, owner, reason",
        ),
        (
            "actions: [{set_fields: {flagg: true}}]",
            "flagg",
            "bad argument for action 'set_fields': unknown field 'flagg'",
            "did you mean 'flag'?",
        ),
        (
            "actions: [{set_fields: {flag: 'yes'}}]",
            "{^flag: 'yes'}",
            "bad argument for action 'set_fields': value for field 'flag': 'yes' is not of type 'boolean'",
            None,
        ),
        (
            "actions: [{set_fields: {due: '2024-13-01'}}]",
            "{^due: '2024-13-01'}",
            "bad argument for action 'set_fields': value for field 'due': '2024-13-01' is not a 'date'",
            None,
        ),
        (
            "actions: [{set_fields: {due: 2024-03-01}}]",
            "{^due: 2024",
            "bad argument for action 'set_fields': value for field 'due': "
            "datetime.date(2024, 3, 1) is not of type 'string'",
            "YAML reads 2024-03-01 as a date: write '2024-03-01' in quotes",
        ),
        (
            "actions: [{set_fields: {owner: null}}]",
            "{^owner: null}",
            "bad argument for action 'set_fields': value for field 'owner': None is not of type 'string'",
            None,
        ),
    ],
)
def test_arguments_that_name_states_and_fields_are_checked(
    one: Callable[..., Problem], ref: str, needle: str, message: str, suggestion: str | None
) -> None:
    text = NAMING.replace("REF", ref)
    problem = one(text)
    assert (where(problem), problem.message, problem.suggestion) == (at(text, needle), message, suggestion)


def test_arguments_that_name_declared_states_and_fields_pass(write_workflow: Write, catalog: Catalog) -> None:
    refs = (
        "conditions: [{came_from: work.fixing}, {fields_set: [reason, flag]}]\n"
        "    actions: [{copy_payload: {why: reason}},"
        " {set_fields: {flag: true, reason: null, due: '2024-02-29'}}]"
    )
    definitions, problems = check_files([write_workflow(NAMING.replace("REF", refs))], catalog)
    assert problems == [] and len(definitions) == 1


def test_state_actions_check_their_arguments_too(one: Callable[..., Problem]) -> None:
    text = TWO.replace("  - name: b\n", "  - name: b\n    on_enter: [{set_fields: {closed: true}}]\n")
    problem = one(text)
    assert where(problem) == at(text, "closed")
    assert problem.message == "bad argument for action 'set_fields': unknown field 'closed'"
    assert problem.suggestion == "the workflow declares no fields: add it under 'fields:'"


def test_a_field_with_a_broken_schema_is_still_declared(check: Callable[..., list[Problem]]) -> None:
    text = with_fields("goal: {type: strng}\n").replace(
        "dest: b", "dest: b\n    conditions: [{fields_set: [goal]}]"
    )
    assert [p.message for p in check(text)] == [
        "bad schema of field 'goal': unknown type 'strng' (at 'type')"
    ]


def test_a_plugin_checks_its_argument_against_the_files_states_and_fields(
    write_workflow: Write, catalog: Catalog
) -> None:
    seen: list[ArgumentScope] = []

    def at_least(scope: ArgumentScope, argument: Any) -> list[str]:
        seen.append(scope)
        return (
            [f"'{argument['of']}' is not a number field (use one of: size)"]
            if argument["of"] != "size"
            else []
        )

    def broken(_scope: ArgumentScope, _argument: Any) -> list[str]:
        raise ValueError("oops")

    plugin_catalog = Catalog(
        conditions={
            **catalog.conditions,
            "at_least": Condition(
                "at_least", lambda _c, _a: None, argument={"type": "object"}, check_argument=at_least
            ),
        },
        actions={
            **catalog.actions,
            "broken": Action("broken", lambda _c, _a: None, argument={}, check_argument=broken),
        },
    )
    text = with_fields("size: {type: integer}\nnote: {type: string}\n").replace(
        "dest: b", "dest: b\n    conditions: [{at_least: {of: note}}]\n    actions: [{broken: 1}]"
    )
    _, problems = check_files([write_workflow(text)], plugin_catalog)
    assert [(where(p), p.message, p.suggestion) for p in problems] == [
        (
            at(text, "of: ^note"),
            "bad argument for condition 'at_least': 'note' is not a number field",
            "use one of: size",
        ),
        (
            at(text, "{broken: ^1}"),
            "could not check the argument of action 'broken': ValueError: oops",
            "the plugin providing it has a bug: report it",
        ),
    ]
    (scope,) = seen
    assert scope.states == {"a", "b"}
    assert scope.fields == {"size", "note"}
    assert scope.field_schemas == {"size": {"type": "integer"}, "note": {"type": "string"}}


# ---- a mistake inside a transition does not hide the checks of the whole -------------------------

GRAPH = HEAD + flow(
    """
    states:
      - name: a
      - name: b
      - name: lost
      - name: stuck
      - name: done
        final: true
    transitions:
      - {trigger: go, source: a, dest: b, MISTAKE}
      - {trigger: jam, source: b, dest: stuck}
      - {trigger: finish, source: b, dest: done}
    """
)


@pytest.mark.parametrize(
    ("mistake", "needle", "message"),
    [
        ("conditions: [coment_given]", "coment_given", "unknown condition 'coment_given'"),
        ("actions: [{emit: 3}]", "{emit: ^3}", "bad argument for action 'emit': 3 is not of type 'string'"),
        ("payload: {type: string}", "type: ^string}", "a payload schema must have type 'object'"),
        ("label: Go, roles: [x, x]", None, None),
    ],
)
def test_a_mistake_in_a_transition_does_not_skip_the_graph_checks(
    check: Callable[..., list[Problem]], mistake: str, needle: str | None, message: str | None
) -> None:
    text = GRAPH.replace("MISTAKE", mistake)
    if needle is None:  # no mistake at all: the graph's problems alone
        text = text.replace(", dest: stuck", ", dest: stuck, unless: [comment_given]")
    problems = check(text)
    expected = [
        (at(text, "name: ^lost"), "state 'lost' is unreachable from the initial state 'a'"),
        (at(text, "name: ^stuck"), "state 'stuck' has no path to a final state"),
    ]
    if needle is not None:
        expected.insert(2, (at(text, needle), str(message)))
    assert [(where(p), p.message) for p in problems] == expected


def test_an_unknown_state_in_a_transition_skips_the_graph_checks(one: Callable[..., Problem]) -> None:
    text = GRAPH.replace(", MISTAKE", "").replace("dest: stuck", "dest: stuk")
    problem = one(text)  # no phantom "unreachable" or "no path to a final state"
    assert (where(problem), problem.message) == (at(text, "stuk"), "unknown destination state 'stuk'")


def test_a_bad_transition_still_counts_for_duplicate_triggers(check: Callable[..., list[Problem]]) -> None:
    text = TWO + "  - {trigger: go, source: [a, b], dest: b, conditions: [coment_given]}\n"
    problems = check(text)
    first = at(text, "- trigger: go")[0]
    assert [(where(p), p.message) for p in problems] == [
        (at(text, "{trigger: ^go"), f"duplicate trigger 'go' from a (already declared on line {first})"),
        (
            at(text, "[a, ^b]"),
            "'b' is a final state and cannot be left; remove 'final: true' or this transition",
        ),
        (at(text, "coment_given"), "unknown condition 'coment_given'"),
    ]


def test_a_transition_needs_a_source(one: Callable[..., Problem]) -> None:
    text = TWO + "  - {trigger: never, source: [], dest: b}\n"
    problem = one(text)
    assert where(problem) == at(text, "source: ^[]")
    assert problem.message == "a transition needs at least one source"
    assert problem.suggestion and '"*"' in problem.suggestion


# ---- timeouts the timer could never fire -------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needs"),
    [
        ("conditions: [comment_given]", "needs a comment (condition 'comment_given')"),
        (
            "payload: {type: object, required: [reason], properties: {reason: {type: string}}}",
            "needs a payload (required: reason)",
        ),
        ("payload: {type: object, minProperties: 1}", "needs a payload ({} should be non-empty)"),
    ],
)
def test_a_timeout_whose_transition_needs_a_comment_or_payload(
    one: Callable[..., Problem], extra: str, needs: str
) -> None:
    text = (
        with_timeout("P3D")
        .replace(
            "{trigger: remind, source: a, internal: true}",
            "{trigger: remind, source: a, internal: true, EXTRA}",
        )
        .replace("EXTRA", extra)
    )
    problem = one(text)
    assert where(problem) == at(text, "trigger: ^remind}")
    line = at(text, "- {trigger: remind")[0]
    assert problem.message == (
        f"timeout trigger 'remind' can never be fired by the timer: the transition on line {line} {needs}"
    )
    assert problem.suggestion and "without a comment or payload" in problem.suggestion


@pytest.mark.parametrize(
    "extra",
    [
        "unless: [comment_given]",
        "payload: {type: object, properties: {reason: {type: string}}}",
        "conditions: [{fields_set: [note]}]",
    ],
)
def test_a_timeout_whose_transition_the_timer_can_fire(
    write_workflow: Write, catalog: Catalog, extra: str
) -> None:
    text = with_timeout("P3D").replace("internal: true}", f"internal: true, {extra}}}")
    text = text.replace("states:", "fields:\n  note: {type: string}\nstates:")
    definitions, problems = check_files([write_workflow(text)], catalog)
    assert problems == [] and len(definitions) == 1


# ---- schemas: nested keywords, formats, `required`, lists of types --------------------------------


@pytest.mark.parametrize(
    ("schema", "needle", "inside"),
    [
        ("{type: object, properties: {name: {tpye: string}}}", "tpye", "properties/name"),
        ("{type: array, items: {tpye: string}}", "tpye", "items"),
        ("{type: array, prefixItems: [{type: string}, {tpye: integer}]}", "tpye", "prefixItems/1"),
        ("{type: object, additionalProperties: {tpye: string}}", "tpye", "additionalProperties"),
        ("{$defs: {name: {tpye: string}}, $ref: '#/$defs/name'}", "tpye", "$defs/name"),
        ("{allOf: [{type: string}, {maxLenght: 3}]}", "maxLenght", "allOf/1"),
        ("{anyOf: [{type: string, minLenght: 1}, {type: 'null'}]}", "minLenght", "anyOf/0"),
        ("{oneOf: [{type: integer, minimun: 1}, {type: string}]}", "minimun", "oneOf/0"),
        ("{type: string, not: {enmu: [x]}}", "enmu", "not"),
        ("{if: {cnst: 1}, then: {type: integer}, else: {type: string}}", "cnst", "if"),
        ("{if: {const: 1}, then: {mnimum: 1}, else: {type: string}}", "mnimum", "then"),
        ("{if: {const: 1}, then: {type: integer}, else: {patern: x}}", "patern", "else"),
        (
            "{type: array, items: {type: object, properties: {due: {type: string, fromat: date}}}}",
            "fromat",
            "items/properties/due",
        ),
    ],
)
def test_misspelt_keywords_in_nested_subschemas(
    one: Callable[..., Problem], schema: str, needle: str, inside: str
) -> None:
    text = with_fields(f"goal: {schema}\n")
    problem = one(text)
    assert where(problem) == at(text, needle)
    assert problem.message == f"unknown keyword '{needle}' in schema of field 'goal' (at '{inside}')"
    assert problem.suggestion and problem.suggestion.startswith("did you mean '")


def test_each_nested_mistake_at_its_own_position(check: Callable[..., list[Problem]]) -> None:
    text = plus(
        """
        - trigger: hold
          source: a
          dest: b
          payload:
            type: object
            properties:
              reason: {type: string, maxLenght: 3}
              until: {type: string, format: dat}
              tags: {type: array, items: {tpye: string}}
        """
    )
    assert [(where(p), p.message, p.suggestion) for p in check(text)] == [
        (
            at(text, "maxLenght"),
            "unknown keyword 'maxLenght' in payload schema (at 'properties/reason')",
            "did you mean 'maxLength'?",
        ),
        (
            at(text, "format: ^dat"),
            "bad payload schema: unknown format 'dat' (at 'properties/until/format')",
            "did you mean 'date'?",
        ),
        (
            at(text, "tpye"),
            "unknown keyword 'tpye' in payload schema (at 'properties/tags/items')",
            "did you mean 'type'?",
        ),
    ]


def test_a_property_named_like_a_keyword_is_not_a_keyword(write_workflow: Write, catalog: Catalog) -> None:
    fields = "address: {type: object, properties: {type: {type: string}, tpye: {type: integer}}}\n"
    definitions, problems = check_files([write_workflow(with_fields(fields))], catalog)
    assert problems == [] and len(definitions) == 1


def test_unknown_format(one: Callable[..., Problem]) -> None:
    text = with_fields("due: {type: string, format: datum}\n")
    problem = one(text)
    assert where(problem) == at(text, "datum")
    assert problem.message == "bad schema of field 'due': unknown format 'datum' (at 'format')"
    assert problem.suggestion == "did you mean 'date'?"


def test_a_standard_format_this_installation_cannot_check(
    one: Callable[..., Problem], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pmflow.core.validation as validation

    monkeypatch.setattr(validation, "CHECKED_FORMATS", validation.CHECKED_FORMATS - {"email"})
    text = with_fields("contact: {type: string, format: email}\n")
    problem = one(text)
    assert where(problem) == at(text, "format: ^email")
    assert problem.message == (
        "bad schema of field 'contact': format 'email' is not checked by this installation (at 'format')"
    )
    assert problem.suggestion and "jsonschema[format-nongpl]" in problem.suggestion


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ('"yes"', "write 'required: true'"),
        ("yes", "write 'required: true'"),
        ("'true'", "write 'required: true'"),
        ("off", "write 'required: false'"),
        ("1", "write 'required: true'"),
        ("maybe", "write 'required: true' or 'required: false'"),
    ],
)
def test_required_must_be_true_or_false(one: Callable[..., Problem], value: str, suggestion: str) -> None:
    text = with_fields(f"goal: {{type: string, required: {value}}}\n")
    problem = one(text)
    assert where(problem) == at(text, f"required: ^{value}")
    shown = value if value == "1" else "'" + value.strip("'\"") + "'"
    assert problem.message == f"'required' of field 'goal' must be true or false, got {shown}"
    assert problem.suggestion == suggestion


def test_required_with_a_list_keeps_its_json_schema_meaning(write_workflow: Write, catalog: Catalog) -> None:
    fields = "address: {type: object, required: [city], properties: {city: {type: string}}}\n"
    (definition,) = WorkflowRegistry.load([write_workflow(with_fields(fields))], catalog)
    address = definition.fields["address"]
    assert address.required is False and address.schema["required"] == ["city"]


@pytest.mark.parametrize(
    ("schema", "needle", "message", "suggestion"),
    [
        (
            "{type: [string, intger]}",
            "intger",
            "bad schema of field 'size': unknown type 'intger' (at 'type/1')",
            "did you mean 'integer'?",
        ),
        (
            "{type: [text, 'null']}",
            "text",
            "bad schema of field 'size': unknown type 'text' (at 'type/0')",
            "use one of: array, boolean, integer, null, number, object, string",
        ),
        (
            "{type: [string, 3]}",
            "3",
            "bad schema of field 'size': unknown type 3 (at 'type/1')",
            "use one of: array, boolean, integer, null, number, object, string",
        ),
        (
            "{type: [string, string]}",
            "string, ^string",
            "bad schema of field 'size': type 'string' is listed twice (at 'type/1')",
            None,
        ),
        ("{type: []}", "[]", "bad schema of field 'size': the list of types is empty (at 'type')", None),
        (
            "{type: {a: 1}}",
            "{a: 1}",
            "bad schema of field 'size': type must be a type name or a list of them, got a mapping "
            "(at 'type')",
            "use one of: array, boolean, integer, null, number, object, string",
        ),
        (
            "{type: array, items: {type: [strng, 'null']}}",
            "strng",
            "bad schema of field 'size': unknown type 'strng' (at 'items/type/0')",
            "did you mean 'string'?",
        ),
    ],
)
def test_bad_types_are_named_one_by_one(
    one: Callable[..., Problem], schema: str, needle: str, message: str, suggestion: str | None
) -> None:
    text = with_fields(f"size: {schema}\n")
    problem = one(text)
    assert (where(problem), problem.message, problem.suggestion) == (at(text, needle), message, suggestion)


# ---- what plugins provide ---------------------------------------------------------------------------


def _catalog_with(**hooks: Callable[[], list[Any]]) -> Catalog:
    plugin = type("BrokenPlugin", (), {name: staticmethod(hookimpl(fn)) for name, fn in hooks.items()})()
    return Catalog.from_plugins(make_plugin_manager([*DEFAULT_PLUGINS, plugin]))


def _check(_context: Any, _argument: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("hook", "item", "message"),
    [
        (
            "pmflow_conditions",
            Condition("too_big", _check, argument={"type": "integr"}),
            "condition 'too_big' (from pmflow_conditions in module 'test_workflow_validation') has an "
            "invalid argument schema: unknown type 'integr' (did you mean 'integer'?) (at 'type')",
        ),
        (
            "pmflow_actions",
            Action("notify", _check, argument={"type": "object", "minProperties": -1}),
            "action 'notify' (from pmflow_actions in module 'test_workflow_validation') has an invalid "
            "argument schema: -1 is less than the minimum of 0 (at 'minProperties')",
        ),
        (
            "pmflow_actions",
            Action("notify", _check, argument=["string"]),  # type: ignore[arg-type]
            "action 'notify' (from pmflow_actions in module 'test_workflow_validation'): its argument "
            "schema must be a mapping, got ['string']",
        ),
        (
            "pmflow_conditions",
            Action("ready", _check),
            "pmflow_conditions in module 'test_workflow_validation' returned "
            "Action(name='ready', run=<function _check",
        ),
        (
            "pmflow_actions",
            {"name": "notify"},
            "pmflow_actions in module 'test_workflow_validation' returned {'name': 'notify'}, not a Action",
        ),
        (
            "pmflow_conditions",
            Condition("health at least", _check),
            "condition name 'health at least' (from pmflow_conditions in module "
            "'test_workflow_validation') is not an identifier",
        ),
        (
            "pmflow_conditions",
            Condition("ready", _check, check_argument="states"),  # type: ignore[arg-type]
            "condition 'ready' (from pmflow_conditions in module 'test_workflow_validation'): "
            "check_argument must be a function, got 'states'",
        ),
    ],
)
def test_a_plugins_broken_condition_or_action_is_named_at_startup(hook: str, item: Any, message: str) -> None:
    def provide() -> list[Any]:
        return [item]

    with pytest.raises(CatalogError) as raised:
        _catalog_with(**{hook: provide})
    assert str(raised.value).startswith(message)


def test_a_plugins_good_argument_schema_is_accepted() -> None:
    def provide() -> list[Any]:
        return [Condition("health_at_least", _check, argument={"type": "integer", "minimum": 0})]

    catalog = _catalog_with(pmflow_conditions=provide)
    assert catalog.conditions["health_at_least"].argument == {"type": "integer", "minimum": 0}
    assert "comment_given" in catalog.conditions
