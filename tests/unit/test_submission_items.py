"""Submission items checked at submit (dispatcher/submission_items.py), from a template's
catalog description, and file filters."""

from __future__ import annotations

from typing import Any

import pytest

import MTemplateAPI
from dispatcher import jobspec, submission_items
from dispatcher.errors import ValidationError
from hooks.api.items import filter_accepts
from hooks.catalog import TemplateInfo


@pytest.mark.parametrize(
    ("pattern", "path", "accepted"),
    [
        ("*.katana", "/shots/a.katana", True),
        ("*.katana", "/shots/a.KATANA", True),
        ("*.katana", "/shots/a.katana.bak", False),
        ("*.mb;*.ma", "C:\\shots\\a.ma", True),
        ("Scenes (*.ma)|*.ma", "/a.mb", False),
        ("*.*", "/no/extension", True),
        ("*", "anything", True),
        ("", "anything", True),
    ],
)
def test_file_filters(pattern: str, path: str, accepted: bool) -> None:
    assert filter_accepts(pattern, path) is accepted


def template() -> TemplateInfo:
    made = MTemplateAPI.MTemplate()
    made.setID(5)
    made.setKey("forms")
    items = [
        MTemplateAPI.MTemplateItemBoolean("DENOISE", "Denoise", "", True, 0, 0, 1),
        MTemplateAPI.MTemplateItemCombo("ENGINE", "Engine", "", "cycles", "cycles,eevee"),
        MTemplateAPI.MTemplateItemDouble("SCALE", "Scale", "", 1.0, 0, 0, 1, maximum=4.0),
        MTemplateAPI.MTemplateItemFolder("OUT", "Output", "", "", 0, 1, 1),
    ]
    for item in items:
        made.addSubmissionItem(item)
    made.addMapping("OUT", "output_folder")
    return TemplateInfo(made.to_dict(), frozenset())


def submit(**payload: Any) -> jobspec.JobSpec:
    spec = jobspec.parse_spec({"title": "t", "template": "forms", **payload})
    submission_items.apply(spec, template(), spec._given)
    return spec


def test_values_become_their_types_and_defaults_fill_the_rest() -> None:
    spec = submit(data={"DENOISE": "no", "SCALE": "2.5", "output_folder": "/out"})
    assert spec.data == {
        "DENOISE": False,
        "ENGINE": "cycles",
        "SCALE": 2.5,
        "output_folder": "/out",
    }
    assert spec.priority == 50 and spec.pools == []  # MTemplate's own defaults


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"OUT": "/o", "ENGINE": "arnold"}, "data.ENGINE"),
        ({"OUT": "/o", "DENOISE": "maybe"}, "data.DENOISE"),
        ({"OUT": "/o", "SCALE": 4.5}, "data.SCALE"),
        ({"OUT": "/o", "SCALE": "nan"}, "data.SCALE"),
        ({}, "data.OUT"),
    ],
)
def test_refused_values_name_their_item(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        submit(data=data)
    assert refused.value.field == field and str(refused.value).startswith(field)
