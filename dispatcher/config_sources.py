"""Where each dispatcher setting comes from, and the one order in which they count.

In rising precedence (a later source wins over an earlier one):

1. ``default``: the value in dispatcher/config.py;
2. ``file``: the TOML file (``--config FILE``, else ``CORRAL_CONFIG``, else
   ``DATA_DIR/corral.toml`` when it exists);
3. ``env``: ``CORRAL_<SETTING>`` environment variables (``CORRAL_HEARTBEAT_INTERVAL_S``);
4. ``stored``: live settings an administrator changed through the API with
   ``store=True`` (systemSetConfiguration), applied when the dispatcher starts;
5. ``option``: options given on the ``corral dispatcher`` command line.

Every value is checked on its own before the settings are built, so an error
names the setting and where it came from (``/etc/corral.toml: port: ...``,
``CORRAL_PORT: port: ...``). This module never reads the environment or the
store itself: the CLI hands in its environment and the stored values.
"""

from __future__ import annotations

import difflib
import json
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import TypeAdapter

from dispatcher.config import Settings
from dispatcher.errors import ValidationError
from dispatcher.store.urls import redact

ENV_PREFIX = "CORRAL_"
CONFIG_ENV = "CORRAL_CONFIG"
DEFAULT_FILE_NAME = "corral.toml"
MAX_FILE_BYTES = 1024 * 1024
# CORRAL_* variables that are not dispatcher settings: the consoles', the render
# client's and the entry point's own switches. Any other unknown one is reported.
OTHER_ENV = frozenset({
    CONFIG_ENV, "CORRAL_DISPATCHER", "CORRAL_TOKEN", "CORRAL_TLS_CA", "CORRAL_SECRET",
    "CORRAL_EVENT_LOOP", "CORRAL_PROFILE",
})  # fmt: skip
# How a file or a variable says "none" to a setting that may be unset (compat_port, tls_cert).
OFF_WORDS = frozenset({"", "off", "none"})
ORIGIN_KINDS = ("default", "file", "env", "stored", "option", "api")


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: its kind (ORIGIN_KINDS) and the file,
    variable or option that gave it."""

    kind: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.where}" if self.where else self.kind

    def to_dict(self) -> dict[str, str]:
        return {"origin": self.kind, "where": self.where}


DEFAULT = Origin("default")
STORED = Origin("stored", "the dispatcher's store")


@dataclass
class Layer:
    """Checked values of one source, and the origin of each."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def add(self, name: str, value: Any, origin: Origin) -> None:
        self.values[name] = value
        self.origins[name] = origin


@dataclass(frozen=True)
class Resolved:
    """The settings built from every source, the origin of each value, and the file read."""

    settings: Settings
    origins: dict[str, Origin]
    file: Path | None = None

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, DEFAULT)

    def report(self, live: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """Every setting: its value (JSON), origin, where, and whether the API may change it."""
        values = self.settings.model_dump(mode="json")
        values["store"] = redact(values["store"])  # (a password in the URL is never shown)
        changeable = set(live)
        return {
            name: {"value": value, **self.origin(name).to_dict(), "live": name in changeable}
            for name, value in values.items()
        }


# -- one value -------------------------------------------------------------------------
def names() -> list[str]:
    return list(Settings.model_fields)


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    info = Settings.model_fields[name]
    kind: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(kind)


def _allows_none(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    return type(None) in typing.get_args(annotation) and (
        typing.get_origin(annotation) in (typing.Union, types.UnionType)
    )


def _is_sequence(name: str) -> bool:
    return typing.get_origin(Settings.model_fields[name].annotation) is tuple


def _unknown(name: str, where: str) -> ValidationError:
    close = difflib.get_close_matches(name, names(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ValidationError(f"{where}: {name}: no such setting{hint}", field=name)


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if error["type"] != "json_invalid" else "not a valid value"


def check_value(name: str, value: Any, where: str) -> Any:
    """A typed value (a TOML file's or a stored one) checked strictly: a string is not a
    number, a number not a string. ValidationError names the setting and `where`."""
    if name not in Settings.model_fields:
        raise _unknown(name, where)
    if isinstance(value, str) and _allows_none(name) and value.strip().lower() in OFF_WORDS:
        return None
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        kind = type(value).__name__
        raise ValidationError(
            f"{where}: {name}: a {kind} is not a valid value", field=name
        ) from None
    try:
        return _adapter(name).validate_json(text, strict=True)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"{where}: {name}: {_first_error(exc)}", field=name) from None


def check_text(name: str, text: str, where: str) -> Any:
    """A value given as text (an environment variable): numbers and words are parsed; a
    list is a JSON array or comma-separated; "off", "none" or "" unset what may be unset."""
    if name not in Settings.model_fields:
        raise _unknown(name, where)
    stripped = text.strip()
    if _allows_none(name) and stripped.lower() in OFF_WORDS:
        return None
    value: Any = stripped
    if _is_sequence(name):
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError:
                raise ValidationError(
                    f"{where}: {name}: not a valid JSON array", field=name
                ) from None
        else:
            value = [part.strip() for part in stripped.split(",") if part.strip()]
    try:
        return _adapter(name).validate_python(value)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"{where}: {name}: {_first_error(exc)}", field=name) from None


# -- the sources --------------------------------------------------------------------------
def read_file(path: Path) -> Layer:
    """The settings of a TOML file: top-level keys named like the settings."""
    where = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValidationError(f"{where}: cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{where}: not valid TOML: {exc}") from None
    layer = Layer()
    origin = Origin("file", where)
    for name, value in parsed.items():
        if isinstance(value, dict):
            raise ValidationError(
                f"{where}: [{name}]: tables are not settings; write every setting at the top",
                field=name,
            )
        layer.add(name, check_value(name, value, where), origin)
    return layer


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def read_env(env: Mapping[str, str]) -> Layer:
    """The CORRAL_<SETTING> variables of `env` that name a setting."""
    layer = Layer()
    for name in names():
        variable = env_name(name)
        if variable in env:
            layer.add(name, check_text(name, env[variable], variable), Origin("env", variable))
    return layer


def unknown_env(env: Mapping[str, str]) -> list[str]:
    """CORRAL_* variables that are neither a setting nor another known switch (typos)."""
    known = {env_name(name) for name in names()} | OTHER_ENV
    return sorted(key for key in env if key.startswith(ENV_PREFIX) and key not in known)


def config_file(
    option: Path | None, env: Mapping[str, str], data_dir: Path | None
) -> tuple[Path | None, bool]:
    """The file to read, and whether it was named (a named file must exist; the default
    DATA_DIR/corral.toml is read only when present)."""
    if option is not None:
        return option, True
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        return Path(named), True
    if data_dir is not None and (data_dir / DEFAULT_FILE_NAME).is_file():
        return data_dir / DEFAULT_FILE_NAME, False
    return None, False


def resolve(*, options: Layer, env: Mapping[str, str], config: Path | None = None) -> Resolved:
    """Build the settings from the defaults, the file, the environment and `options` (the
    options given on the command line); ValidationError names the first bad value."""
    from_env = read_env(env)
    data_dir = options.values.get("data_dir", from_env.values.get("data_dir"))
    path, named = config_file(config, env, data_dir)
    from_file = read_file(path) if path is not None else Layer()
    inside = path is not None and not named
    if inside and from_file.values.get("data_dir", data_dir) != data_dir:
        raise ValidationError(
            f"{path}: data_dir: the file inside the data directory cannot name another",
            field="data_dir",
        )
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for layer in (from_file, from_env, options):
        values.update(layer.values)
        origins.update(layer.origins)
    if "data_dir" not in values:
        raise ValidationError(
            "data_dir: required: give --data-dir, CORRAL_DATA_DIR or data_dir in the "
            "configuration file",
            field="data_dir",
        )
    return Resolved(build(values, origins), origins, path)


def build(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> Settings:
    """Settings from checked values; a rule across settings (tls_cert with tls_key) that
    fails names the settings it involves and their origins."""
    try:
        return Settings(**values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        message = _first_error(exc)
        involved = [str(part) for part in error["loc"]] or [
            name for name in values if name in message
        ]
        sources = ", ".join(
            f"{name} from {origins.get(name, DEFAULT)}" for name in involved if name in values
        )
        raise ValidationError(
            f"{message} ({sources})" if sources else message,
            field=involved[0] if involved else None,
        ) from None


def with_stored(
    resolved: Resolved, stored: Mapping[str, Any], live: Iterable[str]
) -> tuple[Resolved, list[str]]:
    """The settings once the stored live settings are applied over the file and the
    environment (an option given on the command line still wins), and the names a
    command-line option kept from the stored value. A stored value that is no longer
    valid or live is left out, as the dispatcher leaves it out."""
    changeable = set(live)
    values = resolved.settings.model_dump()
    origins = dict(resolved.origins)
    overridden = []
    for name, value in stored.items():
        if name not in changeable:
            continue
        if resolved.origin(name).kind == "option":
            overridden.append(name)
            continue
        try:
            values[name] = check_value(name, value, "stored")
        except ValidationError:
            continue
        origins[name] = STORED
    try:
        settings = Settings(**values)
    except pydantic.ValidationError:
        return resolved, overridden
    return Resolved(settings, origins, resolved.file), sorted(overridden)
