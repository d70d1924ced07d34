"""The shape of a job's notified users: request bodies, stored lists, webhook URLs."""

from __future__ import annotations

import pytest

from dispatcher.errors import ValidationError
from dispatcher.model import Job
from dispatcher.notified import check_webhook, entries, parse_entry, to_stored


@pytest.mark.parametrize(
    "url", ["http://hooks.studio.test/x?k=1", "https://10.0.0.5:8443/", "http://[::1]:80/p"]
)
def test_http_and_https_urls_are_webhooks(url: str) -> None:
    assert check_webhook(url) == url


@pytest.mark.parametrize(
    "url",
    ["ftp://host/x", "file:///etc/passwd", "javascript:alert(1)", "http://", "hooks.test/x",
     "http://host:99999/", "http://host/a b", "http://host/\n"],
)  # fmt: skip
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_webhook(url)


def test_an_entry_has_pyfarms_defaults_and_strict_types() -> None:
    entry = parse_entry({"username": "testuser"})
    assert (entry.on_success, entry.on_failure, entry.on_deletion) == (True, True, False)
    with pytest.raises(ValidationError) as refused:
        parse_entry({"username": "testuser", "on_success": "true"})
    assert refused.value.field == "on_success"
    with pytest.raises(ValidationError) as refused:
        parse_entry({"username": "testuser", "email": "x@y"})
    assert refused.value.field == "email"


def test_a_submitted_list_is_numbered_with_one_entry_per_user() -> None:
    stored = to_stored(
        [{"username": "a"}, {"username": "b", "webhook": "https://h.test/"},
         {"username": "a", "on_deletion": True}]
    )  # fmt: skip
    assert stored == [
        {"id": 1, "username": "a", "on_success": True, "on_failure": True, "on_deletion": True},
        {"id": 2, "username": "b", "on_success": True, "on_failure": True, "on_deletion": False,
         "webhook": "https://h.test/"},
    ]  # fmt: skip
    for bad, field in (({"username": "a"}, "notified_users"), ([{"username": 1}], "notified_users.0.username"),
                       (["a"], "notified_users.0"), ([{"username": "a"}] * 101, "notified_users")):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            to_stored(bad)
        assert refused.value.field == field


def test_a_stored_list_is_read_whatever_it_holds() -> None:
    job = Job(id=1, title="t")
    job.notified_users = [
        {"username": "a"},
        "junk",
        {"username": 5},
        {"id": 7, "username": "b", "on_success": False, "webhook": "file:///etc/passwd"},
        {"username": "c", "webhook": "http://ok.test/"},
    ]
    assert entries(job) == [
        {"id": 1, "username": "a", "on_success": True, "on_failure": True, "on_deletion": False, "webhook": None},
        {"id": 7, "username": "b", "on_success": False, "on_failure": True, "on_deletion": False, "webhook": None},
        {"id": 5, "username": "c", "on_success": True, "on_failure": True, "on_deletion": False, "webhook": "http://ok.test/"},
    ]  # fmt: skip
