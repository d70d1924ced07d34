"""Settings that may change while the dispatcher runs: each change builds a new frozen
Settings; the hook host's limits are start options and cannot change."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from dispatcher.config import Settings
from dispatcher.errors import ValidationError
from dispatcher.operations.system import LIVE_SETTINGS, checked_settings


def test_a_change_builds_a_new_frozen_settings(tmp_path: Path) -> None:
    current = Settings(data_dir=tmp_path)
    updated, changed = checked_settings(current, {"exclude_after_failures": 7})
    assert changed == {"exclude_after_failures": 7}
    assert updated is not current and updated.exclude_after_failures == 7
    assert current.exclude_after_failures == 3  # the running value is never mutated
    with pytest.raises(pydantic.ValidationError):
        updated.exclude_after_failures = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"), [("hook_timeout_s", 3600.0), ("hook_memory_limit_mb", 0)]
)
def test_the_hook_limits_are_start_options(tmp_path: Path, name: str, value: object) -> None:
    assert name not in LIVE_SETTINGS
    current = Settings(data_dir=tmp_path)
    with pytest.raises(ValidationError, match="start option") as refused:
        checked_settings(current, {name: value})
    assert refused.value.field == name
