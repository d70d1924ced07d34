"""Where the library finds the dispatcher and the token, as the ``corral`` command does.

First found wins:

- the dispatcher: the ``dispatcher`` argument, env ``CORRAL_DISPATCHER``, the
  address in ``DATA_DIR/dispatcher.json``, then ``http://127.0.0.1:9890``; the
  argument and the variable may name several dispatchers of one farm, separated
  by commas (``farm1:9890,farm2:9890``: see ``corral_client.addresses``);
- the token: the ``token`` argument, env ``CORRAL_TOKEN``, the file
  ``~/.config/corral/token`` (written by ``corral login``), then
  ``DATA_DIR/admin.token`` when this user can read it.

``DATA_DIR`` is env ``CORRAL_DATA_DIR``, a dispatcher's data directory.
"""

import json
import os
from typing import Mapping, Optional

from .addresses import normalize_url, normalize_urls

DISPATCHER_ENV = "CORRAL_DISPATCHER"
TOKEN_ENV = "CORRAL_TOKEN"
TLS_CA_ENV = "CORRAL_TLS_CA"
DATA_DIR_ENV = "CORRAL_DATA_DIR"
DEFAULT_URL = "http://127.0.0.1:9890"
TOKEN_FILE = os.path.join(".config", "corral", "token")
MAX_TOKEN_BYTES = 4096


def find_dispatcher(explicit: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    """The dispatcher's HTTP base URL: ``explicit``, ``CORRAL_DISPATCHER``, the default.

    A list of addresses comes back as URLs joined by commas.
    """
    if explicit and explicit.replace(",", "").strip():
        return normalize_urls(explicit)
    environ = os.environ if env is None else env
    named = environ.get(DISPATCHER_ENV, "").strip()
    if named.replace(",", "").strip():
        return normalize_urls(named)
    folder = _data_dir(environ)
    recorded = recorded_url(os.path.join(folder, "dispatcher.json")) if folder else ""
    return recorded or DEFAULT_URL


def token_path(home: Optional[str] = None) -> str:
    """The token file ``corral login`` writes: ``~/.config/corral/token``."""
    return os.path.join(home if home is not None else os.path.expanduser("~"), TOKEN_FILE)


def find_token(
    explicit: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    home: Optional[str] = None,
) -> Optional[str]:
    """The bearer token: ``explicit``, ``CORRAL_TOKEN``, the token file; None if none."""
    if explicit and explicit.strip():
        return explicit.strip()
    environ = os.environ if env is None else env
    named = environ.get(TOKEN_ENV, "").strip()
    if named:
        return named
    folder = _data_dir(environ)
    for path in [token_path(home)] + ([os.path.join(folder, "admin.token")] if folder else []):
        token = _read_small(path)
        if token:
            return token
    return None


def _data_dir(environ: Mapping[str, str]) -> Optional[str]:
    named = environ.get(DATA_DIR_ENV, "").strip()
    return os.path.expanduser(named) if named else None


def _read_small(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_TOKEN_BYTES).strip()
    except (OSError, UnicodeDecodeError):
        return ""


def recorded_url(path: str) -> str:
    """The HTTP address a running dispatcher wrote into its ``dispatcher.json``, or ""."""
    try:
        record = json.loads(_read_small(path) or "null")
    except ValueError:
        return ""
    if not isinstance(record, dict):
        return ""
    url = record.get("http_url")
    if isinstance(url, str) and url.strip():
        return normalize_url(url)
    port = record.get("http_port")
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return "http://127.0.0.1:%d" % port
    return ""


def save_token(token: str, home: Optional[str] = None) -> str:
    """Write ``token`` to the token file (mode 0600), as ``corral login`` does; its path."""
    path = token_path(home)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return path


DEFAULT_PORT = 9890


def master_url(
    host_var: str,
    port_var: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    default_port: int = DEFAULT_PORT,
) -> str:
    """The dispatcher's URL from another farm's variables, e.g. ``SMEDGE_MASTER``.

    ``host_var`` holds a host, ``host:port`` or a URL; ``port_var`` (when given and
    set) holds the port for a host that names none; otherwise ``default_port``.
    With ``host_var`` unset: ``CORRAL_DISPATCHER``, then the default address.
    ``host_var`` may name several dispatchers of one farm separated by commas; the
    answer is then their URLs joined by commas.
    Raises ValueError for a port that is not a number from 1 to 65535.
    """
    environ = os.environ if env is None else env
    hosts = [part.strip() for part in environ.get(host_var, "").split(",") if part.strip()]
    if not hosts:
        return find_dispatcher(None, environ)
    return ",".join(_master_url(host, host_var, port_var, environ, default_port) for host in hosts)


def _master_url(
    host: str,
    host_var: str,
    port_var: Optional[str],
    environ: Mapping[str, str],
    default_port: int,
) -> str:
    if "://" in host:
        return normalize_url(host)
    port_text = environ.get(port_var, "").strip() if port_var else ""
    where = port_var if port_text and port_var else host_var
    if host.count(":") == 1:  # host:port (an IPv6 address has more colons)
        host, port_text = host.split(":")
        where = host_var
        if not port_text or not host:
            raise ValueError("%s: %r is not host or host:port" % (host_var, environ[host_var]))
    port = _port(port_text or str(default_port), where)
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "http://%s:%d" % (host, port)


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError("%s: the port must be a number from 1 to 65535, not %r" % (where, text))
    return int(text)
