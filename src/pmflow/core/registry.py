"""All workflow definitions of an installation, by (name, version), loaded and validated at once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.loader import Locator, check_structure, read_yaml, salvage
from pmflow.core.plugins import Catalog
from pmflow.core.problems import Problem, WorkflowValidationError
from pmflow.core.validation import build_definition

SUFFIXES = (".yaml", ".yml")


def workflow_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their ``*.yaml``/``*.yml`` files, sorted; keep files as given."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def check_files(
    paths: Iterable[str | Path], catalog: Catalog
) -> tuple[list[WorkflowDefinition], list[Problem]]:
    """Validate every file; return the good definitions and every problem found."""
    definitions: list[WorkflowDefinition] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, int], tuple[WorkflowDefinition, Locator]] = {}
    subjects: dict[str, tuple[str, int]] = {}
    paths = list(paths)
    files = workflow_files(paths)
    for path in files:
        found: list[Problem] = []
        try:
            checked = _check_file(path, catalog, found)
        except Exception as error:  # a bug in pmflow or a plugin: one file's problem, not a traceback
            found.append(
                Problem(
                    str(path),
                    1,
                    1,
                    f"internal error while checking this file: {type(error).__name__}: {error}",
                    "please report this, with the file, as a bug in pmflow or the plugin involved",
                )
            )
            checked = None
        problems.extend(found)
        if checked is None:
            continue
        definition, locator = checked
        if definition.key in seen:
            other = seen[definition.key][0]
            line, _ = seen[definition.key][1].position(("version",))
            problems.append(
                locator.problem(
                    ("version",),
                    f"workflow '{definition.name}' version {definition.version} is already "
                    f"defined in {other.source_file}:{line}",
                    "give this file the next version number",
                )
            )
            continue
        if definition.name in subjects and subjects[definition.name][0] != definition.subject:
            problems.append(
                locator.problem(
                    ("subject",),
                    f"workflow '{definition.name}' governs '{subjects[definition.name][0]}' in "
                    f"version {subjects[definition.name][1]}; every version must govern the same subject",
                )
            )
            continue
        subjects.setdefault(definition.name, (definition.subject, definition.version))
        seen[definition.key] = (definition, locator)
        definitions.append(definition)
    if not files:
        where = ", ".join(str(path) for path in paths) or "."
        problems.append(Problem(where, 1, 1, "no workflow files found (*.yaml, *.yml)"))
    return definitions, problems


def _check_file(
    path: Path, catalog: Catalog, problems: list[Problem]
) -> tuple[WorkflowDefinition, Locator] | None:
    """Check one file on its own, adding its problems to ``problems``; its definition if it has none."""
    if not path.exists():
        problems.append(Problem(str(path), 1, 1, "no such file or directory"))
        return None
    tree, syntax = read_yaml(path)
    if syntax:
        problems.extend(syntax)
        return None
    locator = Locator(str(path), tree)
    model, structural = check_structure(locator)
    if model is None:
        # Report the meaning of what is intact as well, so one run shows every mistake.
        salvaged = salvage(locator)
        if salvaged is not None:
            origins = salvaged.transitions
            _, semantic = build_definition(locator, salvaged.model, catalog, origins=origins)
            structural += semantic
        problems.extend(sorted(set(structural), key=lambda p: (p.line, p.column, p.message)))
        return None
    definition, semantic = build_definition(locator, model, catalog)
    # a value merged from an anchor (`<<: *anchor`) into several places is reported once
    problems.extend(sorted(dict.fromkeys(semantic), key=lambda p: (p.line, p.column)))
    return None if definition is None else (definition, locator)


class WorkflowRegistry:
    """Every loaded definition. A running subject keeps its (name, version); new ones get the latest."""

    def __init__(self, definitions: Iterable[WorkflowDefinition]) -> None:
        self._by_key = {d.key: d for d in definitions}

    @classmethod
    def load(cls, paths: Iterable[str | Path], catalog: Catalog) -> WorkflowRegistry:
        """Load and validate; raise ``WorkflowValidationError`` with every problem, loading nothing."""
        definitions, problems = check_files(paths, catalog)
        if problems:
            raise WorkflowValidationError(problems)
        return cls(definitions)

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        return iter(sorted(self._by_key.values(), key=lambda d: d.key))

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, name: str, version: int | None = None) -> WorkflowDefinition | None:
        """A definition by name and version; the latest version when ``version`` is None."""
        if version is not None:
            return self._by_key.get((name, version))
        versions = [d for (n, _), d in self._by_key.items() if n == name]
        return max(versions, key=lambda d: d.version) if versions else None

    def for_subject(self, subject: str) -> list[WorkflowDefinition]:
        """The latest version of each workflow that governs ``subject``."""
        names = sorted({d.name for d in self._by_key.values() if d.subject == subject})
        return [d for name in names if (d := self.get(name)) is not None]

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})
