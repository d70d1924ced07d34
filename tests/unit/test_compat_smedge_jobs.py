"""The job side of `import smedge` without a dispatcher: times, ranges, the job mapping
both ways, products from template dicts, ids_to_query, and that the package is Python 3.7
with the standard library alone."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "compat"))

import smedge  # noqa: E402
from smedge import params, products  # noqa: E402

from tests.unit import test_corral_client_source as source_check  # noqa: E402
from tests.unit.test_corral_client_source import test_source_is_python_37  # noqa: E402

MAYA = {
    "id": 6, "key": "maya", "name": "Maya",
    "items": [
        {"name": "MAYAFILE", "type": "file", "label": "Scene", "default": "", "required": True},
        {"name": "MAYACAMERA", "type": "string", "label": "Camera", "default": ""},
        {"name": "MAYAWATERMARK", "type": "boolean", "default": True, "advanced": True},
        {"name": "MAYAEXTRA", "type": "string", "default": ""},
        {"name": "MAYARENDERER", "type": "combo", "default": "file", "choices": ["file", "arnold"]},
    ],
    "mappings": {"MAYAFILE": "job_file", "MAYACAMERA": "camera",
                 "MAYAWATERMARK": "abort_on_watermark", "MAYAEXTRA": "additional_flags",
                 "MAYARENDERER": "renderer"},
}  # fmt: skip
FFMPEG = {
    "id": 5, "key": "ffmpeg", "name": "FFmpeg",
    "items": [
        {"name": "FFINPUT", "type": "file", "default": "", "required": True},
        {"name": "FFOUTPUT", "type": "file", "default": "", "required": True},
        {"name": "FFRATE", "type": "double", "default": 24.0},
        {"name": "FFEXTRA", "type": "string", "default": ""},
    ],
    "mappings": {"FFINPUT": "job_file", "FFOUTPUT": "output_file", "FFRATE": "frame_rate",
                 "FFEXTRA": "additional_flags"},
}  # fmt: skip
CMDLINE = {"id": 1, "key": "cmdline", "name": "Command line", "items": [], "mappings": {}}
PRODUCTS = [products.from_template(t) for t in (MAYA, FFMPEG, CMDLINE)]


def by_name(name: str) -> products.Product:
    found = products.find_product(PRODUCTS, name)
    assert found is not None
    return found


# -- the package -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", sorted((ROOT / "compat" / "smedge").glob("*.py")), ids=lambda path: path.name
)
def test_the_package_is_python_37_and_the_standard_library(path: Path) -> None:
    test_source_is_python_37(path)


def test_the_example_is_python_37_and_the_standard_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source_check, "HOSTS", source_check.HOSTS | {"smedge"})
    test_source_is_python_37(ROOT / "examples" / "compat" / "smedge_submit.py")


def test_every_job_call_of_the_seed_is_exported() -> None:
    names = [
        "conform_job",
        "datetime_to_rtime",
        "delete_jobs",
        "disable_product",
        "enable_product",
        "extract_datetime",
        "find_parameter",
        "find_value",
        "get_job_dispatch_log",
        "get_job_history",
        "get_jobs",
        "get_product_info",
        "ids_to_query",
        "pause_jobs",
        "preempt",
        "pythonize_job",
        "reset_job_failures",
        "resume_jobs",
        "submit_jobs",
        "update_jobs",
        "usurp",
        "HistoryElement",
        "Parameter",
        "Product",
        "SmedgeComponentError",
    ]
    for name in names:
        assert callable(getattr(smedge, name)), name
        assert name in smedge.__all__


# The seed's Contents: its classes, types and methods, every one `from smedge import *` gives.
SEED_CLASSES = ["HistoryElement", "Parameter", "PathTranslation", "Pool", "Product",
                "SmedgeComponentError"]  # fmt: skip
SEED_TYPES = ["AnyPoolType", "EngineType", "JobHistoryType", "JobType", "NameOrID",
              "NameOrIDList", "ParameterList", "RegexList", "TranslationType",
              "TranslationListType"]  # fmt: skip
SEED_METHODS = [
    "add_path_translations",
    "conform_job",
    "create_pools",
    "datetime_to_rtime",
    "delete_jobs",
    "delete_pools",
    "disable_engines",
    "disable_product",
    "download_file",
    "enable_engines",
    "enable_product",
    "extract_datetime",
    "find_parameter",
    "find_value",
    "get_engine_dispatch_log",
    "get_engines",
    "get_job_dispatch_log",
    "get_job_history",
    "get_jobs",
    "get_master_id",
    "get_path_translations",
    "get_pools",
    "get_product_info",
    "ids_to_query",
    "pause_jobs",
    "preempt",
    "pythonize_job",
    "remove_path_translations",
    "rename_pool",
    "reset_engine_failures",
    "reset_job_failures",
    "resume_jobs",
    "set_engines",
    "submit_jobs",
    "super_exit",
    "update_jobs",
    "usurp",
]


def test_star_import_gives_every_name_of_the_seeds_contents() -> None:
    star: dict[str, Any] = {}
    exec("from smedge import *", star)
    for name in SEED_CLASSES + SEED_METHODS:
        assert callable(star.get(name)), name
    for name in SEED_CLASSES:
        assert isinstance(star[name], type), name
    assert issubclass(star["SmedgeComponentError"], Exception)
    for name in SEED_TYPES:  # typing aliases: usable in annotations, as in the seed
        assert star.get(name) is not None, name
        assert "typing" in repr(star[name]) or isinstance(star[name], type), name
    assert isinstance(star["SMEDGE"], Path)
    assert star["PathTranslation"]._fields == ("windows", "linux", "mac")
    assert len(SEED_METHODS) == 37 and len(SEED_TYPES) == 10


def test_smedge_names_the_compat_folder() -> None:
    assert smedge.SMEDGE == ROOT / "compat" or "SMEDGE" in __import__("os").environ


# -- times -----------------------------------------------------------------------------
def test_rtime_round_trips_local_times() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 250000)
    rtime = smedge.datetime_to_rtime(moment)
    assert rtime.isdigit() and smedge.extract_datetime(rtime) == moment
    assert smedge.extract_datetime(int(rtime)) == moment
    assert int(smedge.datetime_to_rtime(moment + timedelta(seconds=1))) - int(rtime) == 1_000_000
    assert smedge.datetime_to_rtime(None) == "0" and smedge.extract_datetime("0") is None
    from corral_client.query import datetime_from_rtime, rtime_from_datetime

    assert rtime == rtime_from_datetime(moment)
    assert datetime_from_rtime(rtime).astimezone().replace(tzinfo=None) == moment


def test_extract_datetime_reads_smedge_text_and_refuses_the_rest() -> None:
    assert smedge.extract_datetime("2026-03-01 12:30:15.25") == datetime(
        2026, 3, 1, 12, 30, 15, 250000
    )
    assert smedge.extract_datetime("2026-03-01") == datetime(2026, 3, 1)
    for bad in ("", "yesterday", "2026-13-01", "9" * 40, None, True):
        assert smedge.extract_datetime(bad) is None  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        smedge.datetime_to_rtime("2026-03-01")  # type: ignore[arg-type]


# -- ranges and ids --------------------------------------------------------------------
@pytest.mark.parametrize(
    "given, expected",
    [("1001-1250", ("1001", "1250", "1")), (1, ("1", "1", "1")), ("7", ("7", "7", "1")),
     (" 1 - 100 x 2 ", ("1", "100", "2")), ("-10--1", ("-10", "-1", "1")),
     ("1.5-3", ("1.5", "3", "1"))],
)  # fmt: skip
def test_parse_range(given: Any, expected: tuple[str, str, str]) -> None:
    assert params.parse_range(given) == expected


@pytest.mark.parametrize("bad", ["ten-twenty", "", "9-1", "1-10x0", True, "1-2-3"])
def test_bad_ranges_are_value_errors(bad: Any) -> None:
    with pytest.raises(ValueError) as raised:
        params.parse_range(bad)
    assert isinstance(raised.value, smedge.SmedgeComponentError)


def test_several_ranges_are_not_supported() -> None:
    with pytest.raises(smedge.SmedgeComponentError, match="not supported") as raised:
        params.parse_range("1-10,20-30")
    assert raised.value.status == 501


def test_ids_to_query() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    assert smedge.ids_to_query(one) == ["ID", "=", str(one)]
    assert smedge.ids_to_query([one, str(two)]) == [
        "any",
        ["ID", "=", str(one)],
        ["ID", "=", str(two)],
    ]
    with pytest.raises(ValueError):
        smedge.ids_to_query([])
    for bad in ([42], ["not-a-uuid"], [None]):
        with pytest.raises(TypeError):
            smedge.ids_to_query(bad)


def test_a_queries_type_names_a_product_by_its_template_key() -> None:
    query = ["any", [["TYPE", "=", "MayaBatch"], ["Type", "!=", "Encode"]],
             ["Type", "=", "Unknown"], ["Name", "=", "MayaBatch"], ["Type", "contains", "may"]]  # fmt: skip
    assert smedge.jobs.product_keys(query, PRODUCTS) == [
        "any", [["TYPE", "=", "maya"], ["Type", "!=", "ffmpeg"]],
        ["Type", "=", "Unknown"], ["Name", "=", "MayaBatch"], ["Type", "contains", "may"],
    ]  # fmt: skip
    assert smedge.jobs.product_keys("a name", PRODUCTS) == "a name"


def test_find_value() -> None:
    assert smedge.find_value({"Scene": 1}, "SCENE") == 1
    assert smedge.find_value({"scene": 1, "Scene": 2}, "Scene") == 2  # the exact key first
    assert smedge.find_value({}, "x") is None and smedge.find_value({}, "x", 3) == 3


# -- products --------------------------------------------------------------------------
def test_products_from_templates() -> None:
    maya = by_name("mayabatch")
    assert maya is by_name("Maya") is by_name(str(maya.type)) and maya.matches(maya.type)
    assert (
        maya.type
        == products.product_id("maya")
        == uuid.uuid5(products.PRODUCT_NAMESPACE, "corral-template:maya")
    )
    assert products.find_product(PRODUCTS, "Houdinii") is None
    scene = smedge.find_parameter(maya.parameters, "scene")
    assert scene is not None and scene.type == "File" and "Required" in scene.flags
    assert scene.settings["Item"] == "MAYAFILE" and scene.settings["Attribute"] == "job_file"
    renderer = smedge.find_parameter(maya.parameters, "Renderer")
    assert renderer is not None and renderer.choices == {"file": "file", "arnold": "arnold"}
    assert renderer.default == "file"
    assert [p.name for p in maya.required_parameters] == ["Range", "Scene", "Type"]
    assert smedge.find_parameter(by_name("Command").parameters, "command") is not None
    assert smedge.find_parameter(maya.parameters, "nothing") is None


def test_product_and_parameter_from_dicts() -> None:
    parameter = smedge.Parameter.from_dict(
        {"type": "Parameters", "flags": ["Required"], "settings": {"Name": "P", "Default": 3},
         "parameters": [{"type": "String", "settings": {"Name": "Child"}}]}
    )  # fmt: skip
    assert parameter.name == "P" and parameter.default == "3"
    assert parameter.parameters[0].name == "Child"
    product = smedge.Product.from_dict(
        {"type": str(uuid.UUID(int=7)), "smedge_class": "x", "name": "X", "queue": 0,
         "aliases": ["ex"], "parameters": [{"type": "String", "settings": {"Name": "A"}}]}
    )  # fmt: skip
    assert product.matches("EX") and product.parameters[0].name == "A"
    assert smedge.Product.from_dict(MAYA).name == "Maya"
    with pytest.raises(ValueError):
        smedge.Parameter.from_dict("nope")  # type: ignore[arg-type]


# -- the job mapping -------------------------------------------------------------------
def test_conform_job_gives_the_raw_form() -> None:
    job_id = uuid.uuid4()
    raw = smedge.conform_job(
        {"ID": job_id, "Name": "n", "type": "maya", "SCENE": PurePosixPath("/s.mb"),
         "Range": 1001, "Priority": 60, "mayacamera": "cam", "ImageFormat": ["/a.%04d.exr",
         "/b.%04d.exr"], "WaitForJobID": [job_id], "paused": True, "Creator": "ignored",
         "Custom": 1.5},
        PRODUCTS,
    )  # fmt: skip
    assert raw == {
        "ID": str(job_id), "Name": "n", "Type": str(products.product_id("maya")),
        "Scene": "/s.mb", "Range": "1001", "Priority": "60", "Camera": "cam",
        "ImageFormat": "/a.%04d.exr;/b.%04d.exr", "WaitForJobID": str(job_id), "paused": "1",
        "Custom": "1.5",
    }  # fmt: skip


@pytest.mark.parametrize(
    "job",
    [{"Name": "no type"}, {"Type": "nope", "Range": 1}, {"Type": "Maya", "Range": 1},
     {"Type": "Maya", "Scene": "/s", "Range": 1, "ID": "bad"},
     {"Type": "Maya", "Scene": "/s", "Range": 1, "WaitForJobID": ["bad"]},
     {"Type": "Maya", "Scene": "/s", "Range": 1, "scene": "/t"},
     {"Type": "Maya", "Scene": "/s", "Range": 1, "X": {"sub": 1}}, "not a dict"],
)  # fmt: skip
def test_conform_job_refuses(job: Any) -> None:
    with pytest.raises(ValueError) as raised:
        smedge.conform_job(job, PRODUCTS)
    assert isinstance(raised.value, smedge.SmedgeComponentError)


def test_sub_parameter_dicts_are_not_supported() -> None:
    """As docs/compat.md says of every "not supported": status 501, the words first, and
    still the ValueError Smedge raises for a job it cannot take."""
    with pytest.raises(ValueError) as raised:
        smedge.conform_job({"Type": "Maya", "Scene": "/s", "Range": 1, "X": {"a": 1}}, PRODUCTS)
    assert isinstance(raised.value, smedge.SmedgeComponentError)
    assert raised.value.status == 501 and str(raised.value).startswith("not supported: ")


def test_unknown_job_events_are_not_supported() -> None:
    with pytest.raises(smedge.SmedgeComponentError, match="not supported"):
        smedge.conform_job(
            {"Type": "Maya", "Scene": "/s", "Range": 1, "JobStartedEvt": "x"}, PRODUCTS
        )


def test_to_spec_maps_onto_the_corral_job() -> None:
    raw = smedge.conform_job(
        {"Name": "Encode", "Type": "ffmpeg", "Scene": "/r/a.%04d.exr", "Range": "1-50",
         "InfileOptions": "-r 25", "OutfileOptions": "-pix_fmt yuv420p", "Extra": "-an",
         "OutputFile": "/r/a.mp4", "CPUs": 0, "Pool": "encoders", "Note": "n",
         "JobFinishedEvt": "python3 done.py $(ID)"},
        PRODUCTS,
    )  # fmt: skip
    spec = params.to_spec(raw, by_name("ffmpeg"), lambda pool: pool.upper(), paused=True)
    assert spec["title"] == "Encode" and spec["template"] == "ffmpeg"
    assert (spec["start"], spec["end"], spec["by"]) == (1.0, 50.0, 1.0)
    assert spec["pools"] == ["ENCODERS"] and spec["paused"] is True and spec["notes"] == "n"
    assert "cpus" not in spec  # 0: the whole machine, kept as given
    data = spec["data"]
    assert data["job_file"] == "/r/a.%04d.exr" and data["output_file"] == "/r/a.mp4"
    assert data["frame_rate"] == 25.0 and data["additional_flags"] == "-an -pix_fmt yuv420p"
    assert data["smedge"]["params"]["CPUs"] == "0"
    assert data["smedge"]["events"] == {"JobFinishedEvt": "python3 done.py $(ID)"}
    uuid.UUID(spec["uuid"])


def test_to_spec_refuses_what_it_cannot_map() -> None:
    maya = by_name("maya")
    base = {"Type": str(maya.type), "Scene": "/s.mb", "Range": "1"}
    for bad, error in ((dict(base, Status="2"), "not supported"),
                       (dict(base, Priority="70000"), "Priority"),
                       (dict(base, Priority="high"), "Priority")):  # fmt: skip
        with pytest.raises(smedge.SmedgeComponentError, match=error):
            params.to_spec(bad, maya, str)
    ffmpeg = by_name("ffmpeg")
    with pytest.raises(smedge.SmedgeComponentError, match="not supported"):
        params.to_spec({"Scene": "/a", "OutputFile": "/b", "InfileOptions": "-ss 3"}, ffmpeg, str)
    command = by_name("command")
    with pytest.raises(ValueError, match="Command"):
        params.to_spec({"Command": "echo 'unclosed"}, command, str)
    assert params.to_spec({"Command": "echo 'a b'"}, command, str)["command"] == ["echo", "a b"]
    for shell in ("render | tee log", "render > log", "a; b", "echo $(date)"):
        with pytest.raises(smedge.SmedgeComponentError) as raised:
            params.to_spec({"Command": shell}, command, str)
        assert raised.value.status == 501
        assert str(raised.value).startswith("not supported: Command: shell syntax")
    quoted = params.to_spec({"Command": "grep '|' notes.txt"}, command, str)
    assert quoted["command"] == ["grep", "|", "notes.txt"]


def test_from_view_and_pythonize_job() -> None:
    other = str(uuid.uuid4())
    view = {
        "id": 3, "uuid": str(uuid.UUID(int=3)), "title": "Render", "template": "maya",
        "start": 1001.0, "end": 1010.0, "by": 1.0, "priority": 70, "pools": ["maya"],
        "notes": "n", "batch": 2, "depends_on": [{"job": 2, "mode": "success"}],
        "per_frame": True, "state": "failed", "paused": False, "user": "joe",
        "time_submitted": "2026-03-01T12:00:00.000000", "failed_reason": "boom", "cpus": 4,
        "command": [], "data": {"job_file": "/s.mb", "camera": "", "renderer": "arnold",
                                "abort_on_watermark": True,
                                "smedge": {"params": {"ImageFormat": "/a.%04d.exr",
                                                      "Type": "Maya"},
                                           "events": {"JobFinishedEvt": "x $(ID)"}}},
    }  # fmt: skip
    raw = params.from_view(view, PRODUCTS, {2: other})
    assert all(isinstance(value, str) for value in raw.values())
    assert raw["Range"] == "1001-1010" and raw["WaitForJobID"] == other
    assert raw["WaitForWholeJob"] == "0" and raw["Status"] == "3" and raw["LastError"] == "boom"
    assert raw["Renderer"] == "arnold" and "Camera" not in raw  # the default is left out
    assert raw["JobFinishedEvt"] == "x $(ID)" and raw["CPUs"] == "4"
    job = smedge.pythonize_job(raw, PRODUCTS, pool=lambda name: ("pool", name))
    assert job["ID"] == uuid.UUID(int=3) and job["Type"] == "Maya" and job["Priority"] == 70
    assert job["WaitForJobID"] == [uuid.UUID(other)] and job["WaitForWholeJob"] is False
    assert job["ImageFormat"] == ["/a.%04d.exr"] and job["Pool"] == ("pool", "maya")
    assert job["Camera"] == "" and job["paused"] is False and job["PacketSize"] == 2
    assert job["Created"] == smedge.extract_datetime(
        smedge.datetime_to_rtime(
            datetime(2026, 3, 1, 12, 0, tzinfo=__import__("datetime").timezone.utc)
        )
    )
    with pytest.raises(ValueError):
        smedge.pythonize_job("nope", PRODUCTS)  # type: ignore[arg-type]


def test_a_batch_is_ordered_so_each_job_follows_those_it_waits_for() -> None:
    from smedge.jobs import _order

    ids = [str(uuid.UUID(int=n + 1)) for n in range(4)]
    raws = [{"WaitForJobID": ids[2]}, {}, {"WaitForJobID": ";".join([ids[1], ids[3]])}, {}]
    assert _order(raws, ids) == [1, 3, 2, 0]
    assert _order([{}, {}], ids[:2]) == [0, 1]
    with pytest.raises(ValueError, match="circle"):
        _order([{"WaitForJobID": ids[1]}, {"WaitForJobID": ids[0]}], ids[:2])
    with pytest.raises(ValueError, match="itself"):
        _order([{"WaitForJobID": ids[0]}], ids[:1])
    many = [str(uuid.UUID(int=n + 1)) for n in range(10_000)]
    chain = [{"WaitForJobID": many[n + 1]} if n + 1 < len(many) else {} for n in range(len(many))]
    assert _order(chain, many) == list(reversed(range(len(many))))
