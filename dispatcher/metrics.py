"""Prometheus metrics of one dispatcher: its own registry, the farm sampled at scrape time.

Nothing here runs on the render path. The farm's counts (jobs, chunks and nodes
by state) are taken when Prometheus asks, through the metrics operation; the
counters are the plain integers the parts keep anyway (assignments, results,
failures, store batches); the latency histograms are `LoopHistogram`s the parts
observe into without a lock. Only the HTTP latency uses prometheus-client's own
histogram: a request is far from the hot path. Each dispatcher has its own
`CollectorRegistry`, so several in one process (the tests) never mix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from dispatcher.histogram import LATENCY_BUCKETS_S, LoopHistogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass
class Sample:
    """What the metrics operation read from the farm for one scrape."""

    jobs: Mapping[str, int]
    chunks: Mapping[str, int]
    nodes: Mapping[str, int]
    # name (without _total) -> (help, value)
    counters: Mapping[str, tuple[str, float]]
    gauges: Mapping[str, tuple[str, float]]
    # name -> (help, histogram); and the labelled ones: name -> (help, label, {value: h})
    histograms: Mapping[str, tuple[str, LoopHistogram]]
    labelled: Mapping[str, tuple[str, str, Mapping[str, LoopHistogram]]] = field(
        default_factory=dict
    )


class Metrics:
    """The registry of one dispatcher. `exposition(sample)` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_latency = Histogram(
            "corral_http_request_duration_seconds",
            "HTTP requests by method, declared route and status (an event stream: its length)",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._sample: Sample | None = None
        self.registry.register(_SampleCollector(self))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request; `route` is its declared path (a bounded set), never the URL."""
        method = method if method in HTTP_METHODS else "other"
        self.http_latency.labels(method, route, str(status)).observe(seconds)

    def exposition(self, sample: Sample) -> bytes:
        """The text exposition of the registry with `sample` as the farm's part."""
        self._sample = sample
        try:
            return generate_latest(self.registry)
        finally:
            self._sample = None


class _SampleCollector:
    """Turns the scrape's `Sample` into metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        sample = self.metrics._sample
        if sample is None:  # a scrape of the registry outside exposition()
            return
        for name, what, values in (
            ("corral_jobs", "Jobs by state", sample.jobs),
            ("corral_chunks", "Chunks by state", sample.chunks),
            ("corral_nodes", "Render nodes by state (offline, idle, busy, paused)", sample.nodes),
        ):
            family = GaugeMetricFamily(name, what, labels=("state",))
            for state, count in sorted(values.items()):
                family.add_metric((state,), count)
            yield family
        for name, (what, value) in sorted(sample.counters.items()):
            yield CounterMetricFamily(name, what, value=value)
        for name, (what, value) in sorted(sample.gauges.items()):
            yield GaugeMetricFamily(name, what, value=value)
        for name, (what, histogram) in sorted(sample.histograms.items()):
            family = HistogramMetricFamily(name, what)
            family.add_metric((), histogram.cumulative(), histogram.sum)
            yield family
        for name, (what, label, histograms) in sorted(sample.labelled.items()):
            family = HistogramMetricFamily(name, what, labels=(label,))
            for value, histogram in sorted(histograms.items()):
                family.add_metric((value,), histogram.cumulative(), histogram.sum)
            yield family
