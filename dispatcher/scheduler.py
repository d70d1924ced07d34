"""Which chunk goes to which idle node, and why a job is not running.

Event-driven: `job_changed` runs when a job may have become (un)dispatchable,
`node_free` when a node has a free slot. Dispatchable jobs sit in one sorted
index per pool (plus one for jobs open to every node), ordered by priority
(higher first) then submit order; a pass walks only the buckets of a node's
pools and stops at the first job with a chunk for it. Nothing scans the queue.
A pass runs in slices of `SLICE_S` that give the loop back between nodes, so
an HTTP request never waits for a whole pass over a big farm.

Template logic (dispatcher/logic.py) pins broadcast chunks to their nodes, keeps
target-host jobs on their hosts and holds an image-slicing job's assembling
chunk until its tiles are done. Licenses and delays (dispatcher/licenses.py)
are counters checked per pick; a chunk end that frees a license kicks a pass,
and a delay arms one timer that kicks a pass when the earliest delay elapses.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import heapq
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from dispatcher import frame_waits, logic, software
from dispatcher.licenses import Licenses, TemplateLimits
from dispatcher.model import CHUNK_QUEUED, Job, JobKind, Node
from dispatcher.protocol import Ref
from dispatcher.queue import Queue

log = logging.getLogger(__name__)

ANY_POOL = ""
MIB = 1024 * 1024

Key = tuple[int, int, int]  # (-priority, seq, job id)
NAMED_NODES = 20  # a `why` names this many nodes, then counts the others
SLICE_S = 0.002
"""How long one dispatch slice may hold the loop before the rest of the free nodes
wait for the next loop turn (an HTTP request waits at most about one slice)."""


@functools.lru_cache(maxsize=64)  # (a few distinct values, asked on every pick)
def platform_name(platform: str) -> str:
    """A node's `sys.platform` as a template platform's name ("" when unknown)."""
    if platform.startswith(("win", "cygwin", "msys")):
        return "windows"
    if platform == "darwin":
        return "mac"
    return "linux" if platform.startswith("linux") else ""


class Slot(Protocol):
    """What the scheduler needs of a connected node session."""

    node: Node

    def free_slots(self) -> int: ...

    def take(self, ref: Ref) -> None: ...


class _Bucket:
    """Job keys of one pool, kept sorted."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[Key] = []

    def add(self, key: Key) -> None:
        bisect.insort(self.keys, key)

    def remove(self, key: Key) -> None:
        index = bisect.bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]


class Scheduler:
    """Matches dispatchable jobs with free node slots."""

    def __init__(
        self,
        queue: Queue,
        send_assigns: Callable[[list[tuple[Slot, Ref]]], None],
        *,
        slice_s: float = SLICE_S,
    ) -> None:
        self.queue = queue
        self.slice_s = slice_s
        self.send_assigns = send_assigns
        self.buckets: dict[str, _Bucket] = {}
        self.indexed: dict[int, tuple[Key, tuple[str, ...]]] = {}
        self.free: dict[int, Slot] = {}
        # A chunk hook point: False lets the chunk run, True holds it, None holds it
        # and every later chunk of the job (nothing more can be decided now).
        self.holds: Callable[[Job, int], bool | None] = lambda job, index: False
        # Wired to the template hooks: True keeps the whole job back (one check, no chunk walk).
        self.holds_job: Callable[[Job], bool] = lambda job: False
        # Wired by the node server: a node's free memory for a new render (bytes,
        # None when unknown) and the nodes connected now.
        self.memory_of: Callable[[int], int | None] = lambda node_id: None
        self.online_nodes: Callable[[], list[Node]] = lambda: []
        # Wired to the template catalog: the platforms ("linux", "windows", "mac") a
        # template is enabled for; empty means every platform.
        self.template_platforms: Callable[[str], frozenset[str]] = lambda key: frozenset()
        self.paused = False  # the engine status (systemSwapEngineStatus)
        self._kicked = False
        self.assigned = 0
        # Licenses and delays; `licenses.templates` is wired to the template catalog.
        self.licenses = Licenses(queue.running_templates)
        self._delay_timer: asyncio.TimerHandle | None = None
        self._delay_due = 0.0
        # (the requirement lists are held, not copied: an edit replaces them)
        self._gates: dict[int, tuple[object, ...]] = {}
        self._held_templates: set[str] = set()
        # The templates with licenses or a delay, as the current slice read them.
        self._limited: Mapping[str, TemplateLimits] = {}
        # Free nodes a sliced pass has not looked at yet (the next slice does first).
        self.unreached: set[int] = set()
        # Free nodes the last slice looked at and left free (nothing more for them now).
        self.looked: list[int] = []
        # Free nodes this pass's slices looked at and left free: a slice that continues
        # the pass passes them over, so a pass over more nodes than a slice sees ends
        # (any kick from a change begins a new pass that looks at them all again).
        self._passed: set[int] = set()

    # -- the index -----------------------------------------------------------
    def job_changed(self, job: Job) -> None:
        """Put the job in or out of the index to match whether it can run now."""
        want = self._dispatchable(job)
        current = self.indexed.get(job.id)
        key: Key = (-job.priority, job.seq, job.id)
        pools = tuple(job.pools) or (ANY_POOL,)
        if current is not None and (not want or current != (key, pools)):
            self._unindex(job.id)
            current = None
        # Fields that decide which nodes may take the job: a change may suit a free node.
        gates = (
            tuple(job.excluded_pools), job.memory_mb, job.max_nodes, job.template, job.cpus,
            job.software_requirements, job.tag_requirements,
        )  # fmt: skip
        regated = want and current is not None and self._gates.get(job.id) != gates
        self._gates[job.id] = gates
        if want and current is None:
            self.indexed[job.id] = (key, pools)
            for pool in pools:
                self.buckets.setdefault(pool, _Bucket()).add(key)
            if self.free:
                self.kick()
        elif regated and self.free:
            self.kick()

    def job_removed(self, job_id: int) -> None:
        self._unindex(job_id)
        self._gates.pop(job_id, None)

    def _unindex(self, job_id: int) -> None:
        entry = self.indexed.pop(job_id, None)
        if entry is None:
            return
        key, pools = entry
        for pool in pools:
            self.buckets[pool].remove(key)

    def _dispatchable(self, job: Job) -> bool:
        if job.kind is JobKind.FOLDER or job.paused or job.cursor >= job.chunk_count:
            return False
        if job.max_nodes and len(self.queue.job_nodes.get(job.id, ())) >= job.max_nodes:
            return False
        if self.queue.blocking_dependencies(job) or self.holds_job(job):
            return False
        # An indexed job keeps its place without a new chunk walk (a change of a job it
        # waits for frame by frame comes on every result there): a pick that finds no
        # chunk for it drops it from the index.
        return job.id in self.indexed or self._next_chunk(job) is not None

    def _next_chunk(self, job: Job, start: int | None = None) -> int | None:
        """The first queued chunk (from `start`) that no per-frame wait or hook holds back."""
        index = job.cursor if start is None else job.chunk_status.find(CHUNK_QUEUED, start)
        checks_frames = job.per_frame and bool(job.depends_on)
        status = job.chunk_status
        jobs = self.queue.jobs
        while 0 <= index < len(status):
            after = index + 1
            if logic.assembly_waits(job, index):
                pass  # (the last chunk: the walk ends)
            elif (
                checks_frames
                and (resume := frame_waits.blocked_until(job, index, jobs)) is not None
            ):
                after = resume  # (the chunks up to it wait for the same frames)
            else:
                held = self.holds(job, index)
                if held is False:
                    return index
                if held is None:
                    return None
            index = status.find(CHUNK_QUEUED, after)
        return None

    # -- free slots ----------------------------------------------------------
    def node_free(self, slot: Slot) -> None:
        """A node has room for more work (connected, resumed, or a chunk ended)."""
        if slot.free_slots() > 0 and not slot.node.paused:
            self.free[slot.node.id] = slot
            if self.indexed:
                self.kick()

    def node_gone(self, node_id: int) -> None:
        self.free.pop(node_id, None)

    def released(self, job: Job) -> None:
        """An attempt of the job ended: a license of its group may be free for a free node
        (a node that frees a slot kicks by itself; a lost node's chunk does not)."""
        if self._kicked:  # (a pass is due already: every result after a tick's first)
            return
        if self.free and self.indexed and self.licenses.limits_for(job.template) is not None:
            self.kick()

    def _arm_delay(self, delay_s: float) -> None:
        """Kick a pass once `delay_s` has passed (one timer, at the earliest delay)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        if self._delay_timer is not None:
            if self._delay_due <= due:
                return
            self._delay_timer.cancel()
        self._delay_due = due
        self._delay_timer = loop.call_at(due + 0.001, self._delay_elapsed)

    def _delay_elapsed(self) -> None:
        self._delay_timer = None
        try:
            self.kick()
        except Exception:  # a pass not kicked now is kicked by the next node or job change
            log.exception("action=delay_timer_failed; the next change kicks the scheduler")

    def close(self) -> None:
        """Cancel the delay timer (safe to call twice)."""
        if self._delay_timer is not None:
            self._delay_timer.cancel()
            self._delay_timer = None

    def kick(self) -> None:
        """Run one dispatch pass at the end of this loop tick (coalesced), looking at
        every free node anew (something changed)."""
        self._passed.clear()
        self._schedule()

    def _schedule(self) -> None:
        if not self._kicked and not self.paused:
            self._kicked = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """One slice of a pass: fill free nodes until every one was looked at or the
        slice's time is up; then the rest waits for the next loop turn (kicked again)."""
        self.queue.settle()  # results of this tick not yet announced: the index first
        self._kicked = False  # (after: a kick from settling is this pass itself)
        self.unreached = set()
        self.looked = []
        if self.paused or not self.queue.store.writable:  # (kicked again when it is)
            return
        assigns: list[tuple[Slot, Ref]] = []
        # Each job is re-indexed once after the slice: _pick checks every pick anew.
        started: dict[int, Job] = {}
        # Templates whose licenses or delay hold them for the rest of the slice (a slice
        # only takes licenses and starts delays; it never frees one).
        self._held_templates.clear()
        limited = self._limited = self.licenses.limited()
        deadline = time.perf_counter() + self.slice_s
        looked: list[int] = self.looked  # nodes this slice left free (nothing for them now)
        passed = self._passed
        waiting = (
            [node_id for node_id in self.free if node_id not in passed]
            if passed
            else list(self.free)
        )
        for visited, node_id in enumerate(waiting):
            if not self.indexed:
                break
            if visited and time.perf_counter() >= deadline:
                self._schedule()  # (the nodes not looked at yet come first next time)
                self.unreached = set(waiting[visited:])
                passed.update(looked)
                break
            slot = self.free[node_id]
            node = slot.node
            # (only a take changes the room in a slice, and nothing in it pauses a node)
            room = 0 if node.paused else slot.free_slots()
            while room > 0:
                found = self._pick(node)
                if found is None:
                    break
                job, index = found
                ref = self.queue.start_attempt(job, index, node_id)
                if job.template in limited:
                    self.licenses.started(job.template)
                slot.take(ref)
                assigns.append((slot, ref))
                started[job.id] = job
                if job.max_nodes and len(self.queue.job_nodes[job.id]) >= job.max_nodes:
                    self._unindex(job.id)  # (full: the next nodes of the slice skip it)
                room = slot.free_slots()
            if room <= 0:
                del self.free[node_id]
            else:
                looked.append(node_id)
        if not self.unreached:
            passed.clear()  # the pass is over: every free node was looked at
        if self._kicked:
            for node_id in looked:  # behind the nodes this slice did not reach
                self.free[node_id] = self.free.pop(node_id)
        for job in started.values():
            self.job_changed(job)
        if assigns:
            self.assigned += len(assigns)
            self.send_assigns(assigns)

    def _candidates(self, node: Node) -> Iterator[Key]:
        """Keys of the buckets this node may draw from, best first (live lists: no copies)."""
        if not node.pools:  # (the usual node: the bucket of jobs open to every node)
            bucket = self.buckets.get(ANY_POOL)
            return iter(bucket.keys if bucket is not None else ())
        lists = [
            self.buckets[pool].keys for pool in (ANY_POOL, *node.pools) if pool in self.buckets
        ]
        if len(lists) == 1:
            return iter(lists[0])
        return heapq.merge(*lists)

    def _pick(self, node: Node) -> tuple[Job, int] | None:
        seen: set[int] = set()
        drop: list[int] = []
        found: tuple[Job, int] | None = None
        for key in self._candidates(node):
            job_id = key[2]
            if job_id in seen:
                continue
            seen.add(job_id)
            job = self.queue.jobs[job_id]
            if job.template in self._held_templates or self._refusal(job, node) is not None:
                continue
            index = self._next_chunk(job)
            if index is None:
                drop.append(job_id)
                continue
            if job.logic == logic.BROADCAST:
                index = self._pinned(job, node)
            else:
                index = self._retry_fit(job, index, node)
            if index is None:
                continue
            wait = self.licenses.wait(job.template) if job.template in self._limited else None
            if wait is not None:
                self._held_templates.add(job.template)
                if wait.retry_s > 0:
                    self._arm_delay(wait.retry_s)
                continue
            found = (job, index)
            break
        for job_id in drop:  # after the walk: the buckets must not change under it
            self._unindex(job_id)
        return found

    def _pinned(self, job: Job, node: Node) -> int | None:
        """Broadcast: the node's own chunk when it is queued and nothing holds it."""
        index = logic.pinned_chunk(job, node)
        if index is None or job.chunk_status[index] != CHUNK_QUEUED:
            return None
        if job.per_frame and job.depends_on and not self.queue.chunk_dependencies_met(job, index):
            return None
        return index if self.holds(job, index) is False else None

    def _retry_fit(self, job: Job, index: int, node: Node) -> int | None:
        """The first chunk from `index` this node should take, minding what failures taught:
        a chunk that failed here waits for another node that can run it, and a chunk
        killed for memory waits for a node with more free memory than it had."""
        failed_on, needed = self.queue.failed_on, self.queue.memory_needed
        if not failed_on and not needed:
            return index
        found: int | None = index
        while found is not None:
            key = (job.id, found)
            if key not in failed_on and key not in needed:
                return found
            if self._memory_fits(node, needed.get(key, 0)) and not (
                node.id in failed_on.get(key, ()) and self._other_node_for(job, key, node)
            ):
                return found
            found = self._next_chunk(job, found + 1)
        return None

    def _memory_fits(self, node: Node, needed_bytes: int) -> bool:
        available = self.memory_of(node.id) if needed_bytes else None
        return available is None or available >= needed_bytes

    def _other_node_for(self, job: Job, key: tuple[int, int], node: Node) -> bool:
        """Whether a connected node other than `node`, that has not failed this chunk,
        may run it."""
        tried = self.queue.failed_on.get(key, set())
        needed = self.queue.memory_needed.get(key, 0)
        return any(
            other.id != node.id
            and other.id not in tried
            and self._refusal(job, other) is None
            and self._memory_fits(other, needed)
            for other in self.online_nodes()
        )

    def _refusal(self, job: Job, node: Node) -> str | None:
        """Why this node may not run this job, or None."""
        if node.paused:
            return "the node is paused"
        if job.hosts and (reason := logic.host_refusal(job, node)) is not None:
            return reason
        if job.id in node.excluded_jobs:
            return "the node is excluded from this job after repeated failures"
        if job.template in node.excluded_templates:
            return f"the node excludes template {job.template}"
        if job.memory_mb and not self._memory_fits(node, job.memory_mb * MIB):
            free = (self.memory_of(node.id) or 0) // MIB
            return f"the job needs {job.memory_mb} MB of free memory; the node has {free} MB"
        if node.templates and job.template not in node.templates:
            return f"the node does not have template {job.template}"
        platforms = self.template_platforms(job.template)
        if platforms and (platform := platform_name(node.platform)) not in (*platforms, ""):
            return f"template {job.template} is not enabled for {platform} nodes"
        if job.pools and not set(job.pools) & set(node.pools):
            return f"the node is not in pools {', '.join(job.pools)}"
        if job.excluded_pools and set(job.excluded_pools) & set(node.pools):
            return "the node is in an excluded pool"
        if job.max_nodes:
            running_on = self.queue.job_nodes.get(job.id, ())
            if node.id not in running_on and len(running_on) >= job.max_nodes:
                return f"the job already runs on its maximum of {job.max_nodes} nodes"
        if job.software_requirements or job.tag_requirements or job.cpus > 1:
            return software.refusal(job, node)
        return None

    # -- explaining ----------------------------------------------------------
    def _node_reasons(self, job: Job, online: list[Node]) -> list[str]:
        """What the connected nodes say when none of the free ones may take the job."""
        refusals = [(node.label, self._refusal(job, node)) for node in online]
        eligible = sorted(name for name, refusal in refusals if refusal is None)
        if eligible:
            busy = ", ".join(eligible[:NAMED_NODES])
            if len(eligible) > NAMED_NODES:
                busy += f" and {len(eligible) - NAMED_NODES} more"
            return [f"every eligible node is busy ({busy}); it waits its turn by priority"]
        refusals.sort()
        reasons = [f"node {name}: {refusal}" for name, refusal in refusals[:NAMED_NODES]]
        if len(refusals) > NAMED_NODES:
            reasons.append(f"and {len(refusals) - NAMED_NODES} more nodes refuse it")
        return reasons

    def why(self, job: Job, nodes: list[Node], connected: set[int]) -> list[str]:
        """Plain sentences saying why `job` has no (more) chunks running."""
        state = job.state.value
        if job.kind is JobKind.FOLDER:
            return ["it is a folder; folders hold jobs and never run"]
        if job.finished and job.chunk_count:
            return [
                f"it has ended: {state}" + (f" ({job.failed_reason})" if job.failed_reason else "")
            ]
        reasons: list[str] = []
        if self.paused:
            reasons.append("the dispatcher's engine is paused")
        if job.paused:
            reasons.append("the job is paused")
        reasons += self.queue.blocking_dependencies(job)
        if self.holds_job(job):
            reasons.append(
                "a template hook holds it back (submission hooks or onValidateJobDependancies)"
            )
        if job.cursor >= job.chunk_count:
            reasons.append("every remaining chunk is already running")
        elif self._next_chunk(job) is None:
            if logic.assembly_waits(job, job.cursor):
                tiles = job.chunk_count - 1
                reasons.append(
                    f"its assembling chunk waits for its {tiles} tiles ({job.done} done)"
                )
            else:
                reasons.append("its queued chunks wait for frames of the jobs they depend on")
        wait = self.licenses.wait(job.template)
        if wait is not None and not job.finished:
            reasons.append(wait.reason)
        if job.max_nodes and len(self.queue.job_nodes.get(job.id, ())) >= job.max_nodes:
            reasons.append(f"it already runs on its maximum of {job.max_nodes} nodes")
        starved = [(key[1], needed) for key, needed in self.queue.memory_needed.items()
                   if key[0] == job.id]  # fmt: skip
        for index, needed in sorted(starved):
            if job.chunk_status[index] == CHUNK_QUEUED:
                reasons.append(
                    f"chunk {index} was killed for lack of memory; it waits for a node with "
                    f"more than {needed // MIB} MB free"
                )
        online = [node for node in nodes if node.id in connected]
        if job.logic == logic.BROADCAST:
            labels = {node.label for node in online}
            away = [
                f"chunk {index} is for node {host}, which is not connected"
                for index, host in enumerate(job.hosts)
                if job.chunk_status[index] == CHUNK_QUEUED and host not in labels
            ]
            reasons += away[:8]
        if not online:
            reasons.append("no render node is connected")
        elif not any(
            slot.node.id in connected and self._refusal(job, slot.node) is None
            for slot in self.free.values()
        ):  # (a free node that may take it: nothing to say about nodes, no walk of them all)
            reasons += self._node_reasons(job, online)
        if not reasons:
            reasons.append("nothing holds it back; it will be dispatched on the next free slot")
        return reasons
