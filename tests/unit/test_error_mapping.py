"""Every exception class of Corral's tree (dispatcher/errors.py) has its own row in each
front's one table: HTTP status (REST), MUSTERERR code (the hook API), exit code (CLI).
A class added later without its rows fails here; no catch-all stands in for it."""

from __future__ import annotations

import inspect

import pytest

from console import exit_codes
from dispatcher import errors
from dispatcher.web import app as web
from hooks.api import errors as api_errors


def corral_errors() -> list[type[errors.CorralError]]:
    """Every class defined in dispatcher/errors.py that is a CorralError (the base too)."""
    found = [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.CorralError) and kind.__module__ == errors.__name__
    ]
    assert errors.CorralError in found and len(found) >= 8
    return found


CLASSES = corral_errors()


def _instance(kind: type[errors.CorralError]) -> errors.CorralError:
    try:
        return kind("because")
    except TypeError:  # a class whose constructor wants more than a message
        return kind.__new__(kind)


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_rest_has_a_status_for(kind: type[errors.CorralError]) -> None:
    rows = {row[0]: row[1:] for row in web._STATUS}
    assert kind in rows, f"dispatcher/web/app.py _STATUS has no row for {kind.__name__}"
    status, title = rows[kind]
    assert 400 <= status < 600 and title
    answer = web.error_response(_instance(kind))
    assert answer.status == status


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_the_hook_api_has_a_code_for(kind: type[errors.CorralError]) -> None:
    rows = dict(api_errors._BY_EXCEPTION)
    assert kind in rows, f"hooks/api/errors.py _BY_EXCEPTION has no row for {kind.__name__}"
    assert rows[kind] in api_errors.ERROR_CODES and rows[kind] != api_errors.kErrNone
    assert api_errors.code_for(_instance(kind)) == rows[kind]


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_the_cli_has_an_exit_code_for(kind: type[errors.CorralError]) -> None:
    assert kind in exit_codes.EXIT_CODES, (
        f"console/exit_codes.py EXIT_CODES has no row for {kind.__name__}"
    )
    assert exit_codes.EXIT_CODES[kind] in (1, 2, 3, 4, 5, 6, 7)  # docs/cli.md
    assert exit_codes.exit_code_for(_instance(kind)) == exit_codes.EXIT_CODES[kind]


def test_the_tables_hold_only_corral_errors() -> None:
    for kind in [row[0] for row in web._STATUS] + [row[0] for row in api_errors._BY_EXCEPTION]:
        assert kind in CLASSES
    assert set(exit_codes.EXIT_CODES) <= set(CLASSES)


def test_a_class_without_a_row_is_found() -> None:
    """The check itself can fail: a new subclass is missing from every table."""

    class Brand(errors.Conflict):
        pass

    Brand.__module__ = errors.__name__
    errors.Brand = Brand
    try:
        assert Brand in corral_errors()
        assert Brand not in {row[0] for row in web._STATUS}
        assert Brand not in dict(api_errors._BY_EXCEPTION)
        assert Brand not in exit_codes.EXIT_CODES
    finally:
        delattr(errors, "Brand")
