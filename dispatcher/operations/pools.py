"""Pool and repository operations. Changes need administer.

A pool is a name nodes announce or an administrator adds; each has a record
with its integer id and stable UUID (given when the dispatcher first sees the
pool, kept through a rename), a description and the nodes configured into it.
Pool names are unique, so a lookup by name is never ambiguous.
"""

from __future__ import annotations

import uuid
from typing import Any

from dispatcher.auth import Permission
from dispatcher.errors import Conflict, NotFound, ValidationError
from dispatcher.events import AccountEvent
from dispatcher.nodes import NodeSession
from dispatcher.operations.accounts import checked_fields, name_of
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.records import check_name

POOL_FIELDS: dict[str, type] = {"name": str, "description": str, "nodes": list}
IDENTITIES = "pool_identities"  # the "config" record that holds every pool's id and UUID
ALIASES = "pool_renames"  # the "config" record: old pool name -> the name it was given
POOL_CONFIG = "template_config:pool:"  # + name: a pool's client configuration values
REPOSITORY_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "windows": str,
    "mac": str,
    "linux": str,
}


def _repository(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: fields.get(key, "") for key in ("description", "windows", "mac", "linux")}


class PoolOperations(Area):
    async def _done(self, actor: Actor, action: str, kind: str, name: str) -> None:
        event = AccountEvent(action=action, actor=actor.name, kind=kind, name=name)
        await self.finish(actor, event, name=name)

    # -- identity ------------------------------------------------------------------
    def identify(self) -> None:
        """Give every pool nodes announce, and every configured one, its id and UUID."""
        for name in self.names():
            self._identity(name)

    def _identity(self, name: str) -> dict[str, Any]:
        """The pool's {"id", "uuid"}, given on first sight and kept in the records."""
        records = self.farm.records
        identities = records.find("config", IDENTITIES) or {}
        identity = identities.get(name)
        if identity is None:
            number = max([0, *[item["id"] for item in identities.values()]]) + 1
            identity = identities[name] = {"id": number, "uuid": str(uuid.uuid4())}
            records.put("config", IDENTITIES, identities)
        return dict(identity)

    def _forget_identity(self, name: str) -> None:
        identities = self.farm.records.find("config", IDENTITIES) or {}
        if identities.pop(name, None) is not None:
            self.farm.records.put("config", IDENTITIES, identities)

    def node_attached(self, session: NodeSession) -> None:
        """A node (re)connected: it joins the configured pools that list it; the pools it
        announces get their identity."""
        node = session.node
        records = self.farm.records
        aliases = records.find("config", ALIASES) or {}
        if any(name in aliases for name in node.pools):
            node.pools = sorted({aliases.get(name, name) for name in node.pools})
            self.farm.store.put_node(node)
        # (read in place, no copy of every pool: this runs in every handshake)
        for name in records.names("pool"):
            if name not in node.pools and node.label in (
                records.value("pool", name, "nodes") or ()
            ):
                node.pools = sorted({*node.pools, name})
                self.farm.store.put_node(node)
        for name in node.pools:
            if records.value("config", IDENTITIES, name) is None:
                self._identity(name)

    # -- pools -----------------------------------------------------------------------
    def names(self) -> list[str]:
        announced = {pool for node in self.farm.queue.nodes.values() for pool in node.pools}
        return sorted(announced | set(self.farm.records.names("pool")))

    def view(self, name: str) -> dict[str, Any]:
        info = self.farm.records.find("pool", name) or {}
        identity = (self.farm.records.find("config", IDENTITIES) or {}).get(name, {})
        nodes = self.farm.queue.nodes.values()
        members = sorted(node.label for node in nodes if name in node.pools)
        return {"id": identity.get("id"), "uuid": identity.get("uuid"), "name": name,
                "description": info.get("description", ""), "nodes": members}  # fmt: skip

    def pools(self, actor: Actor) -> list[dict[str, Any]]:
        return [self.view(name) for name in self.names()]

    def pool(self, actor: Actor, key: object) -> dict[str, Any]:
        """A pool by name, by its integer id, or by its UUID (a `uuid.UUID`)."""
        if isinstance(key, int) and not isinstance(key, bool):
            for name in self.names():
                if self.view(name)["id"] == key:
                    return self.view(name)
            raise NotFound(f"no pool with id {key}")
        if isinstance(key, uuid.UUID):
            for name in self.names():
                if self.view(name)["uuid"] == str(key):
                    return self.view(name)
            raise NotFound(f"no pool with UUID {key}")
        text = name_of(key)
        if text not in self.names():
            raise NotFound(f"no pool named {text!r}")
        return self.view(text)

    def _set_members(self, name: str, labels: list[str] | None) -> None:
        queue = self.farm.queue
        by_label = {node.label: node for node in queue.nodes.values()}
        if labels is not None:
            unknown = [label for label in labels if label not in by_label]
            if unknown:
                raise ValidationError(f"nodes: no node named {unknown[0]!r}", field="nodes")
        wanted = set(labels or ())
        server = self.farm.node_server
        for node in queue.nodes.values():
            member = name in node.pools
            should = False if labels is None else node.label in wanted
            if member != should:
                node.pools = sorted(set(node.pools) ^ {name})
                self.farm.store.put_node(node)
                session = server.live.get(node.id)
                if session is not None:
                    server.scheduler.node_free(session)

    async def configure_pool(self, actor: Actor, info: object) -> dict[str, Any]:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, POOL_FIELDS)
        name = name_of(fields.get("name"))
        if name not in self.names():
            raise NotFound(f"no pool named {name!r}")
        nodes = fields.get("nodes", self.view(name)["nodes"])
        return await self._save_pool(actor, "pool_configure", name, fields, nodes)

    async def add_pool(self, actor: Actor, info: object) -> dict[str, Any]:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, POOL_FIELDS)
        name = check_name("pool", fields.get("name"))
        if name in self.names():
            raise Conflict(f"a pool named {name!r} exists already")
        aliases = self.farm.records.find("config", ALIASES) or {}
        if aliases.pop(name, None) is not None:  # the name is a pool's own again
            self.farm.records.put("config", ALIASES, aliases)
        return await self._save_pool(actor, "pool_add", name, fields, fields.get("nodes", []))

    async def _save_pool(
        self, actor: Actor, action: str, name: str, fields: dict[str, Any], nodes: list[str]
    ) -> dict[str, Any]:
        """Set the pool's members and record it (description, node names); its view."""
        self._set_members(name, nodes)
        self._identity(name)
        record = {"description": fields.get("description", ""), "nodes": sorted(set(nodes))}
        self.farm.records.put("pool", name, record)
        await self._done(actor, action, "pool", name)
        return self.view(name)

    async def remove_pool(self, actor: Actor, name: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        text = name_of(name)
        if text not in self.names():
            raise NotFound(f"no pool named {text!r}")
        self._set_members(text, None)
        if self.farm.records.find("pool", text) is not None:
            self.farm.records.remove("pool", text)
        self._forget_identity(text)
        await self._done(actor, "pool_remove", "pool", text)

    async def rename_pool(self, actor: Actor, name: object, new_name: object) -> dict[str, Any]:
        """Give a pool a new name (administer). Its id and UUID stay; the nodes in it and
        the jobs that name it (in `pools` or `excluded_pools`) follow. A render client that
        still announces the old name joins the pool under its new name."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        old = name_of(name)
        if old not in self.names():
            raise NotFound(f"no pool named {old!r}")
        new = check_name("pool", new_name)
        if new == old:
            return self.view(old)
        if new in self.names():
            raise Conflict(f"a pool named {new!r} exists already")
        records = self.farm.records
        identities = records.find("config", IDENTITIES) or {}
        identities[new] = identities.pop(old, None) or self._identity(old)
        records.put("config", IDENTITIES, identities)
        aliases = records.find("config", ALIASES) or {}
        aliases = {was: (new if now == old else now) for was, now in aliases.items()}
        aliases[old] = new
        aliases.pop(new, None)
        records.put("config", ALIASES, aliases)
        for kind, was, now in (
            ("pool", old, new),
            ("config", POOL_CONFIG + old, POOL_CONFIG + new),
        ):
            record = records.find(kind, was)
            if record is not None:
                records.remove(kind, was)
                records.put(kind, now, record)
        for node in self.farm.queue.nodes.values():
            if old in node.pools:
                node.pools = sorted({*node.pools, new} - {old})
                self.farm.store.put_node(node)
        for job in list(self.farm.queue.jobs.values()):
            if old in job.pools or old in job.excluded_pools:
                job.pools = [new if pool == old else pool for pool in job.pools]
                job.excluded_pools = [new if pool == old else pool for pool in job.excluded_pools]
                self.farm.queue.refresh(job)
        await self._done(actor, "pool_rename", "pool", new)
        return self.view(new)

    async def notify(self, actor: Actor, kind: str) -> int:
        """Tell the consoles that the pools (or repositories) changed: a new revision."""
        actor.require(Permission.ADMINISTER)
        self.writable()
        revision = self.farm.records.notify(kind)
        await self._done(actor, f"{kind}_notify", kind, str(revision))
        return revision

    # -- repositories -----------------------------------------------------------------
    def repositories(self, actor: Actor) -> list[dict[str, Any]]:
        return [{"name": name, **info} for name, info in self.farm.records.all("repository")]

    def repository(self, actor: Actor, name: object) -> dict[str, Any]:
        text = name_of(name)
        return {"name": text, **self.farm.records.get("repository", text)}

    async def configure_repository(self, actor: Actor, info: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, REPOSITORY_FIELDS)
        name = name_of(fields.get("name"))
        previous = self.farm.records.get("repository", name)
        self.farm.records.put(
            "repository", name, {**previous, **_repository({**previous, **fields})}
        )
        await self._done(actor, "repository_configure", "repository", name)

    async def add_repository(self, actor: Actor, info: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, REPOSITORY_FIELDS)
        name = check_name("repository", fields.get("name"))
        self.farm.records.add("repository", name, _repository(fields))
        await self._done(actor, "repository_add", "repository", name)

    async def remove_repository(self, actor: Actor, name: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        text = name_of(name)
        self.farm.records.remove("repository", text)
        await self._done(actor, "repository_remove", "repository", text)
