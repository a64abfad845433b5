"""Survey templates (docs/surveys.md): the built-ins load; an organisation's directory adds and overrides;
every problem of every file is reported at once with file, line and column; a broken template stops
the start like a broken workflow file; `pmflow surveys validate` checks a directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pmflow import app as pmflow_app
from pmflow.cli import cli
from pmflow.core.plugins import PluginStartupError
from pmflow.plugins.surveys.templates import BUILT_IN, TemplateError, load_templates

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"

GOOD = """\
survey: onboarding
title: How was the start?
kind: custom
answer_within: P7D
questions:
  - key: clarity
    kind: scale
    text: How clear were the goals?
    min: 1
    max: 7
  - key: channels
    kind: choice
    text: How do you like to hear from us?
    options: [email, phone, portal]
    multiple: true
  - key: note
    kind: text
    text: Anything else?
    required: false
    max_length: 300
"""

BROKEN = """\
survey: broken
title: Broken
kind: csat
questions:
  - key: rating
    kind: stars
    text: Rate us
  - key: effort
    kind: scale
    text: How easy was it?
    min: 1
  - key: pick
    kind: choice
    text: Pick one
  - key: effort
    kind: text
    text: Again
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_built_ins_are_csat_and_nps() -> None:
    templates = load_templates([BUILT_IN])
    csat, nps = templates["csat"], templates["nps"]
    assert (csat.kind, csat.score_key, [q.kind for q in csat.questions]) == (
        "csat",
        "satisfaction",
        ["csat", "text"],
    )
    assert (csat.questions[0].min, csat.questions[0].max, csat.questions[1].required) == (1, 5, False)
    assert (nps.kind, nps.score_key, nps.questions[0].min, nps.questions[0].max) == (
        "nps",
        "recommend",
        0,
        10,
    )
    assert csat.answer_within.days == 14


def test_an_organisation_adds_and_overrides_templates(tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    write(folder, "onboarding.yaml", GOOD)
    write(folder, "csat.yaml", GOOD.replace("survey: onboarding", "survey: csat").replace("custom", "custom"))
    templates = load_templates([BUILT_IN, folder])
    assert set(templates) == {"csat", "nps", "onboarding"}
    assert templates["csat"].title == "How was the start?" and templates["csat"].kind == "custom"
    onboarding = templates["onboarding"]
    assert onboarding.answer_within.days == 7 and onboarding.score_key is None
    choice = onboarding.questions[1]
    assert (choice.options, choice.multiple) == (("email", "phone", "portal"), True)


def test_every_problem_is_named_with_file_and_place(tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    broken = write(folder, "broken.yaml", BROKEN)
    with pytest.raises(TemplateError) as raised:
        load_templates([BUILT_IN, folder])
    text = str(raised.value)
    assert text.startswith("1 problem in survey templates") is False  # several, all at once
    assert (
        f"{broken}:6:11: questions[0].kind: unknown kind 'stars' (one of csat, nps, scale, choice, text)"
        in text
    )

    broken.write_text(BROKEN.replace("kind: stars", "kind: csat"), encoding="utf-8")
    with pytest.raises(TemplateError) as raised:
        load_templates([BUILT_IN, folder])
    problems = [str(p) for p in raised.value.problems]
    assert f"{broken}:8:5: questions[1]: a scale question needs both min and max" in problems
    assert f"{broken}:12:5: questions[2]: a choice question needs options (a list of texts)" in problems
    assert any(
        p.startswith(f"{broken}:15:10: questions[3].key: duplicate question key 'effort'") for p in problems
    )
    assert len(problems) == 3


def test_structure_mistakes_are_each_reported(tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    path = write(
        folder,
        "odd.yaml",
        "survey: odd\ntitle: Odd\nkind: nps\nanswer_within: 2 weeks\nquestions:\n"
        "  - key: x\n    kind: text\n    txt: typo\n    options: [a]\n",
    )
    write(folder, "empty.yaml", "")
    with pytest.raises(TemplateError) as raised:
        load_templates([folder])
    problems = [str(p) for p in raised.value.problems]
    assert f"{path}:8:5: unknown key 'txt' in questions[0] (did you mean 'text'?)" in problems
    assert f"{path}:6:5: missing required key 'text' in questions[0]" in problems
    assert any("empty.yaml:1:1: a survey template must be a mapping" in p for p in problems)
    # the meaning is checked once the structure is right
    path.write_text(
        "survey: odd\ntitle: Odd\nkind: nps\nanswer_within: 2 weeks\nquestions:\n"
        "  - key: x\n    kind: text\n    text: fine\n    options: [a]\n",
        encoding="utf-8",
    )
    (folder / "empty.yaml").unlink()
    with pytest.raises(TemplateError) as raised:
        load_templates([folder])
    problems = [str(p) for p in raised.value.problems]
    assert (
        f"{path}:4:16: answer_within: '2 weeks' is not an ISO-8601 duration such as 'P3D', 'PT4H' "
        "or 'P1DT12H'" in problems
    )
    assert f"{path}:9:14: questions[0].options: only choice questions take options" in problems
    assert f"{path}:3:7: kind: a nps survey needs a question of kind nps (its score)" in problems


def test_a_broken_template_stops_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "surveys"
    write(folder, "broken.yaml", BROKEN)
    monkeypatch.setenv("PMFLOW_PLUGIN_SURVEYS_TEMPLATES_DIR", str(folder))
    with pytest.raises(PluginStartupError) as raised:
        pmflow_app.build(database_url=f"sqlite:///{tmp_path / 'pmflow.db'}", workflows=WORKFLOWS)
    assert "plugin 'pmflow.plugins.surveys' failed to start" in str(raised.value)
    assert "unknown kind 'stars'" in str(raised.value) and "broken.yaml:6:11" in str(raised.value)


def test_a_trigger_naming_a_missing_template_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "surveys"
    write(folder, "nps.yaml", GOOD.replace("survey: onboarding", "survey: nps_v2"))
    monkeypatch.setenv("PMFLOW_PLUGIN_SURVEYS_TEMPLATES_DIR", str(folder))
    built = pmflow_app.build(database_url=f"sqlite:///{tmp_path / 'pmflow.db'}", workflows=WORKFLOWS)
    built.database.dispose()  # the built-in nps still exists: fine

    class Extra:
        from pmflow.core.hookspecs import SurveyTrigger, hookimpl

        @hookimpl
        def pmflow_survey_triggers(self) -> list[object]:
            return [self.SurveyTrigger("on_close", "project.close", "exit_interview")]

    plugins = pmflow_app.plugin_manager()
    plugins.register(Extra(), name="extra")
    with pytest.raises(PluginStartupError) as raised:
        pmflow_app.build(
            database_url=f"sqlite:///{tmp_path / 'pmflow.db'}", workflows=WORKFLOWS, plugins=plugins
        )
    assert "'on_close' asks for 'exit_interview'" in str(raised.value)


def test_the_validate_command(tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    write(folder, "onboarding.yaml", GOOD)
    ok = CliRunner().invoke(cli, ["surveys", "validate", str(folder)])
    assert ok.exit_code == 0, ok.output
    assert "onboarding" in ok.output and "csat" in ok.output and "built-in" in ok.output
    write(folder, "broken.yaml", BROKEN)
    bad = CliRunner().invoke(cli, ["surveys", "validate", str(folder)])
    assert bad.exit_code == 1
    assert "unknown kind 'stars'" in bad.output and "broken.yaml:6:11" in bad.output


def test_validate_without_a_directory_checks_the_built_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./surveys here: the server would run on the built-ins alone
    alone = CliRunner().invoke(cli, ["surveys", "validate"])
    assert alone.exit_code == 0, alone.output
    assert "csat" in alone.output and "nps" in alone.output
    named = CliRunner().invoke(cli, ["surveys", "validate", str(tmp_path / "missing")])
    assert named.exit_code == 1 and "does not exist" in named.output


def test_token_is_no_question_key(tmp_path: Path) -> None:
    # the answer page's form carries the link's token under that name
    folder = tmp_path / "surveys"
    broken = write(
        folder,
        "intake.yaml",
        "survey: intake\ntitle: Intake\nkind: custom\nquestions:\n"
        "  - key: token\n    kind: text\n    text: Your reference?\n",
    )
    with pytest.raises(TemplateError) as raised:
        load_templates([BUILT_IN, folder])
    assert [str(p) for p in raised.value.problems] == [
        f"{broken}:5:10: questions[0].key: 'token' is reserved: name the question otherwise"
    ]
