"""MDispatcherAPI users, groups, pools and repositories on a live farm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.account_checks import (
    check_pools_decide_where_jobs_run,
    check_repositories,
    check_users_and_groups,
)
from tests.integration.farm import Farm
from tests.integration.hookfarm import covers, script_json, start_farm


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("api-accounts")
    farm = start_farm(root / "farm")
    farm.client("alpha", "--pool", "cpu")
    farm.client("beta")
    farm.wait_nodes(2)
    yield farm
    farm.close()


def values(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI as api\n" + code)


@covers("userGetList", "userGet", "userAdd", "userRemove", "userConfigure",
        "groupGetList", "groupGet", "groupAdd", "groupRemove", "groupConfigure")  # fmt: skip
def test_users_and_groups(farm: Farm) -> None:
    check_users_and_groups(farm, values)


@covers("poolGetList", "poolGet", "poolAdd", "poolConfigure", "poolRemove", "poolNotifyChanges")
def test_pools_decide_where_jobs_run(farm: Farm) -> None:
    check_pools_decide_where_jobs_run(farm, values)


@covers("repositoriesGetList", "repositoriesGet", "repositoriesAdd", "repositoriesConfigure",
        "repositoriesRemove", "repositoriesNotifyChanges")  # fmt: skip
def test_repositories(farm: Farm) -> None:
    check_repositories(farm, values)
