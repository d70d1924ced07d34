"""Dispatcher settings: one frozen pydantic model built at the edge (the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatcher.limits import ChunkLimits
from dispatcher.model import MAX_CHUNKS_PER_JOB

DEFAULT_RENDER_PORT = 9681
DEFAULT_HTTP_PORT = 9890
DEFAULT_COMPAT_PORT = 9781

# Settings systemSetConfiguration may change while the dispatcher runs.
# The hook host's time and memory limits are start options: a hook may not lift its own.
LIVE_SETTINGS = frozenset({
    "chunk_hold_recheck_s", "idle_hook_interval_s",
    "statistics_interval_s", "exclude_after_failures", "heartbeat_interval_s",
    "offline_after_missed", "node_lost_after_s", "reconnect_grace_s", "max_log_bytes_per_s",
    "discovery_addresses", "shutdown_grace_s", "cancel_deadline_s",
})  # fmt: skip


class Settings(BaseModel):
    """Everything the dispatcher can be told. Times are seconds, sizes bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path
    host: str = "0.0.0.0"
    port: int = Field(DEFAULT_RENDER_PORT, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65535)
    compat_port: int | None = Field(DEFAULT_COMPAT_PORT, ge=0, le=65535)
    durability: Literal["full", "normal"] = "full"
    # Where the farm's state lives: "" (the default) a SQLite file in the data
    # directory; a postgresql:// URL a PostgreSQL database (docs/scaling.md).
    store: str = Field("", max_length=4096)
    # Hot standby on PostgreSQL (docs/scaling.md): whether this dispatcher competes
    # for the lead with others on the same database (off: it must be alone there),
    # the HTTP URL others reach it at while it leads ("": its own listening URL; its
    # host also names the render address), how often a standby tries to take the
    # lead (and a leader pings its lock session), how often a standby reads the farm.
    hot_standby: bool = False
    advertise_url: str = Field("", max_length=2048, pattern=r"^(https?://[^/\s]+/?)?$")
    standby_poll_s: float = Field(1.0, ge=0.05, le=60.0)
    standby_refresh_s: float = Field(5.0, ge=0.1, le=3600.0)
    heartbeat_interval_s: float = Field(5.0, ge=0.05)
    offline_after_missed: int = Field(3, ge=1)
    node_lost_after_s: float = Field(30.0, ge=0.1)
    reconnect_grace_s: float = Field(30.0, ge=0.0)
    exclude_after_failures: int = Field(3, ge=1)
    assign_ahead: int = Field(0, ge=0, le=64)
    max_frame_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_log_bytes_per_s: int = Field(4 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    templates_dirs: tuple[Path, ...] = ()
    # Chunk logs in a folder every dispatcher of the farm reaches (docs/scaling.md);
    # None: DATA_DIR/logs with SQLite, the database with PostgreSQL.
    shared_log_dir: Path | None = None
    shutdown_grace_s: float = Field(5.0, ge=0.0)
    cancel_deadline_s: float = Field(2.0, ge=0.0)
    # The hook host (hooks/supervisor.py): time limit per hook call, address-space
    # limit of the host process (0: none), how often a held chunk is asked again,
    # how often onDispatcherIdling runs while nodes idle, statistics sampling.
    hook_timeout_s: float = Field(10.0, ge=0.1, le=3600.0)
    hook_memory_limit_mb: int = Field(2048, ge=0)
    chunk_hold_recheck_s: float = Field(5.0, ge=0.05)
    idle_hook_interval_s: float = Field(60.0, ge=0.05)
    statistics_interval_s: float = Field(60.0, ge=0.05)
    discovery_addresses: tuple[str, ...] = ()
    # The store: copy the WAL into the database at most this often (0: after every
    # batch), so losing the WAL file loses little; while the disk cannot take a
    # write, probe it again after a pause that doubles up to store_retry_max_s.
    checkpoint_interval_s: float = Field(2.0, ge=0.0)
    store_retry_max_s: float = Field(1.0, ge=0.01, le=60.0)
    # Render port and HTTP hardening (docs/security.md): TLS certificate and key
    # files (both or neither), the time an unauthenticated render-port
    # connection has to finish its handshake, and how many may be handshaking
    # at once before the dispatcher stops accepting until one finishes.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    handshake_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    max_handshaking: int = Field(1024, ge=1, le=1_000_000)

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "sqlite"):
            return ""
        if value.startswith(("postgresql://", "postgres://")):
            return value
        raise ValueError(
            "not a store: leave it empty for SQLite in the data directory, or give a "
            "postgresql://[user[:password]@]host[:port]/database URL"
        )

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self

    # Input limits (dispatcher/limits.py; docs/security.md "Input limits"). A request
    # body over max_request_bytes gets 413; a submit past a chunk limit gets 422.
    max_chunks_per_job: int = Field(1_000_000, ge=1, le=MAX_CHUNKS_PER_JOB)
    max_chunks_per_request: int = Field(2_000_000, ge=1)
    max_chunks_queued: int = Field(20_000_000, ge=1)

    @property
    def chunk_limits(self) -> ChunkLimits:
        return ChunkLimits(
            self.max_chunks_per_job, self.max_chunks_per_request, self.max_chunks_queued
        )

    # A loop lag past this counts as a stall, and the watchdog logs where the loop was stuck.
    loop_stall_s: float = Field(0.1, ge=0.01, le=60.0)
    # Job queries (GET /api/v1/jobs/?where=, docs/rest.md "Queries"): how long one query
    # may test jobs, in slices that give the loop back, before it answers 503.
    query_budget_s: float = Field(5.0, gt=0.0, le=600.0)

    # Live events (GET /api/v1/events, docs/api.md "Live events"): a comment line on an
    # idle stream this often; at most this many open streams (more: 503); events one
    # stream may have waiting before its client counts as too slow and is dropped; how
    # often the progress of jobs whose chunks moved is published. /metrics without a
    # token when metrics_public (docs/operations.md "Metrics").
    events_keepalive_s: float = Field(15.0, ge=0.05, le=3600.0)
    events_max_streams: int = Field(256, ge=1, le=100_000)
    events_queue_events: int = Field(4096, ge=16, le=1_000_000)
    events_progress_interval_s: float = Field(0.5, ge=0.01, le=60.0)
    metrics_public: bool = False
    # Accounts (docs/security.md "Accounts"): how long a token from a login lives (the
    # admin.token file's does not expire); failed logins allowed per user name and per
    # client address within the window before logins answer 429; how long one call to
    # the LDAP directory may take.
    token_ttl_s: float = Field(30 * 24 * 3600.0, ge=1.0, le=10 * 365 * 24 * 3600.0)
    login_max_failures: int = Field(10, ge=1, le=1_000_000)
    login_window_s: float = Field(300.0, ge=0.1, le=86_400.0)
    ldap_timeout_s: float = Field(5.0, gt=0.0, le=120.0)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "corral.db"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    # Live log tails (GET /api/v1/logs/...?follow=1): at most this many at once (more:
    # 422), each for at most this long; a tail never holds the loop or a shutdown.
    max_log_followers: int = Field(16, ge=1, le=1024)
    max_log_follow_s: float = Field(600.0, ge=1.0, le=86400.0)
    # Notifications of a job's end or deletion (dispatcher/notify.py, docs/operations.md):
    # the SMTP server (no host: e-mail is not configured, and only logged), the sender,
    # STARTTLS and a login (the password read from a file); one time limit for each
    # e-mail or webhook call, how many attempts a notification gets (the pause between
    # them doubling from notify_retry_s), how many may wait, and how many go out at once.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "corral@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password_file: Path | None = None
    notify_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    notify_attempts: int = Field(3, ge=1, le=100)
    notify_retry_s: float = Field(5.0, ge=0.0, le=3600.0)
    notify_queue_max: int = Field(10_000, ge=1, le=10_000_000)
    notify_concurrency: int = Field(4, ge=1, le=256)
    # Idempotent submits (docs/api.md): how long a submit's Idempotency-Key is remembered
    # (a key is also freed when its jobs are deleted). For crash tests only: how long a
    # submit holds its answer after its commit (0: not at all), so that a test can kill
    # the dispatcher between the two.
    idempotency_retention_s: float = Field(86400.0, ge=1.0, le=366 * 86400.0)
    debug_submit_answer_delay_s: float = Field(0.0, ge=0.0, le=60.0)
