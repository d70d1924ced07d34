"""A histogram for code that runs on the dispatcher's loop: no lock, no allocation.

prometheus-client's own histogram takes a lock on every observation; on the
render path (tens of thousands of observations a second, all on one thread) an
observation here is one bisection and two additions. The metrics endpoint
reads these at scrape time (dispatcher/metrics.py), on the same loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Seconds: from a tenth of a millisecond (a batch commit on a fast disk) to 10 s.
LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class LoopHistogram:
    """Counts observations into buckets by upper bound (`le`, as Prometheus does)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it) for every bucket, `+Inf` last."""
        rows = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            rows.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return rows
