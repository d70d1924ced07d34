"""The environment a render client gives the processes it starts.

Corral's own secrets never reach a render, node code or a system-event
command: the farm secret, tokens and anything that names them. Removed are
CORRAL_* variables whose name says SECRET, TOKEN, PASSWORD or KEY, every
variable whose value holds the farm secret, and every variable whose value is
the path of the secret file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping

SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY")
MIN_SECRET_CHARS = 8  # shorter secrets would match too much by accident


def is_corral_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper.startswith("CORRAL_") and any(word in upper for word in SECRET_WORDS)


def secret_names(env: Mapping[str, str], secret: bytes, paths: Iterable[str] = ()) -> list[str]:
    """The names in `env` that carry a Corral secret (see the module docstring)."""
    text = secret.decode("utf-8", "replace") if len(secret) >= MIN_SECRET_CHARS else ""
    path_values = {str(path) for path in paths if path}
    return [
        name
        for name, value in env.items()
        if is_corral_secret_name(name) or (text and text in value) or value in path_values
    ]


def without_secrets(
    env: Mapping[str, str], secret: bytes, paths: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of `env` without Corral's secrets."""
    drop = set(secret_names(env, secret, paths))
    return {name: value for name, value in env.items() if name not in drop}


def remove_secrets(
    env: MutableMapping[str, str] | None, secret: bytes, paths: Iterable[str] = ()
) -> list[str]:
    """Remove Corral's secrets from `env` (this process's environment by default)."""
    target: MutableMapping[str, str] = os.environ if env is None else env
    names = secret_names(target, secret, paths)
    for name in names:
        del target[name]
    return names
