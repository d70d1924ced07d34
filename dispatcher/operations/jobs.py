"""Job operations: submit, edit (and reparent), pause, resume, reinit, delete, status
updates, and the read-only lookups every front shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from dispatcher import (
    idempotency,
    jobspec,
    listing,
    logic,
    pyfarm,
    query,
    smedge_events,
    submission_items,
)
from dispatcher.auth import Permission
from dispatcher.errors import Conflict, NotFound, PermissionDenied, ValidationError
from dispatcher.events import JobEvent
from dispatcher.model import ROOT_PARENT, Job, JobKind, Status
from dispatcher.notified import views as notified_views
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area, Farm
from dispatcher.operations.pools import IDENTITIES as POOL_IDENTITIES
from dispatcher.views import job_view

MAX_JOBS_PER_SUBMIT = 10_000
MAX_OWNER_CHARS = 255


class Submitted(list[Job]):
    """The jobs a submit queued; `replayed` when a retried keyed submit answers the jobs
    its first try queued."""

    def __init__(self, jobs: Iterable[Job], *, replayed: bool = False) -> None:
        super().__init__(jobs)
        self.replayed = replayed


class JobOperations(Area):
    def __init__(self, farm: Farm) -> None:
        super().__init__(farm)
        self.idempotency_keys = idempotency.IdempotencyKeys()
        self.query_checkers = query.checkers()

    # -- lookups -----------------------------------------------------------------
    def get(self, actor: Actor, key: int | str) -> Job:
        """A job by id, UUID or title (Conflict, listing the ids, when several bear the
        title)."""
        return self.farm.queue.get(key)

    def answer(self, actor: Actor, job: Job) -> dict[str, Any]:
        """The job as PyFarm's API shows it (REST), with its notified users."""
        queue = self.farm.queue
        view = pyfarm.job_answer(job, queue.jobs, queue.dependants.get(job.id, ()))
        view["notified_users"] = self.notified(actor, job)
        return view

    def notified(self, actor: Actor, job: Job) -> list[Any]:
        """The users notified of the job's events, as PyFarm's job answer lists them (the
        same entries as GET .../notified_users/)."""
        return notified_views(job, self.farm.users.users)

    def schema(self, actor: Actor) -> dict[str, str]:
        """PyFarm's job schema: its columns and their SQL types."""
        return dict(pyfarm.SCHEMA)

    def listing(
        self,
        actor: Actor,
        query: Mapping[str, str],
        *,
        pyfarm_views: bool = False,
    ) -> tuple[listing.Selection, listing.Render]:
        """The jobs a listing asks for (filters `state`, `user`, `parent`, `template`,
        `hidden`, through the queue's indexes) and how to render a slice of them; a front
        pages or streams it (dispatcher/listing.py)."""
        templates = self.farm.templates

        def template_key(text: str) -> str:
            found = templates.get(text)
            return found.getKey() if found is not None else text

        queue = self.farm.queue
        selection = listing.job_selection(queue, query, template_key=template_key)
        if not pyfarm_views:
            return selection, listing.job_render(queue)
        jobs, dependants = queue.jobs, queue.dependants

        def render(keys: list[int]) -> list[Any]:
            return [
                pyfarm.job_answer(job, jobs, dependants.get(key, ()))
                for key in keys
                if (job := jobs.get(key)) is not None
            ]

        return selection, render

    async def where(
        self,
        actor: Actor,
        selection: listing.Selection,
        text: str,
        *,
        after: int = -1,
        limit: int | None = None,
    ) -> listing.Selection:
        """The jobs of `selection` (after `after`, at most `limit`) that the Smedge query
        `text` (JSON, docs/rest.md "Queries") matches, as a listing of their keys.

        QueryError (400) names what is wrong with the query; Busy (503) when it runs past
        the `query_budget_s` setting."""
        checked = self.parse_where(text)
        keys = await query.matching_keys(
            checked,
            selection,
            self.farm.queue.jobs,
            budget_s=self.farm.settings.query_budget_s,
            after=after,
            limit=limit,
            slots=self.query_checkers,
        )
        return listing.Selection.of_keys(keys)

    def parse_where(self, text: str) -> query.Query:
        """A query given as JSON text, checked against the farm's templates and pools."""
        return query.read_query(text, self.query_catalog())

    def query_catalog(self) -> query.Catalog:
        """What names and values of a query resolve against: the installed templates (keys
        by key, name or id; their submission items and attributes) and the pools' ids."""
        templates: dict[str, str] = {}
        data_names: dict[str, str] = {}
        for template in self.farm.templates.templates:
            key = template.getKey()
            for alias in (key, template.getName(), str(template.getID())):
                templates.setdefault(alias.casefold(), key)
            mappings = template.getMappings()
            for item in template.getSubmissionItems():
                name = str(item.get("name") or "")
                if name:
                    data_names.setdefault(name.casefold(), mappings.get(name, name))
            for attribute in mappings.values():
                data_names.setdefault(attribute.casefold(), attribute)
        pools: dict[str, str] = {}
        identities = self.farm.records.find("config", POOL_IDENTITIES) or {}
        for name, identity in identities.items():
            for alias in (identity.get("id"), identity.get("uuid")):
                if alias is not None:
                    pools.setdefault(str(alias).casefold(), name)
        return query.Catalog(templates, pools, data_names)

    def folder(self, actor: Actor, key: int | str) -> Job:
        """A folder by id or title; NotFound when there is none, or the job is no folder."""
        job = self.get(actor, key)
        if job.kind is not JobKind.FOLDER:
            raise NotFound(f"job {job.id} is a {job.kind.value}, not a folder")
        return job

    def children(self, actor: Actor, key: int | str) -> tuple[listing.Selection, listing.Render]:
        """The jobs and folders right inside folder `key` (-1 or 0: the top of the tree),
        as a listing (dispatcher/listing.py)."""
        parent = ROOT_PARENT if key in (-1, 0) else self.folder(actor, key).id
        return self.listing(actor, {"parent": str(parent)})

    async def views(self, actor: Actor, query: Mapping[str, str] | None = None) -> list[Any]:
        """Every job's view (filtered as `listing`), built in slices that give the loop a turn."""
        selection, render = self.listing(actor, query or {})
        return await listing.collect(selection, render, slice_items=listing.JOB_SLICE)

    def why(self, actor: Actor, key: int | str) -> tuple[Job, list[str]]:
        """Why the job is not running (an empty list when nothing holds it)."""
        job = self.get(actor, key)
        server = self.farm.node_server
        nodes = list(self.farm.queue.nodes.values())
        return job, server.scheduler.why(job, nodes, server.connected())

    # -- submitting --------------------------------------------------------------
    async def submit(
        self,
        actor: Actor,
        items: list[Any],
        *,
        owner: str | None = None,
        idempotency_key: str | None = None,
        unique_titles: bool = False,
    ) -> Submitted:
        """Queue new jobs (specs as JSON objects) once their templates' hooks admitted them.

        `owner` is whom the jobs belong to when the actor is not a user (a template
        submitting for someone); a user submits as themself unless they may manage all.
        With an `idempotency_key` (dispatcher/idempotency.py), a submit the actor already
        made with that key answers its jobs (`replayed`) instead of queuing new ones, and
        a different request with the key is a Conflict; a second request arriving while
        the first is in flight waits for its outcome. `unique_titles` (PyFarm's API): a
        title already borne by a queued, running or paused job is a Conflict.
        """
        actor.require(Permission.SUBMIT)
        if idempotency_key is None:
            return Submitted(await self._submit(actor, items, owner, None, unique_titles))
        scope = (actor.name, idempotency.check_key(idempotency_key))
        request = idempotency.digest(items, owner)
        keys = self._keys()
        settings = self.farm.settings
        retention_s = settings.idempotency_retention_s
        while True:
            while (pending := keys.pending.get(scope)) is not None:
                await asyncio.shield(pending)  # resolved when the first ends, however it ends
            known = keys.find(
                scope, request, self.farm.queue.jobs, now=time.time(), retention_s=retention_s
            )
            if known is None:
                break
            await self.farm.store.commit()  # answer only what is durable
            if all(self.farm.queue.jobs.get(job.id) is job for job in known):
                return Submitted(known, replayed=True)
        keys.prune(now=time.time(), retention_s=retention_s)
        waiting = asyncio.get_running_loop().create_future()
        keys.pending[scope] = waiting
        try:
            jobs = await self._submit(
                actor, items, owner, idempotency.mark(scope, request), unique_titles
            )
        finally:
            del keys.pending[scope]
            waiting.set_result(None)
        if settings.debug_submit_answer_delay_s:  # crash tests: die between commit and answer
            await asyncio.sleep(settings.debug_submit_answer_delay_s)
        return Submitted(jobs)

    def _keys(self) -> idempotency.IdempotencyKeys:
        if not self.idempotency_keys.loaded:
            self.idempotency_keys.load(self.farm.queue.jobs.values())
        return self.idempotency_keys

    async def _submit(
        self,
        actor: Actor,
        items: list[Any],
        owner: str | None,
        key: dict[str, str] | None,
        unique_titles: bool,
    ) -> list[Job]:
        if not isinstance(items, list) or not items:
            raise ValidationError("the list of jobs is empty")
        if len(items) > MAX_JOBS_PER_SUBMIT:
            raise ValidationError(f"at most {MAX_JOBS_PER_SUBMIT} jobs per request")
        name = _owner(owner) if owner is not None else actor.name
        # Smedge's event commands become jobs of their own, run on render nodes.
        items = smedge_events.expand(items, name)
        if len(items) > MAX_JOBS_PER_SUBMIT:
            raise ValidationError(f"at most {MAX_JOBS_PER_SUBMIT} jobs per request")
        specs = []
        for position, item in enumerate(items):
            where = f"job #{position}: " if len(items) > 1 else ""
            try:
                spec = jobspec.parse_spec(item)
                spec.dependencies([0] * position)  # `submitted` names an earlier job: before hooks
            except ValidationError as exc:
                raise ValidationError(f"{where}{exc}", field=exc.field) from None
            if spec.user not in (None, name) and not actor.can(Permission.MANAGE_ALL):
                raise PermissionDenied(f"{actor.name} may not submit jobs as {spec.user}")
            self._known_users(spec.notified_users, where)
            if spec.jobtype is not None:
                self._jobtype(spec, where)
            if spec.kind is JobKind.JOB:
                template = self.farm.templates.get(spec.template)
                if template is None:
                    known = ", ".join(sorted(self.farm.templates.keys()))
                    raise ValidationError(
                        f"{where}template: no template {spec.template!r} (known: {known})",
                        field="template",
                    )
                spec.template = template.getKey()
                try:  # the template's items are the job's fields; its defaults fill the rest
                    submission_items.apply(spec, template, spec._given)
                except ValidationError as exc:
                    raise ValidationError(f"{where}{exc}", field=exc.field) from None
                if spec.logic is None:  # the submission's, Muster's packetType, the template's
                    spec.logic = logic.muster_packet_type(spec.data) or logic.from_template(
                        template.to_dict().get("logic")
                    )
                jobspec.check_command(spec, position if len(items) > 1 else None)
            specs.append(spec)
        if unique_titles:
            self._unique_titles([spec.title for spec in specs])
        self.farm.queue.check_uuids(specs)  # before any hook runs (and again when queued)
        for spec in specs:  # a software that does not exist is NotFound before any hook runs
            self._software(spec)
        specs = await self.farm.hooks.admit(specs, name)
        for spec in specs:  # (a hook may have changed them)
            spec._software = self._software(spec)
        jobs = self.farm.queue.submit(specs, name)
        if key is not None:  # commits with the jobs, in this loop tick's batch
            for job in jobs:
                job.idempotency = dict(key)
            # Known at once: should this request go away during the commit, its retry
            # still finds the jobs (a refused commit takes them back, freeing the key).
            scope = (key["by"], key["key"])
            self.idempotency_keys.add(scope, key["digest"], jobs, now=time.time())
        self.farm.hooks.submitted(jobs)
        ids = [job.id for job in jobs]
        await self.finish(actor, JobEvent(action="submit", actor=actor.name, jobs=ids), jobs=ids)
        return jobs

    def _jobtype(self, spec: jobspec.JobSpec, where: str) -> None:
        """PyFarm's jobtype: a template (key or id), or a job type registered for one."""
        assert spec.jobtype is not None
        registered = self.farm.software.jobtype(spec.jobtype)
        template = self.farm.templates.get(registered["template"] if registered else spec.jobtype)
        if template is None:
            known = ", ".join(sorted(self.farm.templates.keys()))
            raise ValidationError(
                f"{where}jobtype: no template or registered job type {spec.jobtype!r} "
                f"(templates: {known})",
                field="jobtype",
            )
        if "template" in spec.model_fields_set:
            given = self.farm.templates.get(spec.template)
            if given is None or given.getKey() != template.getKey():
                raise ValidationError(
                    f"{where}template: {spec.template!r} differs from the jobtype's template "
                    f"{template.getKey()!r}; give one of them",
                    field="template",
                )
        spec.template = template.getKey()

    def _unique_titles(self, titles: list[str]) -> None:
        queue = self.farm.queue
        wanted = set(titles)
        if len(wanted) < len(titles):
            raise Conflict("title: two jobs of this request have the same title")
        for state in (Status.QUEUED, Status.RUNNING, Status.PAUSED):
            for key in queue.index.state.ids(state):
                job = queue.jobs.get(key)
                if job is not None and job.title in wanted:
                    raise Conflict(
                        f"title: job {job.id} titled {job.title!r} is {state.value}; a live "
                        "job's title is unique on this route"
                    )

    def _known_users(self, entries: list[dict[str, Any]], where: str = "") -> None:
        """NotFound for a notified user who is no user of the dispatcher."""
        for entry in entries:
            if entry["username"] not in self.farm.users.users:
                raise NotFound(f"{where}notified_users: no user named {entry['username']!r}")

    def _software(self, spec: jobspec.JobSpec) -> list[dict[str, Any]]:
        return [
            self.farm.software.resolve(item.model_dump()) for item in spec.software_requirements
        ]

    async def add_folder(self, actor: Actor, parent: int, title: str, owner: str) -> Job:
        """Muster's jobAddFolder: a folder job under `parent` (-1 or 0: the top), owned by
        `owner` (a user making one for someone else needs manage-all)."""
        if owner != actor.name:
            actor.require(Permission.MANAGE_ALL)
        item = {"title": title, "kind": JobKind.FOLDER.value, "parent": parent}
        return (await self.submit(actor, [item], owner=owner))[0]

    # -- changing ----------------------------------------------------------------
    async def edit(
        self, actor: Actor, key: int | str, fields: Any, *, only_changed: bool = False
    ) -> Job:
        """Edit a job's fields after its template's onEditJob had its say (it may change or
        refuse the edit). `only_changed`: `fields` is a whole job (an MJob), of which only
        the editable fields that differ from the job's are applied."""
        job = self.get(actor, key)
        actor.may_manage(job)
        if only_changed:
            if not isinstance(fields, dict):
                raise ValidationError("job: an MJob is required")
            current = job_view(job)
            fields = {
                name: value
                for name, value in fields.items()
                if name in jobspec.EDITABLE and value != current.get(name)
            }
        changes = jobspec.parse_edit(fields) if fields or not only_changed else {}
        if "software_requirements" in changes:
            changes["software_requirements"] = [
                self.farm.software.resolve(item) for item in changes["software_requirements"]
            ]
        if "command" in changes:
            jobspec.check_command(job, command=changes["command"])  # type: ignore[arg-type]
        if "notified_users" in changes:
            self._known_users(changes["notified_users"])  # type: ignore[arg-type]
        if changes:
            changes = await self.farm.hooks.before_edit(job, changes)
            if self.farm.queue.jobs.get(job.id) is not job:
                raise NotFound(f"job {job.id} was deleted while its edit was checked")
            if changes:
                self.farm.queue.edit(job, changes)
        names = sorted(changes)
        event = JobEvent(action="edit", actor=actor.name, jobs=[job.id], fields=names)
        await self.finish(actor, event, job=job.id, fields=names)
        return job

    async def reparent(self, actor: Actor, key: int | str, parent: int) -> Job:
        """Move a job into folder `parent` (-1: the top): an edit of its parent."""
        return await self.edit(actor, key, {"parent": parent})

    async def pause(self, actor: Actor, key: int | str) -> Job:
        return await self._simple(actor, key, "pause")

    async def resume(self, actor: Actor, key: int | str) -> Job:
        return await self._simple(actor, key, "resume")

    async def reinit(self, actor: Actor, key: int | str) -> Job:
        """Queue every chunk of the job again (running attempts are killed)."""
        return await self._simple(actor, key, "reinit")

    async def _simple(self, actor: Actor, key: int | str, action: str) -> Job:
        job = self.get(actor, key)
        actor.may_manage(job)
        queue = self.farm.queue
        if action == "reinit":  # bounds hook loops (onJobEnd -> jobReinit) and hook depth
            self.farm.hooks.before_reinit(job)
        else:  # pause and resume are edits: their hook runs past the depth limit is refused
            what = f"{action} of job {job.id}"
            self.farm.hooks.guard(job.template, ("onJobPropertiesChanged",), what)
        {"pause": queue.pause, "resume": queue.resume, "reinit": queue.reinit}[action](job)
        await self.finish(
            actor, JobEvent(action=action, actor=actor.name, jobs=[job.id]), job=job.id
        )
        return job

    async def delete(self, actor: Actor, key: int | str) -> None:
        """Remove a job (a folder only when empty); its running attempts are killed."""
        job = self.get(actor, key)
        actor.may_manage(job)
        self.farm.hooks.guard(job.template, ("onDeleteJob",), f"delete of job {job.id}")
        self.farm.queue.delete(job)
        await self.finish(
            actor, JobEvent(action="delete", actor=actor.name, jobs=[job.id]), job=job.id
        )
        # Only once the deletion is durable: a refused one brings the job back (logs too).
        self.farm.chunk_logs.remove_job(job.id)

    async def update_status(self, actor: Actor, key: int | str) -> Job:
        """Muster's jobUpdateStatus: recount the job from its chunks and look at it again
        now: held dependency verdicts are asked again and the scheduler revisits it."""
        job = self.get(actor, key)
        actor.may_manage(job)
        self.farm.queue.refresh(job)
        event = JobEvent(action="update_status", actor=actor.name, jobs=[job.id])
        await self.finish(actor, event, job=job.id, state=job.state.value)
        return job

    async def update(self, actor: Actor, key: int | str) -> Job:
        """Muster's jobUpdate: write the job now, wait until it is durable, and tell every
        console following the farm that the job changed."""
        job = self.get(actor, key)
        actor.may_manage(job)
        self.farm.store.put_job(job)
        await self.finish(
            actor, JobEvent(action="update", actor=actor.name, jobs=[job.id]), job=job.id
        )
        return job


def _owner(owner: object) -> str:
    if not isinstance(owner, str) or not owner.strip():
        raise ValidationError("owner: a non-empty string is required", field="owner")
    name = owner.strip()
    if len(name) > MAX_OWNER_CHARS:
        raise ValidationError(f"owner: at most {MAX_OWNER_CHARS} characters", field="owner")
    return name
