"""The metrics operation: the farm sampled for a Prometheus scrape.

Counts by state are taken now, from the queue and the node server; counters and
latency histograms are the ones the parts keep (dispatcher/metrics.py). Without
a token the scrape is refused unless `metrics_public` is set.
"""

from __future__ import annotations

from collections import Counter

from dispatcher.errors import AuthenticationFailed
from dispatcher.metrics import Sample
from dispatcher.model import CHUNK_STATUS, Status
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area


class MetricsOperations(Area):
    def scrape(self, actor: Actor | None) -> bytes:
        """The Prometheus text exposition; `actor` None: the request had no valid token."""
        farm = self.farm
        if actor is None and not farm.settings.metrics_public:
            raise AuthenticationFailed(
                "a valid 'Authorization: Bearer TOKEN' header is required for /metrics "
                "(or start the dispatcher with --metrics-public)"
            )
        return farm.metrics.exposition(self._sample())

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request's latency under its declared route."""
        self.farm.metrics.observe_request(method, route, status, seconds)

    def _sample(self) -> Sample:
        farm = self.farm
        queue = farm.queue
        server = farm.node_server
        jobs: Counter[str] = Counter({status.value: 0 for status in Status if status != "skipped"})
        chunks = [0] * len(CHUNK_STATUS)
        for job in queue.jobs.values():
            jobs[job.state.value] += 1
            for code, count in enumerate(job.counts):
                chunks[code] += count
        busy = {running.node_id for running in queue.running.values()}
        connected = server.connected()
        nodes = Counter({"offline": 0, "idle": 0, "busy": 0, "paused": 0})
        for node in queue.nodes.values():
            if node.id not in connected or not node.online:
                nodes["offline"] += 1
            elif node.paused:
                nodes["paused"] += 1
            else:
                nodes["busy" if node.id in busy else "idle"] += 1
        lag = farm.loop_lag
        return Sample(
            jobs=jobs,
            chunks={CHUNK_STATUS[code].value: count for code, count in enumerate(chunks)},
            nodes=nodes,
            counters={
                "corral_chunks_dispatched": (
                    "Chunk attempts assigned to nodes",
                    server.scheduler.assigned,
                ),
                "corral_chunks_failed": (
                    "Chunk attempts that failed (kills not counted)",
                    queue.failed_attempts,
                ),
                "corral_chunk_results": ("Chunk results received from nodes", server.results),
                "corral_store_batches": ("Store transactions committed", farm.store.batches),
                "corral_store_refused_batches": (
                    "Store transactions refused",
                    farm.store.refused_batches,
                ),
                "corral_loop_stalls": ("Event-loop lags past loop_stall_s", lag.stalls),
                "corral_hook_faults": ("Hook calls that failed", farm.hook_host.faults),
                "corral_events_published": ("Events published on the bus", farm.bus.published),
                "corral_event_streams_dropped": (
                    "Event streams dropped for a slow client",
                    farm.streams.dropped,
                ),
                "corral_event_frames_encoded": (
                    "Events encoded for the event streams (once each, however many streams)",
                    farm.streams.frames_encoded,
                ),
                "corral_event_progress_coalesced": (
                    "Progress events a newer one of the same job replaced before being sent",
                    farm.streams.coalesced,
                ),
            },  # fmt: skip
            gauges={
                "corral_event_streams": ("Open event streams", len(farm.streams.open)),
                "corral_loop_lag_max_seconds": (
                    "Largest event-loop lag since start",
                    lag.max_lag_s,
                ),
            },  # fmt: skip
            histograms={
                "corral_dispatch_latency_seconds": (
                    "From a chunk result received to the node's next assignment sent",
                    server.dispatch_latency,
                ),
                "corral_store_commit_seconds": (
                    "From a batch handed to the store's writer to its commit",
                    farm.store.commit_latency,
                ),
                "corral_loop_lag_seconds": ("Event-loop lag, sampled every 50 ms", lag.histogram),
            },
            labelled={
                "corral_hook_call_seconds": (
                    "Hook calls in the hook host, by hook method",
                    "hook",
                    dict(farm.hook_host.call_latency),
                ),
            },
        )
