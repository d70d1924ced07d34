"""The drqueue and pydra packages and their examples import inside applications' own
Pythons, 3.7 and newer, with the standard library alone: their source parses as
Python 3.7, holds no annotation 3.7 would evaluate and reject, and imports only the
standard library, the client library and the packages themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.unit.py37_source import problems_of

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("compat/drqueue/*.py"), *ROOT.glob("compat/pydra/**/*.py"),
     ROOT / "examples/compat/drqueue_example.py", ROOT / "examples/compat/pydra_example.py"]
)  # fmt: skip
OURS = {"corral_client", "drqueue", "pydra"}


def test_the_sources_are_there() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in SOURCES}
    assert {"compat/drqueue/jobs.py", "compat/pydra/config.py",
            "compat/pydra/cluster/controller/web/controller.py"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_source_is_python_37(path: Path) -> None:
    assert problems_of(path.read_text(), path.name, OURS) == []


def test_the_check_finds_problems() -> None:
    bad = "import requests\ndef f(x: list[int]) -> int | None:\n    return 1\n"
    assert len(problems_of(bad, "bad.py", OURS)) == 3
    with pytest.raises(SyntaxError):
        problems_of("y = (x := 1)\n", "bad.py", OURS)  # := is Python 3.8


def test_the_seeds_error_codes_are_variables_of_the_controller_package() -> None:
    """Seed 002: "These codes are available as variables within pydra.cluster.controller"."""
    sys.path.insert(0, str(ROOT / "compat"))
    try:
        from pydra.cluster import controller
    finally:
        sys.path.remove(str(ROOT / "compat"))
    codes = {
        "CONTROLLER_ERROR_AUTH_FAIL": -1,
        "CONTROLLER_ERROR_DISCONNECTED": -2,
        "CONTROLLER_ERROR_FUNCTION_ERROR": -3,
        "CONTROLLER_ERROR_NO_RSA_KEY": -4,
        "CONTROLLER_ERROR_UNKNOWN": -5,
        "CONTROLLER_ERROR_FUNCTION_NOT_FOUND": -6,
    }
    assert {name: getattr(controller, name) for name in codes} == codes
    error = controller.ControllerException(-5, "an answer that is not the API's", 500)
    assert (error.code, error.status) == (-5, 500) and "unknown error (-5)" in str(error)
    assert issubclass(controller.NotSupported, controller.ControllerException)
