"""DrQueue's job and frame_info objects over Corral jobs of the ``cmdline`` template."""

import re
import shlex
from typing import Any, Dict, List, Optional

from corral_client.commands import shell_operator

from ._link import DrQueueError, NotSupported, call, check_who, epoch, failed, submit

# Job status (job.status) and frame status (frame_info.status), as libdrqueue numbers them.
JOBSTATUS_WAITING = 0
JOBSTATUS_ACTIVE = 1
JOBSTATUS_STOPPED = 2
JOBSTATUS_FINISHED = 3
FS_WAITING = 0
FS_ASSIGNED = 1
FS_ERROR = 2
FS_FINISHED = 3

# A job limit of 65535 CPUs (libdrqueue's "no limit") or 0 means no limit here.
MAXCPUS_UNLIMITED = 65535
TEMPLATE = "cmdline"

_JOB_STATUS = {
    "queued": JOBSTATUS_WAITING,
    "running": JOBSTATUS_ACTIVE,
    "paused": JOBSTATUS_STOPPED,
    "done": JOBSTATUS_FINISHED,
    "failed": JOBSTATUS_FINISHED,
}
_FRAME_STATUS = {
    "queued": FS_WAITING,
    "running": FS_ASSIGNED,
    "failed": FS_ERROR,
    "done": FS_FINISHED,
    "skipped": FS_FINISHED,
}
_STATUS_NAMES = {
    JOBSTATUS_WAITING: "Waiting",
    JOBSTATUS_ACTIVE: "Active",
    JOBSTATUS_STOPPED: "Stopped",
    JOBSTATUS_FINISHED: "Finished",
}
# $DRQUEUE_FRAME in a DrQueue command is the task's first frame; Corral fills {start} in.
_FRAME_VARIABLE = re.compile(r"\$\{?DRQUEUE_FRAME\}?(?![A-Za-z0-9_])")


def job_status_string(status: int) -> str:
    """The name of a job status: ``"Waiting"``, ``"Active"``, ``"Stopped"``, ``"Finished"``."""
    return _STATUS_NAMES.get(status, "Unknown")


class job_limits:  # noqa: N801 (libdrqueue's name)
    """A job's limits: ``nmaxcpus`` (nodes at once), ``nmaxcpuscomputer``, ``memory``
    (MB a node needs, 0: any) and ``pool`` (pool names, comma-separated)."""

    __slots__ = ("nmaxcpus", "nmaxcpuscomputer", "memory", "pool")

    def __init__(self) -> None:
        self.nmaxcpus = MAXCPUS_UNLIMITED
        self.nmaxcpuscomputer = MAXCPUS_UNLIMITED
        self.memory = 0
        self.pool = ""


class frame_info:  # noqa: N801 (libdrqueue's name)
    """One frame of a job: ``status`` (FS_*), ``start_time``/``end_time`` (seconds since
    1970, 0 when not yet), ``exitcode``, ``icomp`` (the computer's id, -1 for none),
    ``itask`` (the Corral task id) and ``requeued`` (attempts before the last)."""

    __slots__ = ("status", "start_time", "end_time", "exitcode", "icomp", "itask", "requeued")

    def __init__(self) -> None:
        self.status = FS_WAITING
        self.start_time = 0
        self.end_time = 0
        self.exitcode = 0
        self.icomp = -1
        self.itask = -1
        self.requeued = 0

    def __repr__(self) -> str:
        return "<drqueue.frame_info status=%d icomp=%d>" % (self.status, self.icomp)


class job:  # noqa: N801 (libdrqueue's name)
    """A DrQueue job: one not yet sent (``drqueue.job()``) or one of the master's.

    Set ``name``, ``cmd`` (a command line, split as a shell would split it but never
    run by a shell), ``frame_start``, ``frame_end``, ``frame_step``, ``block_size``
    (frames per task), ``priority`` (None: the template's default), ``owner``
    (empty: the token's user), ``envvars`` (a dict), ``dependid`` (a job to wait
    for, 0: none) and ``limits``; then ``send_to_queue()``. An attribute the
    bindings do not know is an AttributeError, never silently dropped.
    """

    __slots__ = (
        "id", "name", "owner", "cmd", "status", "frame_start", "frame_end", "frame_step",
        "block_size", "priority", "envvars", "dependid", "limits", "nprocs", "fleft",
        "fdone", "ffailed", "submit_time", "avg_frame_time", "est_finish_time",
    )  # fmt: skip

    def __init__(self) -> None:
        self.id = -1
        self.name = ""
        self.owner = ""
        self.cmd = ""
        self.status = JOBSTATUS_WAITING
        self.frame_start = 1
        self.frame_end = 1
        self.frame_step = 1
        self.block_size = 1
        self.priority: Optional[int] = None
        self.envvars = {}  # type: Dict[str, str]
        self.dependid = 0
        self.limits = job_limits()
        self.nprocs = 0
        self.fleft = 0
        self.fdone = 0
        self.ffailed = 0
        self.submit_time = 0
        self.avg_frame_time = 0
        self.est_finish_time = 0

    def __repr__(self) -> str:
        return "<drqueue.job id=%d name=%r status=%s>" % (
            self.id, self.name, job_status_string(self.status)
        )  # fmt: skip

    # -- sending -------------------------------------------------------------
    def send_to_queue(self) -> int:
        """Queue the job on the master; 1 on success (``id`` is then the new job's), else 0."""
        try:
            spec = self._spec()
            created = submit(spec)
        except (DrQueueError, ValueError) as exc:
            return failed("send_to_queue", exc)
        self._load(created)
        return 1

    def _spec(self) -> Dict[str, Any]:
        name = str(self.name).strip()
        if not name:
            raise ValueError("the job needs a name")
        if not isinstance(self.cmd, str) or not self.cmd.strip():
            raise ValueError("the job needs a cmd (a command line)")
        try:
            argv = shlex.split(_FRAME_VARIABLE.sub("{start}", self.cmd))
        except ValueError as exc:
            raise ValueError("cmd: %s" % exc) from None
        operator = shell_operator(self.cmd)
        if operator:
            raise NotSupported(
                "cmd: shell syntax (%r): the command runs without a shell; put pipes, "
                "redirections and command lists in a script and run that" % operator
            )
        for name_, value in (("frame_step", self.frame_step), ("block_size", self.block_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError("%s must be a whole number of 1 or more, not %r" % (name_, value))
        for name_, value in (("frame_start", self.frame_start), ("frame_end", self.frame_end)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("%s must be a number, not %r" % (name_, value))
        if not isinstance(self.envvars, dict):
            raise ValueError("envvars must be a dict, not %r" % (self.envvars,))
        if self.frame_end < self.frame_start:
            raise ValueError(
                "frame_end (%r) is before frame_start (%r)" % (self.frame_end, self.frame_start)
            )
        environ = {str(key): str(value) for key, value in self.envvars.items()}
        environ.update(
            DRQUEUE_STARTFRAME=str(self.frame_start),
            DRQUEUE_ENDFRAME=str(self.frame_end),
            DRQUEUE_STEPFRAME=str(self.frame_step),
            DRQUEUE_BLOCKSIZE=str(self.block_size),
            DRQUEUE_JOBNAME=name,
        )
        spec = {
            "title": name,
            "template": TEMPLATE,
            "command": argv,
            "start": self.frame_start,
            "end": self.frame_end,
            "by": self.frame_step,
            "batch": self.block_size,
            "environ": environ,
            "max_nodes": _node_limit(self.limits.nmaxcpus),
        }  # type: Dict[str, Any]
        per_computer = self.limits.nmaxcpuscomputer
        if isinstance(per_computer, bool) or not isinstance(per_computer, int):
            raise ValueError(
                "limits.nmaxcpuscomputer must be a whole number, not %r" % (per_computer,)
            )
        if per_computer < 1:
            raise NotSupported("limits.nmaxcpuscomputer below 1 (a node runs one task at a time)")
        if self.priority is not None:
            spec["priority"] = self.priority
        if self.owner:
            spec["user"] = str(self.owner)
        if self.limits.memory:
            spec["memory_mb"] = self.limits.memory
        pools = [pool.strip() for pool in str(self.limits.pool or "").split(",") if pool.strip()]
        if pools:
            spec["pools"] = pools
        if self.dependid:
            spec["depends_on"] = [self.dependid]
        return spec

    # -- the master's copy ---------------------------------------------------
    def update(self, who: int) -> int:
        """Read the job's status from the master (not its frames); 1 on success, else 0."""
        check_who(who)
        try:
            self._load(call("GET", "/jobs/%d" % self._queued_id()))
        except DrQueueError as exc:
            return failed("job %s: update" % self.id, exc)
        return 1

    def request_frame_list(self, who: int) -> List[frame_info]:
        """The job's frames, one ``frame_info`` per frame index; raises DrQueueError."""
        check_who(who)
        tasks = call("GET", "/jobs/%d/tasks/" % self._queued_id())
        total = _frame_count(self.frame_start, self.frame_end, self.frame_step)
        frames = [frame_info() for _ in range(total)]
        for task in tasks:
            first = _index(self, task.get("start"))
            last = _index(self, task.get("end"))
            for index in range(max(first, 0), min(last, total - 1) + 1):
                frames[index] = _frame(task)
        return frames

    def job_frame_index_to_number(self, index: int) -> int:
        """The frame number at ``index`` of the job's frame list; IndexError outside it."""
        total = _frame_count(self.frame_start, self.frame_end, self.frame_step)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
            raise IndexError("frame index %r is outside 0..%d" % (index, total - 1))
        return self.frame_start + index * self.frame_step  # type: ignore[no-any-return]

    def job_frame_number_to_index(self, number: int) -> int:
        """The index of frame ``number`` in the job's frame list; IndexError if none."""
        offset = number - self.frame_start
        if offset < 0 or offset % self.frame_step or number > self.frame_end:
            raise IndexError("frame %r is not one of the job's frames" % (number,))
        return offset // self.frame_step  # type: ignore[no-any-return]

    # -- actions -------------------------------------------------------------
    def request_stop(self, who: int) -> int:
        """Stop giving out the job's frames (running ones finish); 1 on success, else 0."""
        return self._action(who, "stop", "pause")

    def request_continue(self, who: int) -> int:
        """Give out the job's frames again after a stop; 1 on success, else 0."""
        return self._action(who, "continue", "resume")

    def request_rerun(self, who: int) -> int:
        """Queue every frame of the job again (running ones are killed); 1 or 0."""
        return self._action(who, "rerun", "reinit")

    def request_hard_stop(self, who: int) -> int:
        """Stop the job and kill its running frames, which go back to waiting; 1 or 0."""
        check_who(who)
        try:
            job_id = self._queued_id()
            call("POST", "/jobs/%d/actions/pause" % job_id)
            for task in call("GET", "/jobs/%d/tasks/" % job_id, state="running"):
                call("POST", "/jobs/%d/tasks/%d" % (job_id, task["id"]), {"state": "queued"})
            self._load(call("GET", "/jobs/%d" % job_id))
        except DrQueueError as exc:
            return failed("job %s: hard stop" % self.id, exc)
        return 1

    def request_delete(self, who: int) -> int:
        """Remove the job from the master, killing its running frames; 1 or 0."""
        check_who(who)
        try:
            call("DELETE", "/jobs/%d" % self._queued_id())
        except DrQueueError as exc:
            return failed("job %s: delete" % self.id, exc)
        return 1

    def _action(self, who: int, what: str, action: str) -> int:
        check_who(who)
        try:
            self._load(call("POST", "/jobs/%d/actions/%s" % (self._queued_id(), action)))
        except DrQueueError as exc:
            return failed("job %s: %s" % (self.id, what), exc)
        return 1

    def _queued_id(self) -> int:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id < 1:
            raise DrQueueError("the job has no id on the master: send_to_queue() it first")
        return self.id

    def _load(self, view: Dict[str, Any]) -> None:
        data = view.get("environ") or {}
        self.id = int(view["id"])
        self.name = view.get("title", "")
        self.owner = view.get("user", "")
        self.status = _JOB_STATUS.get(view.get("state", ""), JOBSTATUS_WAITING)
        self.frame_start = _whole(view.get("start", 1))
        self.frame_end = _whole(view.get("end", 1))
        self.frame_step = _whole(view.get("by", 1))
        self.block_size = int(view.get("batch", 1))
        self.priority = view.get("priority")
        self.envvars = {k: v for k, v in data.items() if not k.startswith("DRQUEUE_")}
        command = view.get("command") or []
        self.cmd = " ".join(shlex.quote(str(part)) for part in command)
        depends = view.get("depends_on") or []
        self.dependid = int(depends[0]["job"]) if depends else 0
        self.limits.nmaxcpus = int(view.get("max_nodes") or 0) or MAXCPUS_UNLIMITED
        self.limits.memory = int(view.get("memory_mb") or 0)
        self.limits.pool = ",".join(view.get("pools") or [])
        self.submit_time = epoch(view.get("time_submitted"))
        self._count(view.get("chunks") or {})

    def _count(self, chunks: Dict[str, int]) -> None:
        total = _frame_count(self.frame_start, self.frame_end, self.frame_step)
        block = self.block_size

        def frames(count: int) -> int:
            return min(count * block, total)

        self.nprocs = int(chunks.get("running", 0))
        self.fdone = frames(chunks.get("done", 0) + chunks.get("skipped", 0))
        self.ffailed = frames(chunks.get("failed", 0))
        self.fleft = max(total - self.fdone - self.ffailed, 0)


def request_job_list(who: int) -> List[job]:
    """Every job on the master, as ``job`` objects; raises DrQueueError on failure."""
    check_who(who)
    found = []
    for view in call("GET", "/jobs/"):
        if view.get("kind", "job") != "job":
            continue  # folders have no DrQueue counterpart
        item = job()
        item._load(view)
        found.append(item)
    return found


def request_job(job_id: int, who: int) -> job:
    """One job of the master by its id; raises DrQueueError (404 status) when unknown."""
    check_who(who)
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise ValueError("a job id is a whole number, not %r" % (job_id,))
    view = call("GET", "/jobs/%d" % job_id)
    if view.get("kind", "job") != "job":
        raise DrQueueError("%d is a folder, not a job" % job_id, 404)
    item = job()
    item._load(view)
    return item


def _by_id(job_id: int, who: int, method: str) -> int:
    try:
        item = request_job(job_id, who)
    except DrQueueError as exc:
        return failed("job %s" % job_id, exc)
    return getattr(item, method)(who)  # type: ignore[no-any-return]


def request_job_stop(job_id: int, who: int) -> int:
    """``job.request_stop`` by job id; 1 or 0."""
    return _by_id(job_id, who, "request_stop")


def request_job_hstop(job_id: int, who: int) -> int:
    """``job.request_hard_stop`` by job id; 1 or 0."""
    return _by_id(job_id, who, "request_hard_stop")


def request_job_continue(job_id: int, who: int) -> int:
    """``job.request_continue`` by job id; 1 or 0."""
    return _by_id(job_id, who, "request_continue")


def request_job_rerun(job_id: int, who: int) -> int:
    """``job.request_rerun`` by job id; 1 or 0."""
    return _by_id(job_id, who, "request_rerun")


def request_job_delete(job_id: int, who: int) -> int:
    """``job.request_delete`` by job id; 1 or 0."""
    return _by_id(job_id, who, "request_delete")


def _node_limit(nmaxcpus: Any) -> int:
    if isinstance(nmaxcpus, bool) or not isinstance(nmaxcpus, int) or nmaxcpus < 0:
        raise ValueError(
            "limits.nmaxcpus must be a whole number of 0 or more, not %r" % (nmaxcpus,)
        )
    return 0 if nmaxcpus >= MAXCPUS_UNLIMITED else nmaxcpus


def _frame_count(start: Any, end: Any, step: Any) -> int:
    if not step or end < start:
        return 0
    return int((end - start) // step) + 1


def _index(item: job, frame: Any) -> int:
    if frame is None:
        return -1
    return int(round((float(frame) - item.frame_start) / item.frame_step))


def _whole(value: Any) -> Any:
    number = float(value)
    return int(number) if number == int(number) else number


def _frame(task: Dict[str, Any]) -> frame_info:
    frame = frame_info()
    frame.status = _FRAME_STATUS.get(task.get("state", ""), FS_WAITING)
    frame.start_time = epoch(task.get("time_started"))
    frame.end_time = epoch(task.get("time_finished")) if frame.status >= FS_ERROR else 0
    exit_code = task.get("exit_code")
    frame.exitcode = int(exit_code) if isinstance(exit_code, int) else 0
    node_id = task.get("node_id")
    frame.icomp = int(node_id) if isinstance(node_id, int) else -1
    frame.itask = int(task.get("id", -1))
    frame.requeued = max(int(task.get("attempts", 0)) - 1, 0)
    return frame
