"""Software and job type operations: the registry PyFarm's software requirements and
job types name (dispatcher/software.py). Reading needs only a token; registering and
removing need administer. Software a render node reports is registered as it connects."""

from __future__ import annotations

import logging
from typing import Any

from dispatcher.auth import Permission
from dispatcher.errors import CorralError, ValidationError
from dispatcher.events import SystemEvent
from dispatcher.nodes import NodeSession
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.software import check_version

log = logging.getLogger(__name__)

MAX_VERSIONS = 256


class SoftwareOperations(Area):
    # -- software --------------------------------------------------------------------
    def list(self, actor: Actor) -> list[dict[str, Any]]:
        return self.farm.software.software()

    def get(self, actor: Actor, name: str) -> dict[str, Any]:
        return self.farm.software.get(name)

    async def register(self, actor: Actor, name: str, versions: list[str]) -> dict[str, Any]:
        """Register a software and versions of it (versions known already are kept)."""
        actor.require(Permission.ADMINISTER)
        if len(versions) > MAX_VERSIONS:
            raise ValidationError(f"versions: at most {MAX_VERSIONS}", field="versions")
        checked = [check_version(version, f"versions.{n}") for n, version in enumerate(versions)]
        self.writable()
        self.farm.software.register(name, checked)
        event = SystemEvent(action="software_register", actor=actor.name, detail={"software": name})
        await self.finish(actor, event, software=name, versions=checked)
        return self.farm.software.get(name)

    async def remove(self, actor: Actor, name: str) -> None:
        """Forget a software (jobs that require it keep their requirement)."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        self.farm.software.remove(name)
        event = SystemEvent(action="software_remove", actor=actor.name, detail={"software": name})
        await self.finish(actor, event, software=name)

    def node_attached(self, session: NodeSession) -> None:
        """A node (re)connected: the software it reports becomes known."""
        node = session.node
        try:
            if self.farm.software.reported(node):
                log.info("action=software_reported node=%d name=%s", node.id, node.label)
        except CorralError as exc:  # a name the registry refuses: the node still runs
            log.warning(
                "action=software_refused node=%d name=%s reason=%r; not registered",
                node.id, node.label, str(exc),
            )  # fmt: skip

    # -- job types -------------------------------------------------------------------
    def jobtypes(self, actor: Actor) -> list[dict[str, Any]]:
        return self.farm.software.jobtypes()

    async def register_jobtype(
        self, actor: Actor, name: str, template: str, version: int = 1
    ) -> dict[str, Any]:
        """Register PyFarm job type `name` for a template (its key or id)."""
        actor.require(Permission.ADMINISTER)
        found = self.farm.templates.get(template)
        if found is None:
            known = ", ".join(sorted(self.farm.templates.keys()))
            raise ValidationError(
                f"template: no template {template!r} (known: {known})", field="template"
            )
        self.writable()
        self.farm.software.register_jobtype(name, found.getKey(), version)
        event = SystemEvent(action="jobtype_register", actor=actor.name, detail={"jobtype": name})
        await self.finish(actor, event, jobtype=name, template=found.getKey())
        return {"name": name, "template": found.getKey(), "version": version}

    async def remove_jobtype(self, actor: Actor, name: str) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        self.farm.software.remove_jobtype(name)
        event = SystemEvent(action="jobtype_remove", actor=actor.name, detail={"jobtype": name})
        await self.finish(actor, event, jobtype=name)
