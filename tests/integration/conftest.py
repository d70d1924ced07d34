"""Fixtures for the integration tier: factories that clean up what they made."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.farm import Farm
from tests.integration.postgres import Cluster, require_cluster, start_cluster


@pytest.fixture
def make_farm(tmp_path: Path) -> Iterator[Callable[..., Farm]]:
    """Start a dispatcher (and later render clients); everything is stopped afterwards."""
    farms: list[Farm] = []

    def make(*extra: str, data_dir: Path | None = None) -> Farm:
        farm = Farm(data_dir or tmp_path / f"farm{len(farms)}", list(extra)).start()
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.close()


@pytest.fixture
def farm(make_farm: Callable[..., Farm]) -> Farm:
    return make_farm()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster | str]:
    """One PostgreSQL cluster for the session (per xdist worker), or why there is none."""
    try:
        cluster = start_cluster()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        yield f"no PostgreSQL server for the tests: {exc}"
        return
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster | str) -> str:
    """A new empty database on the session's cluster (the test skips without one)."""
    return require_cluster(postgres_cluster).new_database()
