"""Stock templates' callbacks on the loop; every other template's in a worker thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from dispatcher.errors import TemplateError
from dispatcher.protocol import Assign, Ref
from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.hookcalls import call_template, run_inline
from renderclient.runner import ChunkRun
from renderclient.stock import is_stock

BUNDLED_CMDLINE = (bundled_templates_dir() / "cmdline.py").read_text(encoding="utf-8")


def _site(tmp_path: Path, text: str) -> TemplateSet:
    site = tmp_path / "site"
    site.mkdir()
    (site / "cmdline.py").write_text(text, encoding="utf-8")
    return TemplateSet.load([bundled_templates_dir(), site])


def _cmdline(templates: TemplateSet) -> MTemplate:
    template = templates.get("cmdline")
    assert template is not None
    return template


def test_the_bundled_cmdline_template_is_stock_and_others_are_not() -> None:
    templates = TemplateSet.load([bundled_templates_dir()])
    stock = {template.getKey() for template in templates.templates if is_stock(templates, template)}
    assert stock == {"cmdline"}


def test_a_byte_identical_copy_is_stock(tmp_path: Path) -> None:
    templates = _site(tmp_path, BUNDLED_CMDLINE)
    assert templates.origins["cmdline"].startswith(str(tmp_path))
    assert is_stock(templates, _cmdline(templates))


def test_an_edited_copy_is_not_stock(tmp_path: Path) -> None:
    templates = _site(tmp_path, BUNDLED_CMDLINE + "\n# edited on this farm\n")
    assert not is_stock(templates, _cmdline(templates))


def test_a_replaced_callback_is_not_stock() -> None:
    templates = TemplateSet.load([bundled_templates_dir()])
    template = _cmdline(templates)
    template.onCheckExitCode = lambda *args: None  # type: ignore[method-assign]
    assert not is_stock(templates, template)


def test_a_patched_class_is_not_stock() -> None:
    templates = TemplateSet.load([bundled_templates_dir()])
    template = _cmdline(templates)
    type(template).success_codes = lambda self, job: {0}  # type: ignore[method-assign]
    assert not is_stock(templates, template)


def _raise(exc: Exception) -> None:
    raise exc


async def test_run_inline_answers_as_the_worker_thread_does() -> None:
    assert run_inline(lambda: 7, what="x") == 7
    for call in (run_inline, _in_thread):
        with pytest.raises(TemplateError, match="^hook raised ValueError: bad$") as raised:
            await _maybe(call(lambda: _raise(ValueError("bad")), what="hook"))
        assert isinstance(raised.value.__cause__, ValueError)
    own = TemplateError("its own words")
    with pytest.raises(TemplateError) as kept:
        run_inline(lambda: _raise(own), what="hook")
    assert kept.value is own


def _in_thread(call: Any, *, what: str) -> Any:
    return call_template(call, trusted=False, timeout_s=5, what=what)


async def _maybe(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


async def test_call_template_uses_the_thread_only_for_untrusted_calls() -> None:
    main = threading.get_ident()
    here = await call_template(threading.get_ident, trusted=True, timeout_s=5, what="x")
    there = await call_template(threading.get_ident, trusted=False, timeout_s=5, what="x")
    assert here == main
    assert there != main


def _assign(template: str = "cmdline") -> Assign:
    job: dict[str, Any] = {"id": 3, "template": template, "command": ["sh", "-c", "echo {start}"]}
    job.update(start=1, end=9)
    return Assign(ref=Ref(job=3, chunk=0, attempt=1), job=job, start="2", end="2")


async def _threads_and_output(templates: TemplateSet) -> tuple[set[int], bytes, bool]:
    threads: set[int] = set()
    output: list[bytes] = []

    def preferences(template: MTemplate) -> dict[str, Any]:
        threads.add(threading.get_ident())
        return {}

    run = ChunkRun(
        _assign(), templates, instance=0, on_output=output.append, preferences_of=preferences
    )
    result = await run.run()
    return threads, b"".join(output), result.ok


async def test_a_stock_chunk_builds_on_the_loop_and_others_in_a_thread(tmp_path: Path) -> None:
    stock_threads, stock_output, stock_ok = await _threads_and_output(
        TemplateSet.load([bundled_templates_dir()])
    )
    edited = _site(tmp_path, BUNDLED_CMDLINE + "\n# edited\n")
    edited_threads, edited_output, edited_ok = await _threads_and_output(edited)
    assert stock_threads == {threading.get_ident()}
    assert threading.get_ident() not in edited_threads
    assert stock_output == edited_output == b"2\n"
    assert stock_ok and edited_ok
