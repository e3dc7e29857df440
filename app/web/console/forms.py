"""Check a form field by field, so each message can be shown next to its field."""

from collections.abc import Callable

from flask import request

from app.core.errors import QianfaError


def collect(checks: dict[str, Callable[[str], object]]) -> tuple[dict, dict[str, str]]:
    """Run each field's check on the posted value; return the clean values and the errors."""
    values, errors = {}, {}
    for name, check in checks.items():
        try:
            values[name] = check(request.form.get(name, ""))
        except QianfaError as error:
            errors[name] = error.message
    return values, errors


def field_of(error: QianfaError) -> dict[str, str]:
    return {error.field or "form": error.message}
