"""`corral dispatcher --config FILE` as an operator runs it: the file, CORRAL_* variables
and options each count in their order, a bad file stops the start with the setting
named, and a setting stored through the API outlives a restart (under an option)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm
from tests.integration.hookfarm import script_json

pytestmark = pytest.mark.integration

CONFIGURATION = """
import json, MDispatcherAPI
err, conf = MDispatcherAPI.systemGetConfiguration()
print(json.dumps(conf.to_dict()))
"""


def configuration(farm: Farm) -> dict[str, Any]:
    found: dict[str, Any] = script_json(farm, CONFIGURATION)
    return found


def store_setting(farm: Farm, name: str, value: Any, store: bool) -> None:
    code = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        err, conf = MDispatcherAPI.systemGetConfiguration()
        conf.setValue({name!r}, {value!r})
        print(json.dumps(MDispatcherAPI.systemSetConfiguration(conf, {store!r}).getErrorCode()))
        """,
    )
    assert code == 0


def config_show(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [CORRAL, "config", "show", "--json", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_a_dispatcher_runs_with_its_file_its_variables_and_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "farm.toml"
    config.write_text(
        "# the farm's settings\n"
        "max_request_bytes = 2048\n"
        "max_frame_bytes = 65536\n"
        "statistics_interval_s = 30\n"
        "idle_hook_interval_s = 40\n"
        "exclude_after_failures = 4\n"
    )
    monkeypatch.setenv("CORRAL_IDLE_HOOK_INTERVAL_S", "9")  # the dispatcher inherits it
    farm = Farm(tmp_path / "data", ["--config", str(config), "--exclude-after-failures", "5"])
    farm.start()
    try:
        found = configuration(farm)
        values, origins = found["values"], found["origins"]
        assert values["max_frame_bytes"] == 65536  # a setting with no option of its own
        assert origins["max_frame_bytes"] == {"origin": "file", "where": str(config)}
        assert values["statistics_interval_s"] == 30.0
        assert values["idle_hook_interval_s"] == 9.0
        assert origins["idle_hook_interval_s"] == {
            "origin": "env", "where": "CORRAL_IDLE_HOOK_INTERVAL_S",
        }  # fmt: skip
        assert values["exclude_after_failures"] == 5
        assert origins["exclude_after_failures"] == {
            "origin": "option", "where": "--exclude-after-failures",
        }  # fmt: skip
        assert origins["loop_stall_s"] == {"origin": "default", "where": ""}
        # The file's request limit is in force: a 3 KB body is refused.
        with pytest.raises(ApiError) as refused:
            farm.submit(title="big", notes="x" * 3000)
        assert refused.value.status == 413
    finally:
        farm.close()


def test_a_bad_file_stops_the_start_with_the_setting_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "farm.toml"
    config.write_text("max_chunks_per_job = 0\nheartbeat_interval_s = 1\n")
    done = subprocess.run(
        [CORRAL, "dispatcher", "--data-dir", str(data), "--config", str(config), "--port", "0",
         "--http-port", "0", "--compat-port", "off"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""  # never listening
    assert done.stderr.splitlines() == [
        f"corral: error: {config}: max_chunks_per_job: Input should be greater than or equal to 1"
    ]
    assert not (data / "corral.db").exists() and not (data / "dispatcher.json").exists()
    config.write_text("[dispatcher]\nport = 1\n")
    done = subprocess.run(
        [CORRAL, "dispatcher", "--data-dir", str(data), "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{config}: [dispatcher]: tables are not settings" in done.stderr


def test_a_stored_setting_outlives_a_restart_and_an_option_outranks_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "farm.toml"
    config.write_text("statistics_interval_s = 30\nshutdown_grace_s = 3\n")
    farm = Farm(data, ["--config", str(config)]).start()
    try:
        store_setting(farm, "statistics_interval_s", 12.0, True)
        store_setting(farm, "shutdown_grace_s", 4.0, False)  # live now, not kept
        now = configuration(farm)
        assert now["values"]["statistics_interval_s"] == 12.0
        assert now["origins"]["statistics_interval_s"]["origin"] == "stored"
        assert now["origins"]["shutdown_grace_s"]["origin"] == "api"
        # `corral config show` reads the stored setting while the dispatcher runs.
        shown = config_show("--config", str(config), "--data-dir", str(data))
        assert shown["settings"]["statistics_interval_s"]["value"] == 12.0
        assert shown["settings"]["statistics_interval_s"]["origin"] == "stored"
        assert shown["settings"]["shutdown_grace_s"]["value"] == 3.0

        assert farm.stop(signal.SIGTERM) == 0
        farm.start()
        after = configuration(farm)
        assert after["values"]["statistics_interval_s"] == 12.0  # over the file's 30
        assert after["origins"]["statistics_interval_s"]["origin"] == "stored"
        assert after["values"]["shutdown_grace_s"] == 3.0  # the unstored change is gone
        assert after["origins"]["shutdown_grace_s"]["origin"] == "file"

        assert farm.stop(signal.SIGTERM) == 0
        farm.extra_args.extend(["--statistics-interval-s", "20"])
        farm.start()
        pinned = configuration(farm)
        assert pinned["values"]["statistics_interval_s"] == 20.0
        assert pinned["origins"]["statistics_interval_s"] == {
            "origin": "option", "where": "--statistics-interval-s",
        }  # fmt: skip
        shown = config_show("--config", str(config), "--data-dir", str(data),
                            "--statistics-interval-s", "20")  # fmt: skip
        assert shown["settings"]["statistics_interval_s"]["origin"] == "option"
    finally:
        farm.close()
