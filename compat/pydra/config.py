"""``load_settings()``: where the controller finds the master.

The settings come from a settings file, then the environment over it:

- the file: ``PYDRA_SETTINGS`` (a path), else ``pydra_settings.py`` in the working
  folder, else ``/etc/pydra/pydra_settings.py``; the first that exists. Its
  top-level assignments of literal values (``HOST = 'farm'``,
  ``CONTROLLER_PORT = 9890``) are read; nothing in it is run, other statements
  are skipped;
- the environment: ``PYDRA_HOST`` and ``PYDRA_CONTROLLER_PORT``.

Unset, ``HOST`` is ``localhost`` and ``CONTROLLER_PORT`` 9890 (Corral's HTTP port).
"""

import ast
import os
from typing import Any, Dict, Mapping, Optional

SETTINGS_ENV = "PYDRA_SETTINGS"
FILE_NAME = "pydra_settings.py"
SYSTEM_FILE = os.path.join(os.sep, "etc", "pydra", FILE_NAME)
ENVIRONMENT = {"HOST": "PYDRA_HOST", "CONTROLLER_PORT": "PYDRA_CONTROLLER_PORT"}
DEFAULTS = {"HOST": "localhost", "CONTROLLER_PORT": 9890}
MAX_FILE_BYTES = 1024 * 1024


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message names it."""


class Settings:
    """The settings as attributes (``settings.HOST``); ``source`` names the file read."""

    def __init__(self, values: Dict[str, Any], source: Optional[str]) -> None:
        self.__dict__.update(values)
        self.source = source

    def __getattr__(self, name: str) -> Any:
        raise AttributeError("pydra_settings has no setting %s" % name)

    def __repr__(self) -> str:
        return "<pydra settings HOST=%r CONTROLLER_PORT=%r from %s>" % (
            self.HOST,
            self.CONTROLLER_PORT,
            self.source or "the defaults",
        )


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """The settings: the defaults, the settings file's, then the environment's."""
    environ = os.environ if env is None else env
    values = dict(DEFAULTS)  # type: Dict[str, Any]
    path = _settings_file(environ)
    if path is not None:
        values.update(_read(path))
    for name, variable in ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if text:
            values[name] = text
    values["HOST"] = _host(values["HOST"], path)
    values["CONTROLLER_PORT"] = _port(values["CONTROLLER_PORT"], path)
    return Settings(values, path)


def _settings_file(environ: Mapping[str, str]) -> Optional[str]:
    named = environ.get(SETTINGS_ENV, "").strip()
    if named:
        if not os.path.isfile(named):
            raise SettingsError("%s names %s, which is not a file" % (SETTINGS_ENV, named))
        return named
    for candidate in (os.path.join(os.getcwd(), FILE_NAME), SYSTEM_FILE):
        if os.path.isfile(candidate):
            return candidate
    return None


def _read(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SettingsError("%s is over %d bytes" % (path, MAX_FILE_BYTES))
    try:
        tree = ast.parse(raw, path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = "%s line %s" % (path, line) if line else path
        raise SettingsError("%s: %s" % (where, getattr(exc, "msg", exc))) from None
    values = {}
    for statement in tree.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Name) or not target.id.isupper():
            continue
        try:
            values[target.id] = ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue  # computed from code: not read, since nothing in the file is run
    return values


def _host(value: Any, path: Optional[str]) -> str:
    if not isinstance(value, str) or not value.strip() or any(ch.isspace() for ch in value.strip()):
        raise SettingsError("HOST must be a host name%s, not %r" % (_where(path), value))
    return value.strip()


def _port(value: Any, path: Optional[str]) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(
            "CONTROLLER_PORT must be a number from 1 to 65535%s, not %r" % (_where(path), value)
        )
    return int(text)


def _where(path: Optional[str]) -> str:
    return " (%s or the environment)" % path if path else ""
