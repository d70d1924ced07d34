"""Job files for `corral submit --file`: JSON and TOML, dependency order, names resolved
to positions of the same submit, and the files refused whole."""

from __future__ import annotations

import io

import click
import pytest

from console import jobfile
from console.jobfile import JobFileError, order, parse_either, parse_text
from console.jobs_cli import read_job_file


def test_toml_jobs_are_read_as_a_list() -> None:
    jobs, single = parse_text('[[job]]\ntitle = "a"\n[[job]]\ntitle = "b"\n', toml=True)
    assert [job["title"] for job in jobs] == ["a", "b"] and not single
    jobs, single = parse_text('title = "one"\nstart = 1\n', toml=True)
    assert jobs == [{"title": "one", "start": 1}] and single
    jobs, single = parse_text('{"jobs": [{"title": "x"}]}', toml=False)
    assert jobs == [{"title": "x"}] and not single


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "non-empty list"),
        ("[1]", "non-empty list"),
        ('{"job": {"title": "x"}}', "must be a list"),
        ('{"job": [], "jobs": []}', "not both"),
        ("[" * 100_000, "nests too deeply"),
    ],
)
def test_malformed_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(JobFileError, match=message):
        parse_text(text, toml=False)


def test_a_file_of_neither_kind_is_named_so() -> None:
    assert parse_either('title = "t"')[0] == [{"title": "t"}]
    assert parse_either('{"title": "t"}')[0] == [{"title": "t"}]
    with pytest.raises(JobFileError, match="neither JSON nor TOML"):
        parse_either("{oops")


def test_order_puts_each_job_after_those_it_waits_for() -> None:
    jobs = [
        {"name": "comp", "title": "C", "depends_on": [{"job": "render", "mode": "always"}, 7]},
        {"name": "render", "title": "R", "depends_on": ["sim"]},
        {"name": "sim", "title": "S"},
        {"title": "other"},
    ]
    body = order(jobs)
    assert [job["title"] for job in body] == ["S", "R", "C", "other"]
    assert body[1]["depends_on"] == [{"submitted": 0}]
    assert body[2]["depends_on"] == [{"submitted": 1, "mode": "always"}, 7]
    assert all("name" not in job for job in body)


def test_a_title_names_a_job_without_a_name() -> None:
    body = order([{"title": "b", "depends_on": ["a"]}, {"title": "a"}])
    assert body == [{"title": "a"}, {"title": "b", "depends_on": [{"submitted": 0}]}]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}],
         "cycle: 'a' -> 'b' -> 'a'"),
        ([{"name": "a", "depends_on": ["a"]}], "cycle: 'a' -> 'a'"),
        ([{"name": "a", "depends_on": ["ghost"]}], "'ghost', which no job"),
        ([{"name": "a"}, {"name": "a"}], "two jobs are named 'a'"),
        ([{"name": ""}], "non-empty string"),
        ([{"name": "a", "depends_on": "b"}], "must be a list"),
    ],
)  # fmt: skip
def test_bad_dependencies_refuse_the_whole_file(
    jobs: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(JobFileError, match=message):
        order(jobs)


def test_a_long_chain_orders_without_recursion() -> None:
    jobs = [{"name": f"j{n}", "depends_on": [f"j{n + 1}"]} for n in range(5000)]
    jobs.append({"name": "j5000"})
    body = order(jobs)
    assert body[0] == {} and body[-1] == {"depends_on": [{"submitted": 5000 - 1}]}


def test_an_oversized_file_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobfile, "MAX_FILE_BYTES", 16)
    stream = io.StringIO('{"title": "' + "x" * 64 + '"}')
    with pytest.raises(click.BadParameter, match="over 16 bytes"):
        read_job_file(stream)


def test_a_named_file_is_read_by_its_extension() -> None:
    toml = io.StringIO('title = "t"\ncommand = ["true"]\n')
    toml.name = "job.toml"
    assert read_job_file(toml) == {"title": "t", "command": ["true"]}
    as_json = io.StringIO('title = "t"\n')
    as_json.name = "job.json"
    with pytest.raises(click.BadParameter, match="not valid JSON"):
        read_job_file(as_json)
