"""Template logic: how a job's frames become chunks, and which nodes may run each.

Four logics, named as in Muster's template engine (`MTemplateAPI.kTemplate*`):

- multiframe: chunks of `batch` frames, any eligible node (the default);
- broadcast: one chunk per node, each pinned to its node; every chunk has the
  job's whole frame range (a cache cleanup, a software install). The nodes are
  fixed at submit: the job's `hosts` when given, else every registered node
  the job's pools, excluded pools and template allow. A node registered later
  gets no chunk (submit the job again to reach it);
- target host: chunks of frames as multiframe, run only on the nodes `hosts`
  names (a node's label `name#instance`, or a host name for all its instances);
- image slicing: `slices` tile chunks of one frame, then one assembling chunk
  (the last) that runs only once every tile is done. The render client gives
  the tile's index and count to the template (MChunk.getSliceIndex, ...) and
  fills `{slice}` / `{slices}` in command lines; the assembling chunk's index
  equals the count.

Pure functions: the queue calls `settle` at submit, the scheduler the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from dispatcher.errors import ValidationError
from dispatcher.model import Job, Node

MULTIFRAME = "multiframe"
IMAGE_SLICING = "image_slicing"
BROADCAST = "broadcast"
TARGET_HOST = "target_host"
LOGICS = (MULTIFRAME, IMAGE_SLICING, BROADCAST, TARGET_HOST)
# MTemplateAPI's kTemplateMultiframe .. kTemplateTargetHost (and Muster's packetType).
BY_CONSTANT = {1: MULTIFRAME, 2: IMAGE_SLICING, 3: BROADCAST, 4: TARGET_HOST}
MAX_SLICES = 10_000
# Logics whose chunks all render the job's whole frame range (no frame chunking).
WHOLE_RANGE = (IMAGE_SLICING, BROADCAST)


class Spec(Protocol):
    """What `settle` needs of a job spec (dispatcher.jobspec.JobSpec)."""

    logic: str | None
    hosts: list[str]
    slices: int
    start: Any
    end: Any
    pools: list[str]
    excluded_pools: list[str]
    template: str
    data: dict[str, Any]


def from_template(value: object) -> str:
    """The logic name of a template's `getTemplateLogic()` value (multiframe when unknown)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return BY_CONSTANT.get(value, MULTIFRAME)
    return value if isinstance(value, str) and value in LOGICS else MULTIFRAME


def muster_packet_type(data: Mapping[str, Any]) -> str | None:
    """The logic a Muster REST submission's `packetType` (kept in data.muster) names."""
    extras = data.get("muster")
    value = extras.get("packetType") if isinstance(extras, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return BY_CONSTANT.get(value)
    return None


def names_node(hosts: Iterable[str], node: Node) -> bool:
    """Whether `hosts` names this node: its label, its name (every instance) or its host."""
    wanted = set(hosts)
    return node.label in wanted or node.name in wanted or (bool(node.host) and node.host in wanted)


def may_run_template(job_pools: list[str], excluded: list[str], template: str, node: Node) -> bool:
    """Whether a node may ever run a job of these pools and template (paused or not)."""
    if job_pools and not set(job_pools) & set(node.pools):
        return False
    if excluded and set(excluded) & set(node.pools):
        return False
    if template in node.excluded_templates:
        return False
    return not node.templates or template in node.templates


def settle(spec: Spec, nodes: Iterable[Node]) -> None:
    """Check a spec's logic fields and fill what follows from them (broadcast's nodes).

    Called at submit once the template's default logic is known; raises
    ValidationError naming the field.
    """
    logic = spec.logic or MULTIFRAME
    if logic not in LOGICS:
        raise ValidationError(f"logic: one of {', '.join(LOGICS)}, not {logic!r}", field="logic")
    spec.logic = logic
    if logic != IMAGE_SLICING and spec.slices:
        raise ValidationError("slices: only an image_slicing job has slices", field="slices")
    if logic == MULTIFRAME and spec.hosts:
        raise ValidationError(
            "hosts: a multiframe job runs on any eligible node; use logic target_host",
            field="hosts",
        )
    if logic == TARGET_HOST and not spec.hosts:
        raise ValidationError("hosts: a target_host job names at least one node", field="hosts")
    if logic == IMAGE_SLICING:
        if spec.slices < 1:
            raise ValidationError("slices: an image_slicing job needs 1 or more", field="slices")
        if spec.start != spec.end:
            raise ValidationError(
                "frames: an image_slicing job renders one frame (start equals end)",
                field="frames",
            )
    if logic == BROADCAST:
        if spec.hosts:
            spec.hosts = list(dict.fromkeys(spec.hosts))
            return
        targets = sorted(
            node.label
            for node in nodes
            if may_run_template(spec.pools, spec.excluded_pools, spec.template, node)
        )
        if not targets:
            raise ValidationError(
                "hosts: no registered node may run this broadcast job (its pools, excluded "
                "pools and template rule them all out)",
                field="hosts",
            )
        spec.hosts = targets


def chunk_count(logic: str | None, frames: int, batch: int, hosts: int, slices: int) -> int:
    """How many chunks a job of this logic has."""
    if logic == BROADCAST:
        return max(1, hosts)  # (settle fills the hosts before the job is built)
    if logic == IMAGE_SLICING:
        return slices + 1
    return -(-frames // batch)


def pinned_chunk(job: Job, node: Node) -> int | None:
    """Broadcast: the index of the chunk pinned to `node`, or None when it has none."""
    try:
        return job.hosts.index(node.label)
    except ValueError:
        return None


def host_refusal(job: Job, node: Node) -> str | None:
    """Why the job's logic keeps it off this node, or None."""
    if job.logic == BROADCAST:
        if pinned_chunk(job, node) is None:
            return "the node is not one of the nodes this broadcast job was sent to"
    elif job.logic == TARGET_HOST and not names_node(job.hosts, node):
        return f"the job runs only on its target hosts ({', '.join(job.hosts[:8])})"
    return None


def assembly_waits(job: Job, index: int) -> bool:
    """Image slicing: True while chunk `index` is the assembling chunk and a tile is not done."""
    last = job.chunk_count - 1
    return job.logic == IMAGE_SLICING and index == last and job.done < last
