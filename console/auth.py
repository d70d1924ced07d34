"""Where a console finds its dispatcher and its token.

The order, first found wins:

- URL: ``--dispatcher``, env ``CORRAL_DISPATCHER``, ``http_url`` (or ``http_port``)
  in ``DATA_DIR/dispatcher.json``, then ``http://127.0.0.1:9890``. The option and
  the variable may name several dispatchers of one farm separated by commas
  (``farm1:9890,farm2:9890``): a call moves on to the next when one is unreachable.
- token: ``--token``, env ``CORRAL_TOKEN``, ``~/.config/corral/token``, then
  ``DATA_DIR/admin.token`` when this user can read it.

``DATA_DIR`` is ``--data-dir`` or env ``CORRAL_DATA_DIR``. Nothing here reads the
process environment by itself: callers pass the mapping in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from console.http import DispatcherClient
from corral_client.addresses import normalize_urls
from corral_client.discovery import recorded_url

DISPATCHER_ENV = "CORRAL_DISPATCHER"
TOKEN_ENV = "CORRAL_TOKEN"
DATA_DIR_ENV = "CORRAL_DATA_DIR"
TLS_CA_ENV = "CORRAL_TLS_CA"
DEFAULT_URL = "http://127.0.0.1:9890"
TOKEN_FILE = Path(".config") / "corral" / "token"
ADMIN_TOKEN_NAME = "admin.token"
DISPATCHER_FILE_NAME = "dispatcher.json"


@dataclass(frozen=True, slots=True)
class Found:
    """A discovered value and where it came from (for error messages)."""

    value: str
    source: str


def data_dir_from(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The dispatcher data directory the console may read, if any was named."""
    if explicit:
        return Path(explicit).expanduser()
    named = env.get(DATA_DIR_ENV, "").strip()
    return Path(named).expanduser() if named else None


def normalize_url(url: str) -> str:
    """'host:9890' -> 'http://host:9890'; no trailing slash."""
    cleaned = url.strip()
    if "://" not in cleaned:
        cleaned = "http://" + cleaned
    return cleaned.rstrip("/")


def find_dispatcher_url(
    explicit: str | None, env: Mapping[str, str], data_dir: Path | None
) -> Found:
    """The dispatcher's HTTP base URL (several joined by commas), in the documented order."""
    if explicit and explicit.replace(",", "").strip():
        return Found(normalize_urls(explicit), "--dispatcher")
    named = env.get(DISPATCHER_ENV, "").strip()
    if named.replace(",", "").strip():
        return Found(normalize_urls(named), DISPATCHER_ENV)
    if data_dir is not None:
        recorded = _url_from_dispatcher_file(data_dir / DISPATCHER_FILE_NAME)
        if recorded:
            return Found(recorded, str(data_dir / DISPATCHER_FILE_NAME))
    return Found(DEFAULT_URL, "default")


def find_token(
    explicit: str | None,
    env: Mapping[str, str],
    home: Path | None,
    data_dir: Path | None,
) -> Found | None:
    """The bearer token, following the documented order; None when there is none."""
    if explicit and explicit.strip():
        return Found(explicit.strip(), "--token")
    named = env.get(TOKEN_ENV, "").strip()
    if named:
        return Found(named, TOKEN_ENV)
    candidates = []
    if home is not None:
        candidates.append(home / TOKEN_FILE)
    if data_dir is not None:
        candidates.append(data_dir / ADMIN_TOKEN_NAME)
    for path in candidates:
        token = _read_small_text(path)
        if token:
            return Found(token, str(path))
    return None


def token_hint() -> str:
    """What to do when no token was found, in one clause."""
    return (
        f"pass --token, set {TOKEN_ENV}, write ~/{TOKEN_FILE.as_posix()}, "
        f"or name the dispatcher's data directory with --data-dir or {DATA_DIR_ENV}"
    )


def _read_small_text(path: Path) -> str:
    try:
        with path.open("r", encoding="utf-8") as handle:
            return handle.read(4096).strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _url_from_dispatcher_file(path: Path) -> str:
    return recorded_url(str(path))


@dataclass
class CliState:
    """The global options, resolved into a client on first use."""

    dispatcher: str | None = None
    token: str | None = None
    data_dir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    home: Path | None = None
    tls_ca: str | None = None
    _client: DispatcherClient | None = None

    def client(self) -> DispatcherClient:
        if self._client is None:
            data_dir = data_dir_from(self.data_dir, self.env)
            url = find_dispatcher_url(self.dispatcher, self.env, data_dir)
            token = find_token(self.token, self.env, self.home, data_dir)
            hint = "" if token else f"no token found: {token_hint()}"
            ca_file = self.tls_ca or self.env.get(TLS_CA_ENV, "").strip() or None
            self._client = DispatcherClient(
                url.value, token.value if token else None, auth_hint=hint, ca_file=ca_file
            )
        return self._client
