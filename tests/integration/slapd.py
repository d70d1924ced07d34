"""A real OpenLDAP server for tests: `slapd` on a free port of 127.0.0.1 with its own
configuration and database in a temporary folder, filled through ldap3.

Needs the Debian packages slapd (and ldap-utils for manual checks), which `make test`
installs when it runs as root; without them the tests that need a directory skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SUFFIX = "dc=corral,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "directory-root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


def slapd_binary() -> str | None:
    return shutil.which("slapd") or next(
        (str(path) for path in (Path("/usr/sbin/slapd"),) if path.exists()), None
    )


def require_slapd() -> str:
    """The slapd program, or skip the test saying what is missing."""
    found = slapd_binary()
    if found is None or not (SCHEMA_DIR / "inetorgperson.schema").exists():
        pytest.skip(
            "OpenLDAP's slapd is not installed (Debian packages slapd and ldap-utils; "
            "`make test` installs them when run as root)"
        )
    return found


@dataclass
class Directory:
    """A running slapd: where it listens and how to add people to it."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}/"

    def add_person(self, uid: str, password: str, name: str = "") -> str:
        import ldap3
        from ldap3.utils.hashed import hashed

        dn = f"uid={uid},{PEOPLE}"
        with ldap3.Connection(
            ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE),
            ROOT_DN,
            ROOT_PASSWORD,
            auto_bind=True,
            receive_timeout=10,
        ) as connection:
            added = connection.add(
                dn,
                ["inetOrgPerson"],
                {
                    "cn": name or uid,
                    "sn": uid,
                    "uid": uid,
                    "userPassword": hashed(ldap3.HASHED_SALTED_SHA, password),
                },
            )
            assert added, connection.result
        return dn


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(folder: Path) -> Path:
    database = folder / "db"
    database.mkdir()
    schemas = "\n".join(
        f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson")
    )
    conf = folder / "slapd.conf"
    conf.write_text(
        f"""{schemas}
pidfile {folder / "slapd.pid"}
argsfile {folder / "slapd.args"}
modulepath {MODULE_DIR}
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {database}
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
"""
    )
    return conf


@contextmanager
def running_slapd(folder: Path) -> Iterator[Directory]:
    """slapd in the foreground on a free port; stopped (SIGTERM, then SIGKILL) at exit."""
    binary = require_slapd()
    folder.mkdir(parents=True, exist_ok=True)
    conf = _config(folder)
    log = (folder / "slapd.log").open("ab")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "-d", "0", "-h", f"ldap://127.0.0.1:{port}/", "-f", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"slapd exited with {process.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"slapd did not listen in 20 s; see {log.name}") from None
                time.sleep(0.05)
        directory = Directory(port, process)
        _add_base(directory)
        yield directory
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _add_base(directory: Directory) -> None:
    import ldap3

    with ldap3.Connection(
        ldap3.Server("127.0.0.1", port=directory.port, get_info=ldap3.NONE),
        ROOT_DN,
        ROOT_PASSWORD,
        auto_bind=True,
        receive_timeout=10,
    ) as connection:
        assert connection.add(SUFFIX, ["dcObject", "organization"], {"o": "corral", "dc": "corral"})
        assert connection.add(PEOPLE, ["organizationalUnit"], {"ou": "people"})
