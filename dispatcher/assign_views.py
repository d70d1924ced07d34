"""The job views Assign messages carry, encoded once and kept until the job changes.

Every Assign carries its job's fields (`views.job_fields`), translated for the node's
platform when the job marks fields for it (`paths.translate_job`), and its chunk's
frames as text (`views.frame_texts`). A dispatch pass used to build both for each job
it served; passes come every few milliseconds, so the same bytes were made again and
again. Here a view is kept per job and platform while the job object is the same one,
at the same `Job.version` (the queue bumps it on every change of the job's fields), and
a translated view while the repositories are the ones it was made with; the frame
texts likewise, while the job also has as many chunks. The frames are byte for byte
what fresh ones would give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dispatcher import paths
from dispatcher import protocol as p
from dispatcher.model import Job
from dispatcher.views import frame_texts, job_fields

# Views kept at most (per job and platform); past this, finished and deleted jobs'
# views go first, then the least recently used.
MAX_VIEWS = 8192

# (job id, platform: "" for a view nothing is translated in) -> (job, version, view)
_Key = tuple[int, str]
_Entry = tuple[Job, int, dict[str, Any]]
_Texts = Callable[[int], tuple[str, str]]


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
        # job id -> (job, version, chunk count, frame_texts of the job)
        self._texts: dict[int, tuple[Job, int, int, _Texts]] = {}
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

    def texts(self, job: Job) -> _Texts:
        """`views.frame_texts(job)`: chunk index -> its first and last frame as text."""
        texts = self._texts
        entry = texts.pop(job.id, None)
        if (
            entry is not None
            and entry[0] is job
            and entry[1] == job.version
            and entry[2] == len(job.chunk_status)
        ):
            texts[job.id] = entry
            return entry[3]
        made = frame_texts(job)
        texts[job.id] = (job, job.version, len(job.chunk_status), made)
        if len(texts) > self.max_views:
            self._trim()
        return made

    def forget(self, job_id: int) -> None:
        """Drop what is kept of a job that left the queue (deleted, or replaced by an
        import): nothing holds it, or its chunk arrays, alive."""
        self._texts.pop(job_id, None)
        for key in [key for key in self._views if key[0] == job_id]:
            del self._views[key]

    def _trim(self) -> None:
        """Each table down to three quarters of the cap: entries of jobs finished or no
        longer in the queue first, then the least recently used."""
        jobs, keep = self.jobs, self.max_views * 3 // 4
        tables: tuple[dict[Any, Any], ...] = (self._views, self._texts)
        for table in tables:
            if len(table) <= keep:
                continue
            for key in [
                key
                for key, (job, *_) in table.items()
                if job.finished or jobs.get(job.id) is not job
            ]:
                del table[key]
            for key in list(table)[: max(0, len(table) - keep)]:
                del table[key]
