"""MConsoleAPI without a dispatcher: its functions, contexts, the REST-error table, the
job form it rebuilds from REST answers, and `muster` as a builtin."""

from __future__ import annotations

import builtins
import importlib
import inspect
from collections.abc import Iterator

import pytest

import MConsoleAPI
import MDispatcherAPI
from console.consoleapi import transport
from console.consoleapi.jobs import job_form
from dispatcher import errors, pyfarm
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.views import job_view
from dispatcher.web import app as web
from hooks.api.context import set_context
from hooks.api.dispatcher_api import EXTENSIONS, FUNCTION_NAMES
from hooks.api.errors import code_for, kErrBadArgument, kErrDisconnected, kErrWrongContext
from tests.unit.test_error_mapping import CLASSES, _instance


@pytest.fixture
def context() -> Iterator[None]:
    yield
    set_context("")
    transport.configure()


def test_the_console_offers_the_eighty_functions_and_the_objects() -> None:
    public = {name for name, value in vars(MConsoleAPI).items()
              if inspect.isfunction(value) and not name.startswith("_")}  # fmt: skip
    assert public - {"connect", "functions"} == set(FUNCTION_NAMES + EXTENSIONS)
    assert list(MConsoleAPI.functions()) == list(FUNCTION_NAMES)
    assert list(MConsoleAPI.functions(extensions=True)) == list(FUNCTION_NAMES + EXTENSIONS)
    for name in ("MJob", "MChunk", "MNode", "MPool", "MUser", "MGroup", "MRepository",
                 "MDispatcherConfiguration", "MLDAPConfiguration", "MStringRef", "MUSTERERR"):  # fmt: skip
        assert getattr(MConsoleAPI, name) is getattr(MDispatcherAPI, name)
    assert MConsoleAPI.NOT_SUPPORTED == ()


def test_signatures_match_the_dispatcher_api() -> None:
    for name, function in MConsoleAPI.functions(extensions=True).items():
        console = list(inspect.signature(function).parameters)
        dispatcher = list(inspect.signature(getattr(MDispatcherAPI, name)).parameters)
        assert console == dispatcher, name


@pytest.mark.parametrize("where", ["", "dispatcher", "renderclient"])
def test_every_function_refuses_the_wrong_context(context: None, where: str) -> None:
    set_context(where)
    for name, function in MConsoleAPI.functions(extensions=True).items():
        required = [p for p in inspect.signature(function).parameters.values()
                    if p.default is inspect.Parameter.empty]  # fmt: skip
        result = function(*[None] * len(required))
        err = result[0] if isinstance(result, tuple) else result
        assert err.getErrorCode() == kErrWrongContext, name
        assert (repr(where) if where else "plain Python") in err.getDescription(), name


def test_shapes_on_errors_and_an_unusable_address(context: None) -> None:
    set_context("console")
    MConsoleAPI.connect("not a url at all ::", token="x", timeout_s=2)  # fails before a socket
    err, jobs = MConsoleAPI.jobGetList()
    assert jobs == [] and err.getErrorCode() == kErrDisconnected
    err, start, end, samples = MConsoleAPI.dbGetStatisticsBounds()
    assert (start, end, samples) == (0.0, 0.0, 0) and err.getErrorCode() == kErrDisconnected
    err, folder = MConsoleAPI.jobAddFolder(-1, "ana", "shots")
    assert folder == -1 and err.getErrorCode() == kErrDisconnected
    assert MConsoleAPI.jobGet("seven")[0].getErrorCode() == kErrBadArgument
    assert MConsoleAPI.jobDelete(3).getErrorCode() == kErrDisconnected


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_a_rest_error_gets_the_code_the_api_service_gives(kind: type[errors.CorralError]) -> None:
    exc = _instance(kind)
    status, title = web.status_for(exc)
    assert transport.code_for_problem(status, title) == code_for(exc)


def test_answers_aiohttp_makes_itself_have_codes() -> None:
    assert transport.code_for_problem(405, "Method Not Allowed") == kErrBadArgument
    assert transport.code_for_problem(413, "Request Entity Too Large") == kErrBadArgument
    assert transport.code_for_problem(0, "") == kErrDisconnected
    assert transport.code_for_problem(504, "Gateway Timeout") == code_for(errors.CorralError("x"))


def test_the_job_form_is_rebuilt_from_the_rest_answer() -> None:
    spec = parse_spec({"title": "t", "frames": "1-9", "batch": 2, "command": ["x"],
                       "environ": {}, "project": ""})  # fmt: skip
    job = build_job(spec, 4, 4, "ana")
    job.time_submitted = 1_700_000_000.25
    fractional = build_job(
        parse_spec({"title": "f", "frames": "1.5-3.5", "command": ["x"]}), 5, 5, "bo"
    )
    for each in (job, fractional):
        answer = pyfarm.job_answer(each, {each.id: each})
        assert job_form(answer) == job_view(each)


def test_set_context_makes_muster_a_builtin(context: None) -> None:
    set_context("console")
    assert builtins.muster is importlib.import_module("muster")  # type: ignore[attr-defined]
    namespace: dict[str, object] = {}
    exec(
        'if (muster.runningContext() == "console"): import MConsoleAPI\n'
        'elif (muster.runningContext() == "dispatcher"): import MDispatcherAPI\n'
        'elif (muster.runningContext() == "renderclient"): import MInstanceAPI\n',
        namespace,
    )
    assert "MConsoleAPI" in namespace and "muster" not in namespace


def test_every_function_names_a_declared_route() -> None:
    from types import SimpleNamespace

    from console.consoleapi.status import ROUTES
    from dispatcher.web.endpoint import declared_endpoints

    app = web.make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    declared = {f"{e.method} {e.path}" for e in declared_endpoints(app)}
    assert set(ROUTES) == set(FUNCTION_NAMES + EXTENSIONS)
    unknown = {name: routes for name, routes in ROUTES.items() if not set(routes) <= declared}
    assert not unknown, unknown


def test_the_status_page_is_current() -> None:
    from pathlib import Path

    from console.consoleapi.status import render

    page = Path(__file__).resolve().parents[2] / "docs" / "console-api-status.md"
    assert page.read_text() == render(), (
        "docs/console-api-status.md is stale: run "
        "`python -m console.consoleapi.status > docs/console-api-status.md`"
    )
