"""Settings from a TOML file, CORRAL_* variables, stored values and options, in that
rising order; every bad value is refused with the setting and its source named."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher import config_sources
from dispatcher.config import LIVE_SETTINGS
from dispatcher.config_sources import Layer, Origin, resolve, with_stored
from dispatcher.errors import ValidationError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def options(**values: object) -> Layer:
    layer = Layer()
    for name, value in values.items():
        layer.add(name, value, Origin("option", "--" + name.replace("_", "-")))
    return layer


def test_a_file_gives_typed_settings_and_names_itself_as_their_origin(tmp_path: Path) -> None:
    config = write(
        tmp_path / "farm.toml",
        f"""
        data_dir = "{tmp_path / "data"}"
        heartbeat_interval_s = 2        # an integer is a fine number of seconds
        max_frame_bytes = 65536
        durability = "normal"
        compat_port = "off"
        templates_dirs = ["/srv/templates", "/site/templates"]
        """,
    )
    resolved = resolve(options=Layer(), env={}, config=config)
    settings = resolved.settings
    assert settings.data_dir == tmp_path / "data"
    assert settings.heartbeat_interval_s == 2.0
    assert settings.max_frame_bytes == 65536
    assert settings.durability == "normal"
    assert settings.compat_port is None
    assert settings.templates_dirs == (Path("/srv/templates"), Path("/site/templates"))
    assert resolved.file == config
    assert resolved.origin("max_frame_bytes") == Origin("file", str(config))
    assert resolved.origin("port") == Origin("default")
    report = resolved.report(LIVE_SETTINGS)
    assert report["heartbeat_interval_s"] == {
        "value": 2.0, "origin": "file", "where": str(config), "live": True,
    }  # fmt: skip
    assert report["max_frame_bytes"]["live"] is False


def test_the_environment_overrides_the_file_and_an_option_both(tmp_path: Path) -> None:
    config = write(
        tmp_path / "farm.toml",
        f'data_dir = "{tmp_path}"\nnode_lost_after_s = 40\nreconnect_grace_s = 9\nassign_ahead = 1\n',
    )
    env = {"CORRAL_NODE_LOST_AFTER_S": "50", "CORRAL_ASSIGN_AHEAD": "2"}
    resolved = resolve(options=options(assign_ahead=3), env=env, config=config)
    settings = resolved.settings
    assert (settings.reconnect_grace_s, settings.node_lost_after_s, settings.assign_ahead) == (
        9.0, 50.0, 3,
    )  # fmt: skip
    assert str(resolved.origin("reconnect_grace_s")) == f"file {config}"
    assert str(resolved.origin("node_lost_after_s")) == "env CORRAL_NODE_LOST_AFTER_S"
    assert str(resolved.origin("assign_ahead")) == "option --assign-ahead"


def test_environment_values_are_parsed_from_text(tmp_path: Path) -> None:
    env = {
        "CORRAL_DATA_DIR": str(tmp_path),
        "CORRAL_DISCOVERY_ADDRESSES": "render1:9682, render2:9682",
        "CORRAL_TEMPLATES_DIRS": '["/a,b", "/c"]',
        "CORRAL_COMPAT_PORT": "none",
        "CORRAL_SHUTDOWN_GRACE_S": "7.5",
        "CORRAL_TOKEN": "not a setting, and not reported",
    }
    settings = resolve(options=Layer(), env=env).settings
    assert settings.data_dir == tmp_path
    assert settings.discovery_addresses == ("render1:9682", "render2:9682")
    assert settings.templates_dirs == (Path("/a,b"), Path("/c"))
    assert settings.compat_port is None
    assert settings.shutdown_grace_s == 7.5
    assert config_sources.unknown_env({**env, "CORRAL_HEARTBEAT_S": "1"}) == ["CORRAL_HEARTBEAT_S"]


def test_the_default_file_is_read_from_the_data_directory_when_present(tmp_path: Path) -> None:
    resolved = resolve(options=options(data_dir=tmp_path), env={})
    assert resolved.file is None and resolved.settings.cancel_deadline_s == 2.0
    default = write(tmp_path / "corral.toml", "cancel_deadline_s = 4\n")
    resolved = resolve(options=options(data_dir=tmp_path), env={})
    assert resolved.file == default and resolved.settings.cancel_deadline_s == 4.0
    other = write(tmp_path / "other.toml", "cancel_deadline_s = 6\n")
    resolved = resolve(options=options(data_dir=tmp_path), env={"CORRAL_CONFIG": str(other)})
    assert resolved.file == other and resolved.settings.cancel_deadline_s == 6.0
    write(default, f'data_dir = "{tmp_path / "elsewhere"}"\n')
    with pytest.raises(ValidationError, match="data_dir: the file inside the data directory"):
        resolve(options=options(data_dir=tmp_path), env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("heartbeat_s = 2\n", "farm.toml: heartbeat_s: no such setting (did you mean heartbeat_interval_s?)"),
        ('port = "9681"\n', "farm.toml: port: Input should be a valid integer"),
        ("port = 70000\n", "farm.toml: port: Input should be less than or equal to 65535"),
        ("heartbeat_interval_s = 0.001\n", "farm.toml: heartbeat_interval_s: Input should be greater than or equal to 0.05"),
        ('durability = "sometimes"\n', "farm.toml: durability: Input should be 'full' or 'normal'"),
        ("max_frame_bytes = true\n", "farm.toml: max_frame_bytes: Input should be a valid integer"),
        ("[dispatcher]\nport = 1\n", "farm.toml: [dispatcher]: tables are not settings"),
        ("port = \n", "farm.toml: not valid TOML"),
        ("started = 1979-05-27\n", "farm.toml: started: no such setting"),
        ("loop_stall_s = 1979-05-27\n", "farm.toml: loop_stall_s: a date is not a valid value"),
        ('tls_cert = "/etc/corral.pem"\n', "tls_cert and tls_key go together"),
        ("hot_standby = true\n", "hot_standby needs a PostgreSQL store"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_setting(tmp_path: Path, text: str, expected: str) -> None:
    config = write(tmp_path / "farm.toml", text)
    with pytest.raises(ValidationError) as refused:
        resolve(options=options(data_dir=tmp_path), env={}, config=config)
    message = str(refused.value)
    assert expected in message
    if expected.startswith("farm.toml"):
        assert message.startswith(str(config))  # the full path of the file


def test_a_rule_across_settings_names_where_each_came_from(tmp_path: Path) -> None:
    config = write(tmp_path / "farm.toml", 'tls_cert = "/etc/corral.pem"\n')
    with pytest.raises(ValidationError) as refused:
        resolve(options=options(data_dir=tmp_path), env={}, config=config)
    assert f"tls_cert from file {config}" in str(refused.value)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.toml: cannot read the file"):
        resolve(options=options(data_dir=tmp_path), env={}, config=tmp_path / "missing.toml")
    with pytest.raises(ValidationError, match=r"gone\.toml: cannot read the file"):
        resolve(
            options=options(data_dir=tmp_path), env={"CORRAL_CONFIG": str(tmp_path / "gone.toml")}
        )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CORRAL_PORT", "http", "CORRAL_PORT: port: Input should be a valid integer, unable to parse string as an integer"),
        ("CORRAL_MAX_LOG_BYTES_PER_S", "12", "CORRAL_MAX_LOG_BYTES_PER_S: max_log_bytes_per_s: Input should be greater than or equal to 1024"),
        ("CORRAL_TEMPLATES_DIRS", "[unclosed", "CORRAL_TEMPLATES_DIRS: templates_dirs: not a valid JSON array"),
        ("CORRAL_DURABILITY", "fast", "CORRAL_DURABILITY: durability: Input should be 'full' or 'normal'"),
    ],
)  # fmt: skip
def test_a_bad_variable_is_refused_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        resolve(options=options(data_dir=tmp_path), env={variable: value})
    assert str(refused.value) == expected


def test_without_a_data_directory_nothing_is_built() -> None:
    with pytest.raises(ValidationError, match="data_dir: required"):
        resolve(options=Layer(), env={})


def test_stored_settings_win_over_the_file_and_an_option_over_them(tmp_path: Path) -> None:
    config = write(
        tmp_path / "farm.toml",
        f'data_dir = "{tmp_path}"\nheartbeat_interval_s = 3\nnode_lost_after_s = 40\n'
        "hook_timeout_s = 20\n",
    )
    env = {"CORRAL_RECONNECT_GRACE_S": "11"}
    resolved = resolve(options=options(node_lost_after_s=60.0), env=env, config=config)
    stored = {
        "heartbeat_interval_s": 1.5,  # over the file's 3
        "reconnect_grace_s": 12.0,  # over the environment's 11
        "node_lost_after_s": 45.0,  # the option's 60 wins
        "hook_timeout_s": 99.0,  # not a live setting: never taken from the store
        "offline_after_missed": "many",  # no longer valid: left out
    }
    applied, overridden = with_stored(resolved, stored, LIVE_SETTINGS)
    settings = applied.settings
    assert settings.heartbeat_interval_s == 1.5
    assert settings.reconnect_grace_s == 12.0
    assert settings.node_lost_after_s == 60.0
    assert settings.hook_timeout_s == 20.0
    assert settings.offline_after_missed == 3
    assert overridden == ["node_lost_after_s"]
    assert applied.origin("heartbeat_interval_s").kind == "stored"
    assert applied.origin("reconnect_grace_s").kind == "stored"
    assert applied.origin("node_lost_after_s") == Origin("option", "--node-lost-after-s")
    assert applied.origin("hook_timeout_s") == Origin("file", str(config))
    assert applied.origin("offline_after_missed").kind == "default"
