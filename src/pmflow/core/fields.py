"""Custom fields declared by a workflow file, validated on every write."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from pmflow.core.definitions import FieldDef, WorkflowDefinition
from pmflow.core.errors import InvalidInput
from pmflow.core.problems import did_you_mean


@lru_cache(maxsize=1024)
def _validator(field: FieldDef) -> Draft202012Validator:
    # `format` (date, email, ...) is enforced: validation accepts only formats the checker knows
    return Draft202012Validator(dict(field.schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_fields(definition: WorkflowDefinition, data: Mapping[str, Any], *, complete: bool) -> None:
    """Raise ``InvalidInput`` naming the first bad field; ``complete`` also requires required ones."""
    for name, value in data.items():
        field = definition.fields.get(name)
        if field is None:
            hint = did_you_mean(name, definition.fields)
            raise InvalidInput(
                f"unknown field '{name}' for {definition.subject} "
                f"(workflow '{definition.name}' declares: {', '.join(definition.fields) or 'none'})"
                + (f"; {hint}" if hint else ""),
                field=name,
            )
        if value is None and not field.required:
            continue
        error = next(iter(_validator(field).iter_errors(value)), None)
        if error is not None:
            raise InvalidInput(f"field '{name}': {error.message}", field=name)
    if complete:
        for name, field in definition.fields.items():
            if field.required and data.get(name) is None:
                raise InvalidInput(f"field '{name}' ({field.label}) is required", field=name)
