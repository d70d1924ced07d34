"""Notified users on a live dispatcher: the PyFarm routes, and the e-mails and webhook
calls that really leave it, received by a real SMTP server (aiosmtpd) and a real
aiohttp server that the test starts on free ports."""

from __future__ import annotations

import asyncio
import email
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from dispatcher.operations import Actor
from tests.integration.inprocess import HttpError, Live, live_dispatcher

pytestmark = pytest.mark.integration

FAST = {"notify_timeout_s": 0.5, "notify_attempts": 3, "notify_retry_s": 0.1}


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message
    login: str | None = None


@dataclass
class MailServer:
    """A real SMTP server on a free port, keeping what it received. It accepts mail
    without a login, and a login only as `corral` with the password `s3cret`."""

    port: int
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content)
        login = session.auth_data if session.authenticated else None
        sender, recipients = str(envelope.mail_from), list(envelope.rcpt_tos)
        self.mails.append(Mail(sender, recipients, message, login))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"corral",
            b"s3cret",
        )
        return AuthResult(success=ok, auth_data="corral" if ok else None)

    def to(self, address: str) -> list[str]:
        return [str(mail.message["Subject"]) for mail in self.mails if address in mail.recipients]


@pytest.fixture
async def smtp() -> AsyncIterator[MailServer]:
    box = MailServer(0)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            box, hostname="mail.test", authenticator=box.authenticate, auth_require_tls=False
        ),
        "127.0.0.1",
        0,
    )
    box.port = server.sockets[0].getsockname()[1]
    yield box
    server.close()
    await server.wait_closed()


@dataclass
class Hooks:
    """A real webhook receiver: /hook takes the call, /hang never answers, /flaky fails
    its first call (500) and takes the next."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    hanging: int = 0
    flaky: int = 0


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    box = Hooks()

    async def hook(request: web.Request) -> web.Response:
        box.calls.append(
            {"path": request.path, "query": dict(request.query), **(await request.json())}
        )
        return web.Response(status=204)

    async def hang(request: web.Request) -> web.Response:
        box.hanging += 1
        await asyncio.sleep(3600)
        return web.Response()

    async def flaky(request: web.Request) -> web.Response:
        box.flaky += 1
        if box.flaky == 1:
            return web.Response(status=500)
        return await hook(request)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/hang", hang)
    app.router.add_post("/flaky", flaky)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}"
    yield box
    await runner.cleanup()


async def account(live: Live, name: str, email_address: str, *permissions: str) -> str:
    """A user with an e-mail address and these permissions; returns a bearer token."""
    user = await live.ops.accounts.add_user(
        Actor.system(), {"name": name, "email": email_address, "permissions": list(permissions)}
    )
    token = live.dispatcher.users.new_token(user)
    await live.dispatcher.store.commit()
    return token


async def job(live: Live, title: str, command: list[str], token: str | None = None) -> int:
    body = {"title": title, "command": command, "paused": True, "requeue": 0}
    return int((await live.rest("POST", "/api/v1/jobs/", body, token))["id"])


async def notify(live: Live, job_id: int, body: dict[str, Any], token: str | None = None) -> Any:
    return await live.rest("POST", f"/api/v1/jobs/{job_id}/notified_users/", body, token)


async def node(live: Live) -> None:
    live.client("alpha")
    await live.wait(lambda: live.dispatcher.node_server.connected(), what="a node online")


# -- the notifications ------------------------------------------------------------------------
async def test_done_failed_and_deleted_jobs_mail_and_call_the_users_who_asked(
    tmp_path: Path, smtp: MailServer, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatcher.notify")
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_from": "farm@studio.test",
        **FAST,
    }
    async with live_dispatcher(tmp_path / "farm", **settings) as live:
        await account(live, "alice", "alice@studio.test")
        await account(live, "bob", "bob@studio.test")
        await account(live, "carol", "")  # no e-mail: her webhook only
        good = await job(live, "good shot", ["true"])
        bad = await job(live, "bad shot", ["false"])
        doomed = await job(live, "doomed shot", ["true"])
        await notify(
            live,
            good,
            {"username": "alice", "on_success": True, "on_failure": False, "on_deletion": False},
        )
        await notify(
            live,
            good,
            {"username": "bob", "on_success": False, "on_failure": True, "on_deletion": True},
        )
        await notify(live, good, {"username": "carol", "webhook": f"{hooks.url}/hook?secret=s1"})
        await notify(
            live,
            bad,
            {"username": "alice", "on_success": True, "on_failure": False, "on_deletion": False},
        )
        await notify(
            live,
            bad,
            {"username": "bob", "on_success": True, "on_failure": True, "on_deletion": False},
        )
        await notify(
            live,
            doomed,
            {"username": "alice", "on_success": False, "on_failure": False, "on_deletion": True},
        )
        await notify(live, doomed, {"username": "bob", "on_success": True, "on_failure": True})
        await node(live)
        for job_id in (good, bad):
            await live.rest("POST", f"/api/v1/jobs/{job_id}/actions/resume")
        await live.wait(lambda: len(smtp.mails) >= 2 and hooks.calls, what="the end notices")
        await live.rest("DELETE", f"/api/v1/jobs/{doomed}")
        await live.wait(lambda: len(smtp.mails) >= 3, what="the deletion notice")
        await asyncio.sleep(0.5)  # nothing more may come

        assert smtp.to("alice@studio.test") == [
            f'Corral: job {good} "good shot" done',
            f'Corral: job {doomed} "doomed shot" deleted',
        ]
        assert smtp.to("bob@studio.test") == [f'Corral: job {bad} "bad shot" failed']
        assert len(smtp.mails) == 3 and all(
            mail.sender == "farm@studio.test" for mail in smtp.mails
        )
        assert all(len(mail.recipients) == 1 and mail.login is None for mail in smtp.mails)
        deleted = next(mail for mail in smtp.mails if "deleted" in str(mail.message["Subject"]))
        assert "deleted by: admin" in deleted.message.get_payload(decode=True).decode()
        assert str(deleted.message["To"]) == "alice@studio.test"

        [call] = hooks.calls
        assert call["path"] == "/hook" and call["query"] == {"secret": "s1"}
        assert (call["event"], call["username"]) == ("done", "carol")
        assert call["job"]["id"] == good and call["job"]["title"] == "good shot"
        assert call["job"]["state"] == "done" and call["job"]["user"] == "admin"
        assert live.dispatcher.notifier.stats["sent"] == 4
        sent = [r.getMessage() for r in caplog.records if "action=notify_sent" in r.getMessage()]
        assert len(sent) == 4
        assert not any("s1" in message for message in sent)  # a webhook's query is not logged


async def test_no_smtp_server_configured_is_logged_never_pretended(
    tmp_path: Path, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatcher.notify")
    async with live_dispatcher(tmp_path / "farm", **FAST) as live:
        await account(live, "alice", "alice@studio.test")
        job_id = await job(live, "shot", ["true"])
        await notify(live, job_id, {"username": "alice", "webhook": f"{hooks.url}/hook"})
        await node(live)
        await live.rest("POST", f"/api/v1/jobs/{job_id}/actions/resume")
        await live.wait(lambda: hooks.calls, what="the webhook call")
        notifier = live.dispatcher.notifier
        await live.wait(lambda: notifier.stats["not_configured"] == 1, what="the mail refused")
        assert notifier.stats["sent"] == 1  # the webhook only
        assert notifier.stats["failed"] == 0  # not configured is not retried
        logged = [
            r.getMessage() for r in caplog.records if "notify_not_configured" in r.getMessage()
        ]
        assert len(logged) == 1 and "alice@studio.test" in logged[0] and "smtp_host" in logged[0]


async def test_a_silent_smtp_server_and_a_hanging_webhook_neither_block_nor_stop_the_dispatcher(
    tmp_path: Path, hooks: Hooks, smtp: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatcher.notify")
    greeted: list[asyncio.Transport] = []

    class Silent(asyncio.Protocol):  # takes the connection, never says a word
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            greeted.append(transport)  # type: ignore[arg-type]

    silent = await asyncio.get_running_loop().create_server(Silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = {"smtp_host": "127.0.0.1", "smtp_port": port, **FAST, "notify_attempts": 2,
                "notify_timeout_s": 2.0}  # fmt: skip
    async with live_dispatcher(tmp_path / "farm", **settings) as live:
        await account(live, "alice", "alice@studio.test")
        stuck = await job(live, "stuck", ["true"])
        await notify(live, stuck, {"username": "alice", "webhook": f"{hooks.url}/hang"})
        fine = await job(live, "fine", ["true"])
        await notify(live, fine, {"username": "alice", "webhook": f"{hooks.url}/flaky"})
        await node(live)
        await live.rest("POST", f"/api/v1/jobs/{stuck}/actions/resume")
        await live.wait(lambda: hooks.hanging >= 1 and greeted, what="the sends to hang")
        # While the webhook and the mail server hang the API answers at once (a send that
        # held the loop would hold each answer for up to its 2 s time limit).
        began = time.monotonic()
        for _ in range(5):
            await live.rest("GET", f"/api/v1/jobs/{stuck}/notified_users/")
        assert time.monotonic() - began < 1.5
        await live.rest("POST", f"/api/v1/jobs/{fine}/actions/resume")
        notifier = live.dispatcher.notifier
        # Each way to alice is tried twice (the bound), then given up; the flaky webhook
        # fails once and is delivered on its second attempt.
        await live.wait(lambda: notifier.stats["gave_up"] == 3, what="every dead send given up")
        await live.wait(lambda: hooks.calls, what="the flaky webhook's second attempt")
        assert hooks.hanging == 2 and hooks.flaky == 2
        assert [call["job"]["id"] for call in hooks.calls] == [fine]
        assert notifier.stats["failed"] == 7 and notifier.stats["sent"] == 1
        assert notifier.restarts == 0
        messages = [record.getMessage() for record in caplog.records]
        assert sum("action=notify_retry" in m for m in messages) == 4
        gave_up = [m for m in messages if "action=notify_gave_up" in m]
        assert len(gave_up) == 3 and any("channel=webhook" in m and "/hang" in m for m in gave_up)
        assert sum("channel=email" in m and "alice@studio.test" in m for m in gave_up) == 2
        job_view = await live.rest("GET", f"/api/v1/jobs/{fine}")
        assert job_view["state"] == "done"
        assert smtp.mails == []  # the real server was never configured here
        assert len(greeted) == 4  # two mails, two attempts each
    silent.close()
    for transport in greeted:
        transport.close()


async def test_the_sending_task_is_restarted_when_it_dies(
    tmp_path: Path, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_dispatcher(tmp_path / "farm", **FAST) as live:
        notifier = live.dispatcher.notifier
        notifier._queue.put_nowait(object())  # type: ignore[arg-type]  # breaks the worker
        await live.wait(lambda: notifier.restarts == 1, what="the worker restarted")
        assert any("action=notify_worker_died" in r.getMessage() for r in caplog.records)
        await account(live, "alice", "")
        job_id = await job(live, "after", ["true"])
        await notify(live, job_id, {"username": "alice", "webhook": f"{hooks.url}/hook"})
        await node(live)
        await live.rest("POST", f"/api/v1/jobs/{job_id}/actions/resume")
        await live.wait(lambda: hooks.calls, what="a notice after the restart")
        assert hooks.calls[0]["job"]["id"] == job_id


async def test_the_list_survives_a_restart_and_still_notifies(
    tmp_path: Path, smtp: MailServer
) -> None:
    settings: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, **FAST}
    data = tmp_path / "farm"
    async with live_dispatcher(data, **settings) as live:
        await account(live, "alice", "alice@studio.test")
        await account(live, "bob", "bob@studio.test")
        job_id = await job(live, "kept", ["true"])
        await notify(live, job_id, {"username": "alice"})
        await notify(live, job_id, {"username": "bob", "on_success": False, "on_deletion": True})
        before = await live.rest("GET", f"/api/v1/jobs/{job_id}/notified_users/")
    password = tmp_path / "smtp.password"
    password.write_text("s3cret\n")
    settings.update(smtp_username="corral", smtp_password_file=password)
    async with live_dispatcher(data, **settings) as live:
        after = await live.rest("GET", f"/api/v1/jobs/{job_id}/notified_users/")
        assert after == before
        assert [(e["id"], e["username"], e["email"]) for e in after] == [
            (1, "alice", "alice@studio.test"),
            (2, "bob", "bob@studio.test"),
        ]
        assert [(e["on_success"], e["on_failure"], e["on_deletion"]) for e in after] == [
            (True, True, False),
            (False, True, True),
        ]
        await node(live)
        await live.rest("POST", f"/api/v1/jobs/{job_id}/actions/resume")
        await live.wait(lambda: smtp.mails, what="the mail after the restart")
        await asyncio.sleep(0.3)
        assert [mail.recipients for mail in smtp.mails] == [["alice@studio.test"]]
        assert smtp.mails[0].login == "corral"  # it logged in with the password file's password


# -- the routes -------------------------------------------------------------------------------
async def status_of(
    live: Live, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    try:
        return 200, await live.rest(method, path, body, token)
    except HttpError as exc:
        return exc.status, exc.body


async def test_routes_as_the_seed_shows_them(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "farm") as live:
        await account(live, "testuser", "testuser@example.com")
        await live.rest(
            "POST", "/api/v1/jobs/", {"title": "Test Job", "command": ["true"], "paused": True}
        )
        added = await notify(
            live,
            "Test%20Job",
            {"username": "testuser", "on_success": True, "on_failure": True, "on_deletion": False},
        )  # type: ignore[arg-type]
        assert {k: added[k] for k in ("id", "username", "email")} == {
            "id": 1,
            "username": "testuser",
            "email": "testuser@example.com",
        }
        for path in (
            "/api/v1/jobs/Test%20Job/notified_users/",
            "/api/v1/jobs/Test%20Job/notified_users",
        ):
            listed = await live.rest("GET", path)
            assert [{k: e[k] for k in ("id", "username", "email")} for e in listed] == [
                {"id": 1, "username": "testuser", "email": "testuser@example.com"}
            ]
        url = live.dispatcher.http_url + "/api/v1/jobs/Test%20Job/notified_users/testuser"
        headers = {"Authorization": f"Bearer {live.token}"}
        async with live.session.delete(url, headers=headers) as answer:
            assert answer.status == 204
        assert await live.rest("GET", "/api/v1/jobs/Test%20Job/notified_users/") == []
        async with live.session.delete(url + "/", headers=headers) as answer:
            assert answer.status == 204  # not on the list: still 204
        # POST without the slash; the same user again changes their events (200).
        job_id = live.ops.jobs.get(Actor.system(), "Test Job").id
        path = f"/api/v1/jobs/{job_id}/notified_users"
        async with live.session.post(
            live.dispatcher.http_url + path, json={"username": "testuser"}, headers=headers
        ) as first:
            assert first.status == 201 and (await first.json())["on_deletion"] is False
        async with live.session.post(
            live.dispatcher.http_url + path,
            json={"username": "testuser", "on_deletion": True},
            headers=headers,
        ) as again:
            assert again.status == 200 and (await again.json())["on_deletion"] is True
        assert [e["id"] for e in await live.rest("GET", path)] == [1]  # the list was empty
        job = live.ops.jobs.get(Actor.system(), job_id)
        assert job.notified_users == [
            {
                "id": 1,
                "username": "testuser",
                "on_success": True,
                "on_failure": True,
                "on_deletion": True,
            }
        ]
        actions = [a.get("action") for a in live.actions()]
        assert actions.count("notified_user_add") == 2 and "notified_user_remove" in actions
        assert "notified_user_change" in actions
        events = [(e.action, getattr(e, "fields", None)) for e in live.events]
        assert ("notified_user_add", ["notified_users"]) in events


async def test_a_list_given_at_submit_or_by_an_edit_notifies_and_shows_on_the_job(
    tmp_path: Path, smtp: MailServer
) -> None:
    settings = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_from": "farm@studio.test", **FAST}  # fmt: skip
    async with live_dispatcher(tmp_path / "farm", **settings) as live:
        await account(live, "alice", "alice@studio.test")
        await account(live, "bob", "bob@studio.test")
        body = {"title": "listed at submit", "command": ["true"], "paused": True,
                "notified_users": ["alice", {"username": "admin", "on_success": False}]}  # fmt: skip
        job = await live.rest("POST", "/api/v1/jobs/", body)
        shown = [(e["id"], e["username"], e["email"], e["on_success"], e["on_failure"])
                 for e in job["notified_users"]]  # fmt: skip
        assert shown == [
            (1, "alice", "alice@studio.test", True, True),
            (2, "admin", None, False, True),
        ]
        path = f"/api/v1/jobs/{job['id']}"
        assert await live.rest("GET", path + "/notified_users/") == job["notified_users"]
        assert (await live.rest("GET", path))["notified_users"] == job["notified_users"]
        # An edit replaces the list; an unknown user or a bad entry changes nothing.
        await live.rest(
            "PATCH", path, {"notified_users": [{"username": "bob", "on_success": True}]}
        )
        for change, status in (({"notified_users": ["ghost"]}, 404),
                               ({"notified_users": [{"username": "bob", "colour": 1}]}, 400)):  # fmt: skip
            with pytest.raises(HttpError) as refused:
                await live.rest("PATCH", path, change)
            assert refused.value.status == status, refused.value.body
        listed = await live.rest("GET", path + "/notified_users/")
        assert [(e["username"], e["email"]) for e in listed] == [("bob", "bob@studio.test")]
        before = len(live.dispatcher.queue.jobs)
        for bad, status in ((["ghost"], 404), ([7], 400), ([{"name": "alice"}], 400)):
            with pytest.raises(HttpError) as refused:
                await live.rest(
                    "POST", "/api/v1/jobs/", {**body, "title": "no", "notified_users": bad}
                )
            assert refused.value.status == status, refused.value.body
            if status == 400:
                assert refused.value.body["field"] == "notified_users", refused.value.body
        assert len(live.dispatcher.queue.jobs) == before

        await node(live)
        await live.rest("POST", f"{path}/actions/resume")
        await live.wait(lambda: smtp.mails, what="the end notice")
        await asyncio.sleep(0.5)  # nothing more may come
        assert smtp.to("bob@studio.test") == [f'Corral: job {job["id"]} "listed at submit" done']
        assert len(smtp.mails) == 1


async def test_bad_requests_change_nothing(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "farm") as live:
        alice = await account(live, "alice", "alice@studio.test", "submit", "manage_own")
        mallory = await account(live, "mallory", "m@studio.test", "submit", "manage_own")
        nobody = await account(live, "nobody", "n@studio.test")
        wrangler = await account(live, "wrangler", "w@studio.test", "manage_own", "manage_all")
        job_id = await job(live, "alice's", ["true"], alice)
        base = f"/api/v1/jobs/{job_id}/notified_users/"
        await notify(live, job_id, {"username": "alice"}, alice)  # the owner may
        before = await live.rest("GET", base)
        stored = list(live.ops.jobs.get(Actor.system(), job_id).notified_users)

        bad_bodies: list[tuple[Any, str | None]] = [
            ({"username": 5}, "username"),
            ({"username": "alice", "on_success": "yes"}, "on_success"),
            ({"username": "alice", "on_failure": 1}, "on_failure"),
            ({"username": "alice", "colour": "red"}, "colour"),
            ({"on_success": True}, "username"),
            ({"username": ""}, "username"),
            ({"username": "x" * 300}, "username"),
            ({"username": "alice", "webhook": "ftp://host/x"}, "webhook"),
            ({"username": "alice", "webhook": "javascript:alert(1)"}, "webhook"),
            ({"username": "alice", "webhook": "http://"}, "webhook"),
            ({"username": "alice", "webhook": 7}, "webhook"),
            ([{"username": "alice"}], None),
        ]
        for body, field_name in bad_bodies:
            status, answer = await status_of(live, "POST", base, body)
            assert status == 400, (body, answer)
            assert answer.get("field") == field_name, (body, answer)
        url = live.dispatcher.http_url + base
        headers = {"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"}
        async with live.session.post(url, data=b"{not json", headers=headers) as answer:
            assert answer.status == 400 and "JSON" in (await answer.json())["detail"]
        async with live.session.post(
            url, data=b"x" * (17 * 1024 * 1024), headers=headers
        ) as answer:
            assert answer.status == 413

        expected = [
            ("POST", base, {"username": "ghost"}, None, 404),  # no such user
            ("POST", "/api/v1/jobs/999999/notified_users/", {"username": "alice"}, None, 404),
            (
                "POST",
                "/api/v1/jobs/no%20such%20job/notified_users/",
                {"username": "alice"},
                None,
                404,
            ),
            ("POST", base, {"username": "mallory"}, mallory, 403),  # not her job
            ("POST", base, {"username": "nobody"}, nobody, 403),  # no permission at all
            ("GET", "/api/v1/jobs/999999/notified_users/", None, None, 404),
            ("GET", "/api/v1/jobs/" + "9" * 5000 + "/notified_users/", None, None, 404),
            ("DELETE", base + "ghost", None, None, 404),
            ("DELETE", "/api/v1/jobs/999999/notified_users/alice", None, None, 404),
            ("DELETE", base + "alice", None, mallory, 403),
            ("DELETE", base + "alice", None, nobody, 403),
        ]
        for method, path, body, token, status in expected:
            got, answer = await status_of(live, method, path, body, token)
            assert got == status, (method, path, body, answer)
            assert answer["status"] == status and answer["detail"]
        for method, path in (("GET", base), ("POST", base), ("DELETE", base + "alice")):
            async with live.session.request(
                method, live.dispatcher.http_url + path, json={"username": "alice"}
            ) as answer:
                assert answer.status == 401  # no token
            bad = {"Authorization": "Bearer not-a-token"}
            async with live.session.request(
                method, live.dispatcher.http_url + path, json={"username": "alice"}, headers=bad
            ) as answer:
                assert answer.status == 401
        assert await live.rest("GET", base) == before
        assert live.ops.jobs.get(Actor.system(), job_id).notified_users == stored
        assert not [
            e for e in live.events if e.action.startswith("notified_user") and e.actor != "alice"
        ]

        # A manager of every job may; the owner may remove.
        added = await notify(live, job_id, {"username": "mallory", "on_deletion": True}, wrangler)
        assert added["username"] == "mallory"
        assert (await status_of(live, "DELETE", base + "mallory", None, alice))[0] == 200
        assert await live.rest("GET", base, token=nobody) == before  # anyone may read
