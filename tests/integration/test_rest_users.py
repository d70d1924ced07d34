"""REST v1 users and groups on a real farm: made, read, changed and removed through
the routes, seen through login and the hook API; no answer carries a password hash
or a token; every bad request refused with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import script_json, start_farm
from tests.integration.restkit import MAX_REQUEST_BYTES, Write, call, check_refusals, make_user, ok

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, str]]:
    root: Path = tmp_path_factory.mktemp("rest-users")
    farm = start_farm(root / "farm", "--max-request-bytes", str(MAX_REQUEST_BYTES))
    yield farm, make_user(farm, "sub", "submit")
    farm.close()


def api(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI\n" + code)


def no_secrets(farm: Farm, answer: Any, *secrets: str) -> None:
    text = json.dumps(answer)
    for word in ("argon2", "password", "hash", "token", "digest", *secrets):
        assert word not in text, f"{word!r} in {text}"


def test_users(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    body = {
        "name": "ana",
        "email": "ana@studio",
        "permissions": ["submit", "manage_own"],
        "password": "first-password",
    }
    made = ok(farm, "POST", "/api/v1/users/", body, 201)
    assert made == {
        "name": "ana",
        "email": "ana@studio",
        "groups": [],
        "permissions": ["manage_own", "submit"],
        "ldap": False,
    }
    token = ok(farm, "POST", "/api/v1/login", {"username": "ana", "password": "first-password"})[
        "token"
    ]
    for answer in (made, ok(farm, "GET", "/api/v1/users/ana"), ok(farm, "GET", "/api/v1/users/")):
        no_secrets(farm, answer, "first-password", token, farm.token)
    assert ok(farm, "GET", "/api/v1/users/ana", token=token)["email"] == "ana@studio"

    changed = ok(
        farm,
        "PATCH",
        "/api/v1/users/ana",
        {"email": "ana@farm", "permissions": ["submit"], "password": "second-password"},
    )
    assert changed["email"] == "ana@farm" and changed["permissions"] == ["submit"]
    no_secrets(farm, changed, "second-password")
    wrong = call(farm, "POST", "/api/v1/login", {"username": "ana", "password": "first-password"})
    assert wrong.status == 401
    ok(farm, "POST", "/api/v1/login", {"username": "ana", "password": "second-password"})
    seen = api(
        farm,
        "err, user = MDispatcherAPI.userGet('ana')\n"
        "print(json.dumps([user.getEmail(), user.getPermissions()]))",
    )
    assert seen[0] == "ana@farm" and "submit" in seen[1] and "manage_own" not in seen[1]

    ok(farm, "DELETE", "/api/v1/users/ana", status=204)
    assert call(farm, "GET", "/api/v1/users/ana").status == 404
    assert call(farm, "GET", "/api/v1/jobs/", token=token).status == 401  # its tokens went too
    assert call(farm, "DELETE", "/api/v1/users/admin").status == 403
    assert "ana" not in [user["name"] for user in ok(farm, "GET", "/api/v1/users/")]


def test_groups(setup: tuple[Farm, str]) -> None:
    farm, _ = setup
    ok(farm, "POST", "/api/v1/users/", {"name": "ben"}, 201)
    made = ok(
        farm,
        "POST",
        "/api/v1/groups/",
        {"name": "fx", "description": "effects", "permissions": ["submit"], "users": ["ben"]},
        201,
    )
    assert made == {
        "name": "fx",
        "description": "effects",
        "permissions": ["submit"],
        "users": ["ben"],
    }
    assert ok(farm, "GET", "/api/v1/groups/fx") == made
    assert made in ok(farm, "GET", "/api/v1/groups/")
    assert ok(farm, "GET", "/api/v1/users/ben")["groups"] == ["fx"]

    changed = ok(
        farm, "PATCH", "/api/v1/groups/fx", {"users": [], "permissions": ["submit", "manage_own"]}
    )
    assert changed["users"] == [] and changed["permissions"] == ["manage_own", "submit"]
    assert ok(farm, "GET", "/api/v1/users/ben")["groups"] == []
    seen = api(
        farm,
        "err, group = MDispatcherAPI.groupGet('fx')\nprint(json.dumps(group.getPermissions()))",
    )
    assert "manage_own" in seen
    ok(farm, "PATCH", "/api/v1/users/ben", {"groups": ["fx"]})
    assert ok(farm, "GET", "/api/v1/groups/fx")["users"] == ["ben"]

    ok(farm, "DELETE", "/api/v1/groups/fx", status=204)
    assert call(farm, "GET", "/api/v1/groups/fx").status == 404
    assert ok(farm, "GET", "/api/v1/users/ben")["groups"] == []


def test_user_and_group_refusals(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    ok(farm, "POST", "/api/v1/users/", {"name": "kept"}, 201)
    ok(farm, "POST", "/api/v1/groups/", {"name": "crew"}, 201)
    check_refusals(farm, Write("POST", "/api/v1/users/", {"name": "new"}), submitter)
    check_refusals(
        farm,
        Write("PATCH", "/api/v1/users/kept", {"email": "x@y"}, "/api/v1/users/nobody"),
        submitter,
    )
    check_refusals(
        farm, Write("DELETE", "/api/v1/users/kept", None, "/api/v1/users/nobody"), submitter
    )
    check_refusals(farm, Write("POST", "/api/v1/groups/", {"name": "new"}), submitter)
    check_refusals(
        farm,
        Write("PATCH", "/api/v1/groups/crew", {"description": "x"}, "/api/v1/groups/nobody"),
        submitter,
    )
    check_refusals(
        farm, Write("DELETE", "/api/v1/groups/crew", None, "/api/v1/groups/nobody"), submitter
    )
    for path, body, field in [
        ("/api/v1/users/", {"name": "kept"}, None),  # exists: 409
        ("/api/v1/users/", {"name": "x", "permissions": ["fly"]}, "permissions"),
        ("/api/v1/users/", {"name": "x", "groups": ["nope"]}, "groups"),
        ("/api/v1/users/", {"name": "bad\nname"}, "name"),
        ("/api/v1/groups/", {"name": "crew"}, None),
        ("/api/v1/groups/", {"name": "x", "users": ["nobody"]}, "users"),
    ]:
        answer = call(farm, "POST", path, body)
        assert answer.status in (400, 409) and answer.field == field, (body, answer.body)
    assert call(farm, "PATCH", "/api/v1/users/admin", {"permissions": ["submit"]}).status == 403
    assert "administer" in ok(farm, "GET", "/api/v1/users/admin")["permissions"]
    assert call(farm, "GET", "/api/v1/users/", token="").status == 401
