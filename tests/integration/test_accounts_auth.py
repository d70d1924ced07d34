"""Accounts over REST on a live dispatcher: group permissions, token expiry and
revocation, the token listing, the login rate limit, the session cookie with its CSRF
token, and bad input on each of these endpoints."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from dispatcher.operations import Actor
from dispatcher.web.app import make_app
from dispatcher.web.openapi import build_document
from tests.integration.inprocess import HttpError, Live, live_dispatcher

JOB = {"title": "t", "command": ["true"], "paused": True}


async def add_user(live: Live, name: str, password: str, *permissions: str) -> None:
    await live.ops.accounts.add_user(
        Actor.system(), {"name": name, "password": password, "permissions": list(permissions)}
    )


async def raw(
    live: Live, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    """One request with exactly these headers (no token added): status, body, headers."""
    url = live.dispatcher.http_url + path
    data = None if body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    async with live.session.request(method, url, data=data, headers=all_headers) as answer:
        text = await answer.text()
        value = json.loads(text) if text and "json" in answer.content_type else text
        return answer.status, value, answer.headers


async def login(live: Live, user: str, password: str) -> str:
    status, body, _ = await raw(
        live, "POST", "/api/v1/login", {"username": user, "password": password}
    )
    assert status == 200, body
    return str(body["token"])


async def status_of(live: Live, method: str, path: str, token: str, body: Any = None) -> int:
    try:
        await live.rest(method, path, body, token=token)
    except HttpError as exc:
        return exc.status
    return 200


async def test_group_permissions_decide_what_a_user_may_do(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "carol", "carol-secret")
        ops, system = live.ops, Actor.system()
        await ops.accounts.configure_user(system, {"name": "carol", "permissions": []})
        token = await login(live, "carol", "carol-secret")
        assert await status_of(live, "POST", "/api/v1/jobs/", token, JOB) == 403

        # Membership of a group with submit and manage_own lets her submit, with the same token.
        await ops.accounts.add_group(
            system, {"name": "artists", "permissions": ["submit", "manage_own"]}
        )
        assert await status_of(live, "POST", "/api/v1/jobs/", token, JOB) == 403
        await ops.accounts.configure_group(system, {"name": "artists", "users": ["carol"]})
        job = await live.rest("POST", "/api/v1/jobs/", JOB, token=token)
        assert job["user"] == "carol"
        status, body, _ = await raw(
            live, "POST", "/api/v1/login", {"username": "carol", "password": "carol-secret"}
        )
        assert body["permissions"] == ["manage_own", "submit"]
        # ... but not to manage nodes' scripts, which the group does not give.
        assert await status_of(live, "POST", "/api/v1/scripts/run", token,
                               {"name": "x.py", "code": "print(1)"}) == 403  # fmt: skip

        # A group that gains manage_all lets her delete the admin's job.
        admins = await live.rest("POST", "/api/v1/jobs/", {**JOB, "title": "admin's"})
        assert await status_of(live, "DELETE", f"/api/v1/jobs/{admins['id']}", token) == 403
        await ops.accounts.configure_group(
            system, {"name": "artists", "permissions": ["submit", "manage_own", "manage_all"]}
        )
        assert await status_of(live, "DELETE", f"/api/v1/jobs/{admins['id']}", token) == 200
        assert admins["id"] not in live.dispatcher.queue.jobs

        # Leaving the group takes every one of its permissions away again.
        await ops.accounts.configure_user(system, {"name": "carol", "groups": []})
        assert await status_of(live, "POST", "/api/v1/jobs/", token, JOB) == 403
        assert (
            await status_of(live, "POST", f"/api/v1/jobs/{job['id']}/actions/resume", token) == 403
        )
        # Removing a group does the same for its members.
        await ops.accounts.configure_user(system, {"name": "carol", "groups": ["artists"]})
        assert (
            await status_of(live, "POST", "/api/v1/jobs/", token, {**JOB, "title": "carol again"})
            == 200
        )
        await ops.accounts.remove_group(system, "artists")
        assert await status_of(live, "POST", "/api/v1/jobs/", token, JOB) == 403


async def test_tokens_expire_but_the_admin_file_token_does_not(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d", token_ttl_s=1.0) as live:
        await add_user(live, "bob", "bob-secret", "submit", "manage_own")
        token = await login(live, "bob", "bob-secret")
        assert await status_of(live, "GET", "/api/v1/jobs/", token) == 200
        listed = await live.rest("GET", "/api/v1/tokens/?user=bob")
        assert len(listed) == 1 and listed[0]["expires"] is not None
        await asyncio.sleep(1.2)
        status, body, headers = await raw(
            live, "GET", "/api/v1/jobs/", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 401 and "expired" in body["detail"]
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert await status_of(live, "POST", "/api/v1/jobs/", token, JOB) == 401
        assert not live.dispatcher.queue.jobs
        assert await live.rest("GET", "/api/v1/tokens/?user=bob") == []  # gone from the list
        admin = [t for t in await live.rest("GET", "/api/v1/tokens/") if t["user"] == "admin"]
        assert [t["kind"] for t in admin] == ["admin_file"] and admin[0]["expires"] is None
        assert await status_of(live, "GET", "/api/v1/jobs/", live.token) == 200


async def test_revoking_and_listing_tokens(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "bob", "bob-secret", "submit", "manage_own")
        await add_user(live, "eve", "eve-secret", "submit", "manage_own")
        bob1, bob2 = await login(live, "bob", "bob-secret"), await login(live, "bob", "bob-secret")
        eve = await login(live, "eve", "eve-secret")

        everyone = await live.rest("GET", "/api/v1/tokens/")
        assert sorted(t["user"] for t in everyone) == ["admin", "bob", "bob", "eve"]
        text = json.dumps(everyone)
        for token in (bob1, bob2, eve, live.token):  # never a token, nor its digest
            assert token not in text
        stored = live.dispatcher.users.users["bob"].tokens
        assert all(record.digest not in text for record in stored)
        assert set(everyone[0]) == {
            "id",
            "user",
            "kind",
            "created",
            "last_used",
            "expires",
            "current",
        }
        assert all(t["last_used"] is None for t in everyone if t["user"] == "eve")

        # A user sees only their own, and may not list or revoke anyone else's.
        own = await live.rest("GET", "/api/v1/tokens/", token=bob1)
        assert [t["user"] for t in own] == ["bob", "bob"]
        assert [t["current"] for t in own].count(True) == 1
        assert next(t for t in own if t["current"])["last_used"] is not None
        for path in ("/api/v1/tokens/?user=admin", "/api/v1/tokens/?user=eve"):
            assert await status_of(live, "GET", path, bob1) == 403
        eve_id = next(t["id"] for t in everyone if t["user"] == "eve")
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{eve_id}", bob1) == 403
        assert await status_of(live, "GET", "/api/v1/jobs/", eve) == 200

        # A user revokes their own; an administrator anyone's.
        other = next(t["id"] for t in own if not t["current"])
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{other}", bob1) == 200
        assert await status_of(live, "GET", "/api/v1/jobs/", bob2) == 401
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{eve_id}", live.token) == 200
        assert await status_of(live, "GET", "/api/v1/jobs/", eve) == 401
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{eve_id}", live.token) == 404

        # Logging out revokes the token in use, durably.
        assert (await live.rest("POST", "/api/v1/logout", token=bob1))["revoked"]
        assert await status_of(live, "GET", "/api/v1/jobs/", bob1) == 401
        assert await status_of(live, "POST", "/api/v1/logout", bob1) == 401
        assert {a["action"] for a in live.actions()} >= {"logout", "token_revoke", "login"}
        assert [e.action for e in live.events if e.action == "logout"] == ["logout"]

        # The admin file's token does not log out; revoking it writes a new one into the file.
        file_token = live.token
        assert await status_of(live, "POST", "/api/v1/logout", file_token) == 409
        assert await status_of(live, "GET", "/api/v1/jobs/", file_token) == 200
        admin_id = next(t["id"] for t in everyone if t["user"] == "admin")
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{admin_id}", file_token) == 200
        assert await status_of(live, "GET", "/api/v1/jobs/", file_token) == 401
        fresh = (live.dispatcher.settings.data_dir / "admin.token").read_text().strip()
        assert fresh != file_token
        assert await status_of(live, "GET", "/api/v1/jobs/", fresh) == 200


async def test_revocations_survive_a_restart(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "bob", "bob-secret", "submit")
        kept, dropped = (
            await login(live, "bob", "bob-secret"),
            await login(live, "bob", "bob-secret"),
        )
        await live.rest("POST", "/api/v1/logout", token=dropped)
    async with live_dispatcher(tmp_path / "d") as live:
        assert await status_of(live, "GET", "/api/v1/jobs/", kept) == 200
        assert await status_of(live, "GET", "/api/v1/jobs/", dropped) == 401


async def test_login_is_rate_limited_per_user_and_per_address(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d", login_max_failures=3, login_window_s=10.0) as live:
        # (a window long enough that three slow failed logins on a loaded machine fit in it)
        await add_user(live, "bob", "bob-secret", "submit")
        good = {"username": "bob", "password": "bob-secret"}
        bad = {"username": "bob", "password": "wrong"}
        for _ in range(3):
            assert (await raw(live, "POST", "/api/v1/login", bad))[0] == 401
        status, body, headers = await raw(live, "POST", "/api/v1/login", good)
        assert status == 429, body  # even the right password waits
        wait_s = int(headers["Retry-After"])
        assert 1 <= wait_s <= 10 and "try again" in body["detail"]
        tokens_before = len(live.dispatcher.users.users["bob"].tokens)
        await asyncio.sleep(wait_s + 0.1)
        status, body, _ = await raw(live, "POST", "/api/v1/login", good)
        assert status == 200 and body["token"]
        assert len(live.dispatcher.users.users["bob"].tokens) == tokens_before + 1

        # From one address, failures for different names count together.
        for name in ("x1", "x2", "x3"):
            assert (await raw(live, "POST", "/api/v1/login", {"username": name, "password": "p"}))[
                0
            ] == 401
        status, _, headers = await raw(live, "POST", "/api/v1/login", good)
        assert status == 429
        assert "login_limited" in {a["action"] for a in live.actions()}
        await asyncio.sleep(int(headers["Retry-After"]) + 0.1)
        assert (await raw(live, "POST", "/api/v1/login", good))[0] == 200


async def test_session_cookie_needs_the_csrf_token_on_writes(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "ann", "ann-secret", "submit", "manage_own")
        status, body, headers = await raw(
            live,
            "POST",
            "/api/v1/login",
            {"username": "ann", "password": "ann-secret", "cookie": True},
        )
        assert status == 200 and body["csrf_token"] and body.get("token") is None
        cookie_header = headers["Set-Cookie"]
        attributes = [part.strip().lower() for part in cookie_header.split(";")]
        assert (
            "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
        )
        assert "secure" not in attributes  # plain HTTP here; over TLS the cookie is Secure
        name, _, value = cookie_header.split(";")[0].partition("=")
        assert name == "corral_session" and value
        cookie = {"Cookie": f"corral_session={value}"}
        csrf = {"X-CSRF-Token": body["csrf_token"]}

        # Reads (an EventSource too) need the cookie alone.
        status, jobs, _ = await raw(live, "GET", "/api/v1/jobs/", headers=cookie)
        assert status == 200 and jobs == []
        # A write without the CSRF token, or with a wrong one, is refused and changes nothing.
        for extra in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
            status, problem, _ = await raw(live, "POST", "/api/v1/jobs/", JOB, {**cookie, **extra})
            assert status == 403 and "X-CSRF-Token" in problem["detail"], problem
        assert not live.dispatcher.queue.jobs
        status, job, _ = await raw(live, "POST", "/api/v1/jobs/", JOB, {**cookie, **csrf})
        assert status == 201 and job["user"] == "ann"
        status, _, _ = await raw(live, "DELETE", f"/api/v1/jobs/{job['id']}", None, cookie)
        assert status == 403 and job["id"] in live.dispatcher.queue.jobs

        # Bearer tokens need no CSRF token; a bearer token is no session cookie.
        bearer = await login(live, "ann", "ann-secret")
        status, _, _ = await raw(
            live,
            "POST",
            "/api/v1/jobs/",
            {**JOB, "title": "by bearer"},
            {"Authorization": f"Bearer {bearer}"},
        )
        assert status == 201
        status, _, _ = await raw(
            live, "GET", "/api/v1/jobs/", headers={"Cookie": f"corral_session={bearer}"}
        )
        assert status == 401

        # Logging out ends the session and clears the cookie.
        status, _, headers = await raw(live, "POST", "/api/v1/logout", None, {**cookie, **csrf})
        assert status == 200 and "corral_session=" in headers["Set-Cookie"]
        assert (await raw(live, "GET", "/api/v1/jobs/", headers=cookie))[0] == 401
        listed = await live.rest("GET", "/api/v1/tokens/?user=ann")
        assert [t["kind"] for t in listed] == ["bearer"]


async def _status_with(
    live: Live, method: str, path: str, headers: dict[str, str]
) -> tuple[int, str]:
    """Status and (problem) detail of a request without a body; a stream's body is not read."""
    url = live.dispatcher.http_url + path
    async with live.session.request(method, url, headers=headers) as answer:
        if answer.content_type == "text/event-stream":
            return answer.status, ""
        text = await answer.text()
        value = json.loads(text) if "json" in answer.content_type else None
        detail = value.get("detail", "") if isinstance(value, dict) else ""
        if not detail and isinstance(value, dict) and "ResponseStatus" in value:  # Muster's
            detail = value["ResponseStatus"]["Description"]
        return answer.status, str(detail)


async def test_the_session_cookie_is_accepted_on_every_route(tmp_path: Path) -> None:
    """Every route of the API document that needs a token takes the session cookie instead
    (the event stream above all: a browser's EventSource sends no header), and every write
    refuses it without the CSRF token before doing anything."""
    document = build_document(make_app(SimpleNamespace(), max_request_bytes=1024))  # type: ignore[arg-type]
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "ann", "ann-secret", "submit", "manage_own")
        login_body = {"username": "ann", "password": "ann-secret", "cookie": True}
        status, body, headers = await raw(live, "POST", "/api/v1/login", login_body)
        assert status == 200
        cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
        csrf = {**cookie, "X-CSRF-Token": body["csrf_token"]}
        before = (sorted(live.dispatcher.queue.jobs), len(live.actions()))
        tried = 0
        for template, item in document["paths"].items():
            path = re.sub(r"\{\w+\}", "999999", template)  # ids that name nothing: no change
            for method, operation in item.items():
                if operation["security"] == [] or template == "/api/v1/logout":
                    continue  # public; logging out would end the session under test
                what = f"{method.upper()} {template}"
                if method != "get":
                    status, detail = await _status_with(live, method, path, cookie)
                    assert status == 403 and "X-CSRF-Token" in detail, (what, status, detail)
                status, detail = await _status_with(live, method, path, csrf)
                assert status != 401, (what, detail)
                assert "X-CSRF-Token" not in detail, (what, detail)
                tried += 1
        assert tried > 100
        status, _ = await _status_with(live, "GET", "/api/v1/events", cookie)
        assert status == 200
        assert (sorted(live.dispatcher.queue.jobs), len(live.actions())) == before


BAD_INPUT: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/api/v1/login", {"username": "bob", "password": "x", "extra": 1}, 400, "extra"),
    ("POST", "/api/v1/login", {"username": "bob", "password": 5}, 400, "password"),
    (
        "POST",
        "/api/v1/login",
        {"username": "bob", "password": "x", "cookie": "yes"},
        400,
        "cookie",
    ),
    ("POST", "/api/v1/login", "not an object", 400, None),
    ("GET", "/api/v1/tokens/?colour=red", None, 400, "colour"),
    ("GET", "/api/v1/tokens/?user=" + "u" * 300, None, 400, "user"),
    ("GET", "/api/v1/tokens/?user=nobody", None, 200, None),
    ("DELETE", "/api/v1/tokens/" + "f" * 100, None, 400, "id"),
    ("DELETE", "/api/v1/tokens/0123456789abcdef", None, 404, None),
    (
        "POST",
        "/api/v1/users/bob/password",
        {"password": "long-enough", "colour": 1},
        400,
        "colour",
    ),
    ("POST", "/api/v1/users/bob/password", {"password": 12345678}, 400, "password"),
    ("POST", "/api/v1/users/bob/password", {"password": "short"}, 400, "password"),
    ("POST", "/api/v1/users/bob/password", {"password": "p" * 2000}, 400, "password"),
    ("POST", "/api/v1/users/bob/password", [], 400, None),
    ("POST", "/api/v1/users/nobody/password", {"password": "long-enough"}, 404, None),
]


async def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "bob", "bob-secret", "submit")
        headers = {"Authorization": f"Bearer {live.token}"}
        await raw(live, "GET", "/api/v1/jobs/", None, headers)  # the token's "last used" is set
        for method, path, body, status, field in BAD_INPUT:
            before = {name: user.to_json() for name, user in live.dispatcher.users.users.items()}
            got, answer, _ = await raw(live, method, path, body, headers)
            assert got == status, (path, body, answer)
            if status >= 400:
                assert answer["status"] == status and answer["detail"]
                if field is not None:
                    assert answer.get("field") == field, (path, body, answer)
            after = {name: user.to_json() for name, user in live.dispatcher.users.users.items()}
            assert after == before, (path, body)


async def test_without_a_token_or_with_too_few_permissions(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        await add_user(live, "bob", "bob-secret", "submit")
        await add_user(live, "eve", "eve-secret", "submit")
        before = live.dispatcher.users.users["eve"].to_json()
        admin_id = live.dispatcher.users.users["admin"].tokens[0].id
        for method, path, body in (
            ("GET", "/api/v1/tokens/", None),
            ("DELETE", f"/api/v1/tokens/{admin_id}", None),
            ("POST", "/api/v1/logout", None),
            ("POST", "/api/v1/users/eve/password", {"password": "new-password"}),
        ):
            for headers in (
                {},
                {"Authorization": "Bearer not-a-token"},
                {"Authorization": "Basic x"},
            ):
                status, answer, _ = await raw(live, method, path, body, headers)
                assert status == 401, (path, headers, answer)
        bob = await login(live, "bob", "bob-secret")
        assert await status_of(live, "POST", "/api/v1/users/eve/password", bob,
                               {"password": "new-password"}) == 403  # fmt: skip
        assert await status_of(live, "DELETE", f"/api/v1/tokens/{admin_id}", bob) == 403
        assert live.dispatcher.users.users["eve"].to_json() == before
        assert await status_of(live, "GET", "/api/v1/jobs/", live.token) == 200
