"""The environment a render client gives the processes it starts.

Corral's own secrets never reach a render, node code or a system-event
command: the farm secret, tokens and anything that names them. Removed are
CORRAL_* variables whose name says SECRET, TOKEN, PASSWORD or KEY, every
variable whose value holds the farm secret, and every variable whose value is
the path of the secret file.

A render client reads its own environment for every chunk it starts;
`current_environ` and `environ_without_secrets` give copies of it that are
worked out again only when it changed since the last call.
"""

from __future__ import annotations

import os
import threading
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


_lock = threading.Lock()
# (os.environ's raw data when read, that environment as text, its secret-free copies)
_memo: tuple[dict[bytes, bytes], dict[str, str], dict[bytes, dict[str, str]]] | None = None


def _snapshot() -> tuple[dict[str, str], dict[bytes, dict[str, str]]]:
    """This process's environment as text, and the memo of its secret-free copies."""
    global _memo
    raw = getattr(os.environ, "_data", None)
    if not isinstance(raw, dict):  # not CPython's os.environ: no cheap way to compare
        return dict(os.environ), {}
    with _lock:
        memo = _memo
        if memo is None or memo[0] != raw:
            memo = (dict(raw), dict(os.environ), {})
            _memo = memo
        return memo[1], memo[2]


def current_environ() -> dict[str, str]:
    """A copy of this process's environment (`dict(os.environ)`)."""
    return dict(_snapshot()[0])


def environ_without_secrets(secret: bytes) -> dict[str, str]:
    """A copy of this process's environment without Corral's secrets
    (`without_secrets(os.environ, secret)`)."""
    environ, clean = _snapshot()
    found = clean.get(secret)
    if found is None:
        found = without_secrets(environ, secret)
        with _lock:
            if len(clean) < 8:  # one secret per farm; a few at most in tests
                clean[secret] = found
    return dict(found)
