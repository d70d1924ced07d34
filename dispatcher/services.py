"""The dispatcher's hook-facing services, mixed into `Dispatcher` (dispatcher/app.py).

They start after the node server and stop before it: the named records
(pools, repositories, groups, stored settings, LDAP), the message and activity
logs, the statistics sampler, and the template hooks with their hook host.
The methods here are the operations MDispatcherAPI and the REST routes for
templates and scripts share.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatcher import discovery
from dispatcher.activity import ActivityLog, LogFolder, MessageLog, StatisticsSampler
from dispatcher.config import Settings
from dispatcher.errors import ValidationError
from dispatcher.model import Job
from dispatcher.records import Records
from hooks.catalog import TemplateCatalog
from hooks.lifecycle import Hooks
from hooks.runtime import bundled_templates_dir
from hooks.supervisor import HookHost

if TYPE_CHECKING:
    from dispatcher.control import NodeControl
    from dispatcher.nodes import NodeServer
    from dispatcher.queue import Queue
    from dispatcher.store.sqlite import SqliteStore
    from hooks.service import ApiService

log = logging.getLogger(__name__)


def chain(*callbacks: Callable[..., None]) -> Callable[..., None]:
    """One callable that calls each of `callbacks` in order."""

    def call_all(*args: Any) -> None:
        for callback in callbacks:
            callback(*args)

    return call_all


class HookServices:
    """Mixin for Dispatcher: records, logs, statistics, hooks. Needs the attributes below."""

    settings: Settings
    store: SqliteStore
    queue: Queue
    node_server: NodeServer
    control: NodeControl
    templates: TemplateCatalog
    records: Records
    message_log: MessageLog
    activity: ActivityLog
    action_logs: LogFolder
    sampler: StatisticsSampler
    api: ApiService
    hook_host: HookHost
    hooks: Hooks
    ldap_config: dict[str, Any]

    async def reload_templates(self) -> TemplateCatalog:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------
    async def start_hook_services(self) -> None:
        """Start after the node server exists (its scheduler gets the hook points)."""
        from hooks.service import ApiService

        settings = self.settings
        self.records = Records(self.store)
        self.records.load(await self.store.records())
        self._apply_stored_settings()
        self.ldap_config = self.records.find("ldap", "ldap") or {}
        self.message_log = MessageLog(settings.logs_dir)
        self.activity = ActivityLog(settings.logs_dir, self.store)
        self.action_logs = LogFolder(settings.logs_dir, r"actions(-[\w.-]+)?\.log")
        self.sampler = StatisticsSampler(
            self.store, self.statistics_sample, lambda: self.settings.statistics_interval_s
        )
        self.api = ApiService(self)  # type: ignore[arg-type]
        self.hook_host = HookHost(
            self.api.handle,
            templates_dirs=self.templates_dirs,
            timeout_s=settings.hook_timeout_s,  # start options: fixed for the host's life
            memory_limit_mb=settings.hook_memory_limit_mb,
        )
        self.hooks = Hooks(self, self.hook_host)  # type: ignore[arg-type]
        scheduler = self.node_server.scheduler
        scheduler.holds = self.hooks.holds
        scheduler.holds_job = self.hooks.holds_job
        queue = self.queue
        queue.on_change = chain(self.hooks.job_changed, queue.on_change)
        queue.on_finished = chain(queue.on_finished, self.hooks.job_finished)
        queue.on_edited = self.hooks.job_edited
        queue.on_deleted = self.hooks.job_deleted
        queue.on_reinit = self.hooks.job_reinit
        queue.on_started = self.hooks.job_started
        from hooks.service.accounts import apply_configured_pools

        self.node_server.on_attached = chain(
            lambda session: apply_configured_pools(self, session.node),  # type: ignore[arg-type]
            self.node_server.on_attached,
        )
        await self.hooks.start()
        await self.sampler.start()

    async def close_hook_services(self) -> None:
        """Stop the hooks (and their host) and the sampler. Safe twice."""
        if hasattr(self, "hooks"):
            await self.hooks.close()
        if hasattr(self, "sampler"):
            await self.sampler.close()
        if hasattr(self, "activity"):
            self.activity.close()

    def templates_dirs(self) -> list[Path]:
        return [bundled_templates_dir(), *self.settings.templates_dirs]

    def _apply_stored_settings(self) -> None:
        from hooks.service.system import LIVE_SETTINGS, checked_settings

        stored = self.records.find("config", "settings")
        if not stored:
            return
        fixed = sorted(name for name in stored if name not in LIVE_SETTINGS)
        if fixed:  # stored by an older version; start options now
            log.warning(
                "action=stored_settings_ignored fields=%s reason=start_options", ",".join(fixed)
            )
            stored = {name: value for name, value in stored.items() if name in LIVE_SETTINGS}
        try:
            updated, changed = checked_settings(self.settings, stored)
        except ValidationError as exc:
            log.error("action=stored_settings_ignored reason=%s", exc)
            return
        self.apply_settings(updated)
        log.info("action=stored_settings_applied fields=%s", ",".join(sorted(changed)))

    # -- operations ------------------------------------------------------------------
    async def edit_job(self, job: Job, changes: dict[str, Any]) -> Job:
        """Edit a job after its template's onEditJob had its say (it may change or refuse it)."""
        changes = await self.hooks.before_edit(job, changes)
        if changes:
            self.queue.edit(job, changes)
        return job

    async def reload_hooks(self) -> TemplateCatalog:
        """Reload the template files here and in a fresh hook host; re-ask held jobs."""
        templates = await self.reload_templates()
        self.hook_host.request_restart()
        self.hooks.forget_all()
        for job in self.queue.jobs.values():
            self.node_server.scheduler.job_changed(job)
        return templates

    async def soft_restart(self) -> None:
        """Reload templates and stored settings, restart the hook host; work goes on."""
        self._apply_stored_settings()
        await self.reload_hooks()
        log.warning("action=soft_restart")

    def set_engine_paused(self, paused: bool) -> bool:
        scheduler = self.node_server.scheduler
        scheduler.paused = paused
        if not paused:
            for session in list(self.node_server.live.values()):
                scheduler.node_free(session)
            scheduler.kick()
        log.warning("action=engine_%s", "paused" if paused else "running")
        return paused

    def reset_counters(self) -> None:
        self.node_server.results = 0
        self.node_server.scheduler.assigned = 0
        self.hook_host.faults = 0
        self.api.calls = 0
        log.info("action=counters_reset")

    def apply_settings(self, updated: Settings) -> None:
        """Take changed live settings (systemSetConfiguration) without a restart."""
        self.settings = updated
        if hasattr(self, "node_server"):
            self.node_server.settings = updated.model_copy(
                update={"port": self.node_server.settings.port}
            )
        self.queue.exclude_after_failures = updated.exclude_after_failures

    async def scan_nodes(self) -> int:
        """Probe the discovery addresses; register the render clients that answer."""
        answers = await discovery.scan(
            self.settings.discovery_addresses, self.node_server.secret, timeout_s=1.0
        )
        registered = 0
        for answer in answers:
            for instance in range(answer.instances):
                if discovery.register(self.queue, self.store, answer.name, instance, answer.host):
                    registered += 1
        log.info("action=nodes_scanned answered=%d registered=%d", len(answers), registered)
        return len(answers)

    def hook_status(self) -> dict[str, Any]:
        """The hooks' part of GET /api/v1/status."""
        if not hasattr(self, "hooks"):
            return {}
        return {
            "hook_host_pid": self.hook_host.pid,
            "hook_host_starts": self.hook_host.starts,
            "hook_faults": self.hook_host.faults,
            "hooks_skipped": self.hooks.skipped,
            "hook_api_calls": self.api.calls,
            "pools_revision": self.records.revisions["pool"],
            "repositories_revision": self.records.revisions["repository"],
        }

    def statistics_sample(self) -> dict[str, Any]:
        return {
            "time": time.time(),
            "jobs": len(self.queue.jobs),
            "nodes": len(self.queue.nodes),
            "nodes_online": len(self.node_server.connected()),
            "chunks_running": len(self.queue.running),
            "results": self.node_server.results,
            "assigned": self.node_server.scheduler.assigned,
            "hook_faults": self.hook_host.faults,
        }

    async def run_script(self, name: str, code: str) -> dict[str, Any]:
        """Run a dispatcher-context script in the hook host; its output and outcome."""
        if not isinstance(code, str) or len(code) > 4 * 1024 * 1024:
            raise ValidationError(
                "code: the script's text (at most 4 MB) is required", field="code"
            )
        try:
            compile(code, name, "exec")
        except SyntaxError as exc:
            raise ValidationError(f"code: line {exc.lineno}: {exc.msg}", field="code") from None
        started = time.monotonic()
        done = await self.hook_host.run_script(name, code)
        await asyncio.sleep(0)
        return {
            "ok": done.ok and not done.error,
            "output": done.output,
            "error": done.error,
            "api_errors": list(done.api_errors),
            "elapsed_s": round(time.monotonic() - started, 6),
        }
