"""LDAP logins against a real OpenLDAP `slapd` started by the test on a free port, with
the configuration systemSetLDAPConfiguration stores, and the directory's users in
userGetList as `@directory@NAME`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dispatcher.operations import Actor
from tests.integration.inprocess import HttpError, Live, live_dispatcher
from tests.integration.slapd import PEOPLE, ROOT_DN, ROOT_PASSWORD, require_slapd, running_slapd

SET_LDAP = """
import json, MDispatcherAPI
config = MDispatcherAPI.MLDAPConfiguration()
config.setEnabled(True)
config.setServer("127.0.0.1")
config.setPort({port})
config.setBaseDN("{base}")
config.setBindUser("{bind_user}")
config.setBindPassword("{bind_password}")
config.setUserFilter("(objectClass=inetOrgPerson)")
print(json.dumps(MDispatcherAPI.systemSetLDAPConfiguration(config, True).getErrorCode()))
"""

LIST_USERS = """
import json, MDispatcherAPI
err, users = MDispatcherAPI.userGetList()
print(json.dumps([err.getErrorCode(), {u.getName(): u.isLDAPUser() for u in users}]))
"""


async def configure(live: Live, port: int, bind_user: str = ROOT_DN,
                    bind_password: str = ROOT_PASSWORD) -> None:  # fmt: skip
    code = SET_LDAP.format(port=port, base=PEOPLE, bind_user=bind_user, bind_password=bind_password)
    assert await live.script(code) == 0


async def login(live: Live, user: str, password: str) -> tuple[int, Any]:
    url = live.dispatcher.http_url + "/api/v1/login"
    async with live.session.post(url, json={"username": user, "password": password}) as answer:
        return answer.status, json.loads(await answer.text())


async def test_directory_users_log_in_with_their_directory_password(tmp_path: Path) -> None:
    require_slapd()
    with running_slapd(tmp_path / "slapd") as directory:
        directory.add_person("jdoe", "jdoe-directory-pw", "John Doe")
        directory.add_person("alice", "alice-directory-pw")
        async with live_dispatcher(tmp_path / "d", ldap_timeout_s=2.0) as live:
            await live.ops.accounts.add_user(
                Actor.system(),
                {"name": "bob", "password": "bob-local-pw", "permissions": ["submit"]},
            )
            # Without a directory configured, its users are unknown.
            assert (await login(live, "jdoe", "jdoe-directory-pw"))[0] == 401
            await configure(live, directory.port)

            status, answer = await login(live, "jdoe", "jdoe-directory-pw")
            assert status == 200, answer
            assert answer["user"] == "jdoe" and answer["permissions"] == ["manage_own", "submit"]
            job = await live.rest("POST", "/api/v1/jobs/", {"title": "j", "command": ["true"]},
                                  token=answer["token"])  # fmt: skip
            assert job["user"] == "jdoe"
            jdoe = live.dispatcher.users.users["jdoe"]
            assert jdoe.ldap and jdoe.password_hash == ""  # the directory keeps the password

            for user, password in (
                ("jdoe", "wrong"),
                ("alice", "jdoe-directory-pw"),
                ("nobody", "jdoe-directory-pw"),
                ("*", "jdoe-directory-pw"),  # a filter in a name matches nothing
                ("bob", "jdoe-directory-pw"),
            ):
                status, problem = await login(live, user, password)
                assert status == 401, (user, problem)
            assert "alice" not in live.dispatcher.users.users
            # A local user still logs in with the local password, never the directory's.
            assert (await login(live, "bob", "bob-local-pw"))[0] == 200

            # userGetList: local users by name, the directory's others as @directory@NAME.
            code, users = await live.script(LIST_USERS)
            assert code == 0
            assert users == {"admin": False, "bob": False, "jdoe": True, "@directory@alice": True}

            # A directory user's password is changed in the directory, not here.
            try:
                await live.rest("POST", "/api/v1/users/jdoe/password", {"password": "new-password"})
            except HttpError as exc:
                assert exc.status == 409 and "directory" in exc.body["detail"]
            else:
                raise AssertionError("a directory user's password was set locally")

            # The dispatcher's own bind refused: 503 naming the directory, local users go on.
            await configure(live, directory.port, bind_password="not-the-root-password")
            status, problem = await login(live, "jdoe", "jdoe-directory-pw")
            assert status == 503 and "refused" in problem["detail"], problem
            assert (await login(live, "bob", "bob-local-pw"))[0] == 200
            code, users = await live.script(LIST_USERS)
            assert code == 0 and set(users) == {"admin", "bob", "jdoe"}
            await configure(live, directory.port)
            assert (await login(live, "alice", "alice-directory-pw"))[0] == 200
            code, users = await live.script(LIST_USERS)
            assert users == {"admin": False, "bob": False, "jdoe": True, "alice": True}

        # The directory stopped: a directory login fails by the deadline with 503.
        directory.process.terminate()
        directory.process.wait(timeout=10)
        async with live_dispatcher(tmp_path / "d", ldap_timeout_s=1.0) as live:
            started = time.monotonic()
            status, problem = await login(live, "jdoe", "jdoe-directory-pw")
            assert status == 503 and "directory" in problem["detail"], problem
            assert time.monotonic() - started < 5
            assert (await login(live, "bob", "bob-local-pw"))[0] == 200
