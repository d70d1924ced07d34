"""Dispatcher settings: one frozen pydantic model built at the edge (the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_RENDER_PORT = 9681
DEFAULT_HTTP_PORT = 9890
DEFAULT_COMPAT_PORT = 9781


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
    # A loop lag past this counts as a stall, and the watchdog logs where the loop was stuck.
    loop_stall_s: float = Field(0.1, ge=0.01, le=60.0)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "corral.db"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"
