"""The job views Assign messages carry, encoded once and kept until the job changes.

Every Assign carries its job's fields (`views.job_fields`), translated for the node's
platform when the job marks fields for it (`paths.translate_job`). A dispatch pass used
to build and encode the view of each job it served; passes come every few milliseconds,
so the same bytes were made again and again. Here a view is kept per job and platform
while the job object is the same one, at the same `Job.version` (the queue bumps it on
every change of the job's fields), and a translated view while the repositories are the
ones it was made with. The frames are byte for byte what a fresh view would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatcher import paths
from dispatcher import protocol as p
from dispatcher.model import Job
from dispatcher.views import job_fields

# Views kept at most (per job and platform); past this, finished and deleted jobs'
# views go first, then the least recently used.
MAX_VIEWS = 8192

# (job id, platform: "" for a view nothing is translated in) -> (job, version, view)
_Key = tuple[int, str]
_Entry = tuple[Job, int, dict[str, Any]]


class AssignViews:
    """Encoded Assign views of the queue's jobs (`jobs`: the queue's own table, read
    when trimming), at most `max_views`."""

    def __init__(self, jobs: Mapping[int, Job], max_views: int = MAX_VIEWS) -> None:
        if max_views < 1:
            raise ValueError(f"max_views must be at least 1, not {max_views}")
        self.jobs = jobs
        self.max_views = max_views
        self.encoded = 0  # views built and encoded so far (the rest were reused)
        self._views: dict[_Key, _Entry] = {}
        self._repositories: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._views)

    def repositories_are(self, repositories: list[dict[str, Any]]) -> None:
        """The repositories translated views are made with from now on: when they are not
        the ones the kept views were made with, those views go."""
        if repositories == self._repositories:
            return
        self._repositories = repositories
        for key in [key for key in self._views if key[1]]:
            del self._views[key]

    def view(self, job: Job, platform: str) -> dict[str, Any]:
        """The job's view, encoded (`protocol.preencoded`); translated for `platform`
        unless it is "" (call `repositories_are` first, in the same loop turn)."""
        key = (job.id, platform)
        views = self._views
        entry = views.pop(key, None)
        if entry is not None and entry[0] is job and entry[1] == job.version:
            views[key] = entry  # (now the most recently used)
            return entry[2]
        fields = job_fields(job)
        if platform:
            fields = paths.translate_job(fields, self._repositories or [], platform)
        view = p.preencoded(fields)
        self.encoded += 1
        views[key] = (job, job.version, view)
        if len(views) > self.max_views:
            self._trim()
        return view

    def _trim(self) -> None:
        """Down to three quarters of the cap: views of jobs finished or no longer in the
        queue first, then the least recently used."""
        views, jobs = self._views, self.jobs
        for key in [
            key for key, (job, _, _) in views.items() if job.finished or jobs.get(key[0]) is not job
        ]:
            del views[key]
        excess = len(views) - self.max_views * 3 // 4
        if excess > 0:
            for key in list(views)[:excess]:
                del views[key]
