"""Fixtures for the integration tier: factories that clean up what they made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.farm import Farm


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
