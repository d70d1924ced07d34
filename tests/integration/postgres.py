"""A real PostgreSQL server for tests: a throwaway cluster in a temporary folder on a
free port of 127.0.0.1, made with initdb and started with pg_ctl, once per test
session (per xdist worker), and a fresh database for each test that asks.

Needs Debian's postgresql package, which `make test` installs when it runs as
root; without it the tests that need a server skip and say why (under CI they fail). PostgreSQL
refuses to run as root: as root the cluster runs as the unprivileged `nobody`,
and its folder belongs to that user.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "corral"
RUN_AS = "nobody"


def pg_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL installed (None: none is)."""
    found = sorted(
        (path for path in PG_ROOT.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running PostgreSQL cluster: where it listens, and a way to make databases."""

    folder: Path
    port: int
    bin: Path
    run_as: list[str]
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql as the superuser; its output (raises on an error)."""
        result = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-d", self.url(database), "-c", sql],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def new_database(self, prefix: str = "t") -> str:
        """A new empty database's URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
             "-m", "immediate", "-w", "-t", "30", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster(*, fsync: bool = False) -> Cluster:
    """initdb and pg_ctl start in a new temporary folder; the caller stops it."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise FileNotFoundError(
            "PostgreSQL is not installed (Debian package postgresql; `make test` installs "
            "it when run as root)"
        )
    folder = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", RUN_AS, "--"]
        shutil.chown(folder, RUN_AS)
    folder.chmod(0o755)
    data = folder / "data"
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        port = _free_port()
        options = (
            f"-p {port} -h 127.0.0.1 -k {folder} -c fsync={'on' if fsync else 'off'} "
            "-c max_connections=60 -c shared_buffers=16MB"
        )
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
             "-l", str(folder / "server.log"), "-w", "-t", "120", "start"],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = folder / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(
            f"{' '.join(map(str, exc.cmd[:3]))} failed: {exc.stderr.decode(errors='replace')}{tail}"
        ) from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Cluster(folder=folder, port=port, bin=bin_dir, run_as=run_as)


def require_cluster(found: Cluster | str) -> Cluster:
    """The session's cluster, or skip saying why there is none (under CI, CI=true, where
    `make test` installs PostgreSQL, a missing cluster fails instead: a skip there would
    hide the PostgreSQL store's tests)."""
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(found)
        pytest.skip(found)
    return found
