"""Running `corral` commands against a live farm: in this process through click's runner
(fast, the real command group with its exit codes and stderr), or as the installed
command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from console.cli import main
from tests.integration.farm import CORRAL, Farm


@dataclass
class Ran:
    """What a command printed and its exit code."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, (self.code, self.err)
        return json.loads(self.out)


def _env(farm: Farm, token: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CORRAL_")}
    env["CORRAL_DISPATCHER"] = farm.url
    env["CORRAL_TOKEN"] = farm.token if token is None else token
    return env


def cli(farm: Farm, *args: str, token: str | None = None, stdin: str | bytes = "") -> Ran:
    """`corral ARGS` in this process against `farm` (the admin token unless `token`)."""
    result = CliRunner().invoke(main, list(args), input=stdin, env=_env(farm, token))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def corral(farm: Farm, *args: str, token: str | None = None, stdin: str = "") -> Ran:
    """`corral ARGS` as a subprocess, as a user types it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update({key: value for key, value in _env(farm, token).items() if value is not None})
    done = subprocess.run([CORRAL, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    return Ran(done.returncode, done.stdout, done.stderr)


def user_token(farm: Farm, name: str, *permissions: str) -> str:
    """A new user with these permissions, logged in: their token."""
    password = f"{name}-password-1"
    farm.request("POST", "/api/v1/users/", {"name": name, "password": password,
                                           "permissions": list(permissions)})  # fmt: skip
    answer = farm.request("POST", "/api/v1/login", {"username": name, "password": password}, "")
    return str(answer["token"])


def complete(farm: Farm, line: str) -> list[str]:
    """What bash completion offers for `line` (the word after its last space)."""
    words = line.split(" ")
    env = {**_env(farm, None), "_CORRAL_COMPLETE": "bash_complete", "COMP_WORDS": line,
           "COMP_CWORD": str(len(words) - 1)}  # fmt: skip
    result = CliRunner().invoke(main, [], env=env, prog_name="corral")
    return [entry.split(",", 1)[1] for entry in result.stdout.splitlines() if "," in entry]
