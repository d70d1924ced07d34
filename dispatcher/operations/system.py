"""Dispatcher-wide operations: settings and LDAP, the engine, soft restart, counters,
the network scan, templates and scripts, queue export and import, and the status.

Changes need administer; the status and the read-only views need none.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from typing import Any

import pydantic

from dispatcher import VERSION, discovery, snapshot
from dispatcher.auth import Permission, effective_permissions
from dispatcher.config import LIVE_SETTINGS, Settings
from dispatcher.config_sources import DEFAULT, STORED, Origin
from dispatcher.errors import ValidationError
from dispatcher.events import SystemEvent
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area, Farm
from dispatcher.protocol import PROTOCOL_VERSION
from dispatcher.store.urls import redact
from hooks.catalog import TemplateCatalog, TemplateInfo
from hooks.runtime import bundled_templates_dir

log = logging.getLogger(__name__)

MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_SCRIPT_NAME_CHARS = 255


LDAP_KEYS = {
    "enabled": bool, "server": str, "port": int, "use_ssl": bool, "base_dn": str, "bind_user": str,
    "bind_password": str, "user_filter": str, "group_filter": str, "directory": str,
    "user_attribute": str,
}  # fmt: skip

# The dispatcher-side hooks, in the seed's order.
DISPATCHER_HOOKS = (
    "onDispatcherOverrideImpersonationUser", "onValidateJobSubmission", "onDeleteJob", "onSubmitJob",
    "onReinitJob", "onEditJob", "onJobPropertiesChanged", "onJobCompleted", "onValidateJobDependancies",
    "onValidateChunkDependancies", "onJobStart", "onJobEnd", "onDispatcherIdling",
)  # fmt: skip


def checked_settings(current: Settings, values: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """The settings with `values` applied, and the changed ones; ValidationError names the first bad one."""
    known = current.model_dump(mode="json")
    changed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ValidationError(f"{name}: no such setting", field=name)
        if value == known[name] or (name == "store" and value == redact(known[name])):
            continue  # (the configuration as read back, the store's password shown as ***)
        if name not in LIVE_SETTINGS:
            raise ValidationError(
                f"{name}: cannot change while the dispatcher runs (a start option)", field=name
            )
        changed[name] = value
    try:
        updated = Settings.model_validate({**current.model_dump(), **changed})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"{where}: {first['msg']}", field=where) from None
    return updated, changed


def template_view(template: TemplateInfo, origin: str | None) -> dict[str, Any]:
    view = template.to_dict()
    view["hooks"] = [name for name in DISPATCHER_HOOKS if template.overrides(name)]
    view["file"] = origin
    return view


class SystemOperations(Area):
    api_calls = 0  # MDispatcherAPI calls answered (counted by the hook API front)
    ldap: dict[str, Any]
    # Where each setting's value came from (dispatcher/config_sources.py); the CLI sets
    # them at start, stored and API changes update them. A name not here is a default.
    origins: dict[str, Origin]

    def __init__(self, farm: Farm) -> None:
        super().__init__(farm)
        self.origins = {}

    async def _done(self, actor: Actor, action: str, /, **detail: Any) -> None:
        await self.finish(
            actor, SystemEvent(action=action, actor=actor.name, detail=detail), **detail
        )

    # -- settings --------------------------------------------------------------------
    def apply_settings(self, updated: Settings) -> None:
        """Take changed live settings without a restart."""
        farm = self.farm
        farm.settings = updated
        server = farm.node_server
        server.settings = updated.model_copy(update={"port": server.settings.port})
        farm.queue.exclude_after_failures = updated.exclude_after_failures

    def apply_stored(self) -> None:
        """Apply the settings stored with systemSetConfiguration(..., store=True), and load
        the LDAP configuration."""
        records = self.farm.records
        self.ldap = records.find("ldap", "ldap") or {}
        stored = records.find("config", "settings")
        if not stored:
            return
        fixed = sorted(name for name in stored if name not in LIVE_SETTINGS)
        if fixed:  # stored by an older version; start options now
            log.warning(
                "action=stored_settings_ignored fields=%s reason=start_options", ",".join(fixed)
            )
            stored = {name: value for name, value in stored.items() if name in LIVE_SETTINGS}
        # An option given on the command line wins over a stored value (docs/operations.md).
        pinned = sorted(name for name in stored if self.origin(name).kind == "option")
        if pinned:
            log.warning(
                "action=stored_settings_overridden fields=%s reason=command_line_option; "
                "the option's value is used",
                ",".join(pinned),
            )
            stored = {name: value for name, value in stored.items() if name not in pinned}
        try:
            updated, changed = checked_settings(self.farm.settings, stored)
        except ValidationError as exc:
            log.error("action=stored_settings_ignored reason=%s", exc)
            return
        self.apply_settings(updated)
        for name in stored:
            self.origins[name] = STORED
        log.info("action=stored_settings_applied fields=%s", ",".join(sorted(changed)))

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, DEFAULT)

    def configuration(self, actor: Actor) -> dict[str, Any]:
        """The settings in force, the live ones, and where each value came from."""
        values = self.farm.settings.model_dump(mode="json")
        values["store"] = redact(values["store"])  # (a password in the URL is never shown)
        return {
            "values": values,
            "live": sorted(LIVE_SETTINGS),
            "origins": {name: self.origin(name).to_dict() for name in values},
        }

    async def configure(self, actor: Actor, values: object, *, store: bool) -> list[str]:
        """Change live settings now; `store` keeps them for the next start."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        if not isinstance(values, dict):
            raise ValidationError("configuration: an MDispatcherConfiguration is required")
        updated, changed = checked_settings(self.farm.settings, values)
        self.apply_settings(updated)
        for name in changed:
            self.origins[name] = STORED if store else Origin("api", f"changed by {actor.name}")
        if store:
            records = self.farm.records
            stored = records.find("config", "settings") or {}
            records.put("config", "settings", {**stored, **changed})
        await self._done(actor, "set_configuration", fields=sorted(changed), stored=bool(store))
        return sorted(changed)

    def ldap_configuration(self, actor: Actor) -> dict[str, Any]:
        info = dict(self.ldap)
        info["bind_password"] = ""  # write-only
        return info

    async def configure_ldap(self, actor: Actor, info: object, *, store: bool) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        if not isinstance(info, dict):
            raise ValidationError("configuration: an MLDAPConfiguration is required")
        checked: dict[str, Any] = {}
        for key, value in info.items():
            kind = LDAP_KEYS.get(key)
            if kind is None:
                raise ValidationError(f"{key}: no such LDAP setting", field=key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValidationError(f"{key}: must be {kind.__name__}", field=key)
            checked[key] = value
        if not 0 < int(checked.get("port", 389)) < 65536:
            raise ValidationError("port: 1..65535", field="port")
        if not checked.get("bind_password"):
            checked["bind_password"] = self.ldap.get("bind_password", "")
        self.ldap = checked
        if store:
            self.farm.records.put("ldap", "ldap", checked)
        await self._done(actor, "set_ldap_configuration", stored=bool(store))

    # -- the engine and the dispatcher ---------------------------------------------------
    def engine_running(self, actor: Actor) -> bool:
        return not self.farm.node_server.scheduler.paused

    async def set_engine(self, actor: Actor, running: bool) -> bool:
        """Pause (no new assignments anywhere) or run the scheduler."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        server = self.farm.node_server
        scheduler = server.scheduler
        scheduler.paused = not running
        if running:
            for session in list(server.live.values()):
                scheduler.node_free(session)
            scheduler.kick()
        log.warning("action=engine_%s", "running" if running else "paused")
        await self._done(actor, "engine_status", paused=not running)
        return running

    async def soft_restart(self, actor: Actor) -> None:
        """Reload templates and stored settings, restart the hook host; work goes on."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        self.apply_stored()
        await self._reload_hooks()
        log.warning("action=soft_restart")
        await self._done(actor, "soft_restart")

    async def reset_counters(self, actor: Actor) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        farm = self.farm
        farm.node_server.results = 0
        farm.node_server.scheduler.assigned = 0
        farm.hook_host.faults = 0
        self.api_calls = 0
        log.info("action=counters_reset")
        await self._done(actor, "reset_counters")

    async def scan_nodes(self, actor: Actor) -> int:
        """Probe the discovery addresses; register the render clients that answer."""
        actor.require(Permission.MANAGE_NODES)
        self.writable()
        farm = self.farm
        answers = await discovery.scan(
            farm.settings.discovery_addresses, farm.node_server.secret, timeout_s=1.0
        )
        registered = 0
        for answer in answers:
            for instance in range(answer.instances):
                if discovery.register(farm.queue, farm.store, answer.name, instance, answer.host):
                    registered += 1
        log.info("action=nodes_scanned answered=%d registered=%d", len(answers), registered)
        await self._done(actor, "nodes_network_scan", answered=len(answers), registered=registered)
        return len(answers)

    # -- templates and scripts ---------------------------------------------------------------
    async def load_templates(self) -> TemplateCatalog:
        """Load the template folders in a child process (a template never runs in the dispatcher)."""
        dirs = [bundled_templates_dir(), *self.farm.settings.templates_dirs]
        self.farm.templates = await asyncio.to_thread(TemplateCatalog.load, dirs)
        for error in self.farm.templates.errors:
            log.error("action=template_error %s", error)
        return self.farm.templates

    async def _reload_hooks(self) -> TemplateCatalog:
        templates = await self.load_templates()
        self.farm.hook_host.request_restart()
        self.farm.hooks.holding.forget_all()
        for job in self.farm.queue.jobs.values():
            self.farm.node_server.scheduler.job_changed(job)
        return templates

    async def reload_templates(self, actor: Actor) -> dict[str, Any]:
        """Reload the template files here and in a fresh hook host; held jobs are asked again."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        templates = await self._reload_hooks()
        await self._done(actor, "templates_reload", templates=len(templates.templates))
        return self.templates(actor)

    def templates(self, actor: Actor) -> dict[str, Any]:
        """The installed templates, the hooks each overrides, load errors, the hook host."""
        farm = self.farm
        catalog = farm.templates
        return {
            "templates": [
                template_view(t, catalog.origins.get(t.getKey())) for t in catalog.templates
            ],
            "errors": list(catalog.errors),
            "digest": catalog.digest,
            "hook_host": {
                "pid": farm.hook_host.pid,
                "starts": farm.hook_host.starts,
                "faults": farm.hook_host.faults,
            },
        }

    async def run_script(self, actor: Actor, name: object, code: object) -> dict[str, Any]:
        """Run a script in the dispatcher context (administer); its output and outcome. Its
        MDispatcherAPI calls act as the actor who ran it."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        if not isinstance(code, str) or len(code) > MAX_SCRIPT_BYTES:
            raise ValidationError(
                "code: the script's Python text (at most 4 MB) is required", field="code"
            )
        if not isinstance(name, str) or not name or len(name) > MAX_SCRIPT_NAME_CHARS:
            raise ValidationError(
                f"name: a script name of at most {MAX_SCRIPT_NAME_CHARS} characters", field="name"
            )
        try:
            compile(code, name, "exec")
        except SyntaxError as exc:
            raise ValidationError(f"code: line {exc.lineno}: {exc.msg}", field="code") from None
        self.record(actor, SystemEvent(action="run_script", actor=actor.name, detail={"name": name}),
                    name=name, bytes=len(code))  # fmt: skip
        started = time.monotonic()
        done = await self.farm.hook_host.run_script(name, code, actor=actor.name)
        await asyncio.sleep(0)
        await self.farm.store.commit()
        return {
            "ok": done.ok and not done.error,
            "output": done.output,
            "error": done.error,
            "api_errors": list(done.api_errors),
            "elapsed_s": round(time.monotonic() - started, 6),
        }

    def script_actor(self, name: str) -> Actor:
        """Who a running dispatcher-context script acts for (`template:?` when unknown)."""
        user = self.farm.users.users.get(name) if name else None
        if user is None:
            return Actor.of_template("?")
        return Actor.of_script(user, effective_permissions(user, self.farm.records))

    # -- the queue as a whole -------------------------------------------------------------------
    def export_queue(self, actor: Actor) -> str:
        return snapshot.export(list(self.farm.queue.jobs.values()))

    async def import_queue(self, actor: Actor, text: object) -> int:
        """Replace the whole queue with a checked snapshot (administer)."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("sql: a non-empty string is required", field="sql")
        jobs = snapshot.parse(text)
        farm = self.farm
        farm.queue.replace_all(jobs)
        farm.hooks.holding.forget_all()
        for job in jobs:
            farm.node_server.scheduler.job_changed(job)
        await self._done(actor, "import_queue", jobs=len(jobs))
        return len(jobs)

    # -- status -----------------------------------------------------------------------------------
    def status(self, actor: Actor, *, collect_garbage: bool = False) -> dict[str, Any]:
        """The dispatcher's counters. `collect_garbage` runs a full collection first, so that
        `rss_bytes` is the resident memory the queue really needs (it pauses the loop)."""
        if collect_garbage:
            gc.collect()
        farm = self.farm
        server = farm.node_server
        return {
            "version": VERSION,
            "protocol": PROTOCOL_VERSION,
            "uptime_s": round(time.time() - farm.started_at, 3),
            "jobs": len(farm.queue.jobs),
            "nodes": len(farm.queue.nodes),
            "nodes_online": len(server.connected()),
            "chunks_running": len(farm.queue.running),
            "chunks_assigned": server.scheduler.assigned,
            "results": server.results,
            "store_batches": farm.store.batches,
            "store_health": farm.store.health(),
            "loop": farm.loop_lag.view(),
            "store": farm.store.pragmas(),
            "templates": sorted(farm.templates.keys()),
            "render_port": farm.render_address[1],
            "rss_bytes": _rss_bytes(),
            "gc": _collector_view(),
            "hook_host_pid": farm.hook_host.pid,
            "hook_host_starts": farm.hook_host.starts,
            "hook_faults": farm.hook_host.faults,
            "hooks_skipped": farm.hooks.skipped,
            "hook_api_calls": self.api_calls,
            "pools_revision": farm.records.revisions["pool"],
            "repositories_revision": farm.records.revisions["repository"],
            "events_published": farm.bus.published,
            "user": actor.name,
            **farm.role_view(),  # role, epoch, leader_url, leader_render (hot standby)
        }


def _collector_view() -> dict[str, Any]:
    """The garbage collector's settings and its collections so far, by generation."""
    return {
        "threshold": list(gc.get_threshold()),
        "frozen": gc.get_freeze_count(),
        "collections": [generation["collections"] for generation in gc.get_stats()],
    }


def _rss_bytes() -> int | None:
    """This process's resident memory now (Linux); None where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
